# The GPU worker's reproducible install: a lock with hashes, a wheelhouse built from it and
# uploaded to S3, from which instances (and the AMI bake) install with --require-hashes
# --no-index. Pairing: torch 2.10.0 is the last PyPI build on CUDA 12 (12.8: driver >= 570);
# 2.11 and later are CUDA 13 (driver >= 580) and xformers 0.0.35's ops link CUDA 12.
# See docs/worker-install.md.
.PHONY: worker-lock worker-wheelhouse worker-wheelhouse-upload

WORKER_LOCK := worker/requirements-gpu.lock
WORKER_TORCH_PIN ?= torch==2.10.0
WORKER_PYTHON_VERSION ?= 3.11
WORKER_PLATFORM ?= x86_64-manylinux_2_28
WHEELHOUSE_DIR ?= build/wheelhouse
# s3://<bucket>/wheelhouse/<first 12 hex of the lock's sha256>/: a new lock, a new prefix.
WHEELHOUSE_BUCKET ?=
WHEELHOUSE_PREFIX = wheelhouse/$(shell sha256sum $(WORKER_LOCK) | cut -c1-12)/

# Resolves for the workers' platform (not this machine's) and reads every file's hash from
# the index, downloading no wheels. Binary wheels only: no build runs on an instance.
worker-lock: $(STAMP)
	printf '%s\n' "$(WORKER_TORCH_PIN)" > build/worker-lock-constraints.txt
	$(VENV_BIN)/uv pip compile setup.cfg --extra worker --extra gpu --generate-hashes \
		--python-platform $(WORKER_PLATFORM) --python-version $(WORKER_PYTHON_VERSION) \
		--only-binary :all: --index-url https://pypi.org/simple --no-header \
		--constraint build/worker-lock-constraints.txt -o $(WORKER_LOCK).tmp
	{ echo "# GPU worker lock (make worker-lock): $(WORKER_TORCH_PIN) for $(WORKER_PLATFORM),"; \
	  echo "# Python $(WORKER_PYTHON_VERSION); CUDA 12.8 wheels, NVIDIA driver >= 570 (docs/worker-install.md)."; \
	  cat $(WORKER_LOCK).tmp; } > $(WORKER_LOCK)
	rm -f $(WORKER_LOCK).tmp

# Every locked wheel for the worker platform (~4 GB, mostly CUDA libraries; pip checks each
# hash), the sdfleet wheel, and requirements.txt = the lock + the sdfleet wheel's hash.
worker-wheelhouse: $(STAMP)
	rm -rf $(WHEELHOUSE_DIR) && mkdir -p $(WHEELHOUSE_DIR)
	$(VENV_PY) -m pip download --no-deps --require-hashes --only-binary=:all: \
		--platform manylinux_2_28_x86_64 --python-version $(WORKER_PYTHON_VERSION) \
		--implementation cp --index-url https://pypi.org/simple \
		-r $(WORKER_LOCK) -d $(WHEELHOUSE_DIR)
	$(VENV_PY) -m pip wheel --no-deps --no-build-isolation -q -w $(WHEELHOUSE_DIR) .
	$(VENV_PY) mk/wheelhouse.py $(WORKER_LOCK) $(WHEELHOUSE_DIR)

worker-wheelhouse-upload: worker-wheelhouse
	@test -n "$(WHEELHOUSE_BUCKET)" || { echo "set WHEELHOUSE_BUCKET=<bucket>"; exit 2; }
	aws s3 sync --only-show-errors --sse aws:kms $(WHEELHOUSE_DIR) s3://$(WHEELHOUSE_BUCKET)/$(WHEELHOUSE_PREFIX)
	@echo "worker_wheelhouse_uri = \"s3://$(WHEELHOUSE_BUCKET)/$(WHEELHOUSE_PREFIX)\""

# The GPU benchmark on a lent device machine (no network there; at most 64 MiB carried): the
# locked wheels minus torch, its CUDA libraries and its own dependencies, triton, xformers (the
# machine's CUDA torch is used) and the AWS SDK (the benchmark imports none of it),
# for GPU_PYTHON_VERSION. Carry build/gpu-bench-wheels; docs/worker-generation.md has the command.
GPU_PYTHON_VERSION ?= 3.11
GPU_BENCH_WHEELS := build/gpu-bench-wheels
.PHONY: gpu-bench-wheels
gpu-bench-wheels: $(STAMP)
	rm -rf $(GPU_BENCH_WHEELS) && mkdir -p $(GPU_BENCH_WHEELS)
	awk '/^(torch|triton|xformers|nvidia-|cuda-|sympy|networkx|mpmath|jinja2|markupsafe|filelock|fsspec|boto3|botocore|s3transfer|jmespath|aws-lambda-powertools)/ {skip=1} skip {if ($$0 !~ /\\$$/) skip=0; next} {print}' \
		$(WORKER_LOCK) > $(GPU_BENCH_WHEELS)/requirements.txt
	$(VENV_PY) -m pip download -q --no-deps --only-binary=:all: \
		--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
		--python-version $(GPU_PYTHON_VERSION) --implementation cp \
		--index-url https://pypi.org/simple --require-hashes -r $(GPU_BENCH_WHEELS)/requirements.txt -d $(GPU_BENCH_WHEELS)
	@du -sh $(GPU_BENCH_WHEELS)
