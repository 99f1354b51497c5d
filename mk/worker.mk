# Worker generation: tiny model, diffusers pipelines, input images, GPU benchmark (b).
.PHONY: test-worker-generation bench-worker-gpu bench-worker-gpu-smoke tiny-model

WORKER_GENERATION_TESTS := tests/unit/worker

test-worker-generation: $(STAMP)
	$(VENV_BIN)/python -m pytest $(WORKER_GENERATION_TESTS) -q $(PYTEST_ARGS)

# Benchmark (b) on a CUDA machine: SD 1.5 architecture, 512x512, 30 steps, the full matrix.
# A GPU host installs the CUDA torch build and xformers first:
#   make venv TORCH_SPEC="torch==2.13.0" EXTRAS=worker,gpu,cli,dev
bench-worker-gpu: $(STAMP)
	$(VENV_BIN)/python benchmarks/worker_gpu.py $(BENCH_ARGS)

# The same script on the CPU with the tiny model (seconds); tests/unit/worker runs it too.
bench-worker-gpu-smoke: $(STAMP)
	$(VENV_BIN)/python benchmarks/worker_gpu.py --smoke

# Build the tiny random-weight model into TINY_MODEL_DIR (default .sdfleet/models/tiny).
TINY_MODEL_DIR ?= .sdfleet/models/tiny
tiny-model: $(STAMP)
	$(VENV_BIN)/python -m worker.tiny_model $(TINY_MODEL_DIR)

BENCH_TARGETS += bench-worker-gpu-smoke

# LoRA training steps/s with the tiny model on CPU (benchmarks/results/train_steps.json).
.PHONY: bench-train-steps
bench-train-steps: $(STAMP)
	$(VENV_BIN)/python benchmarks/train_steps.py $(BENCH_ARGS)
BENCH_TARGETS += bench-train-steps

# Adapter (LoRA) swap on a warm worker, tiny model on CPU: switch and uncached load at 1..8
# cached adapters next to one generation (benchmarks/results/adapter_swap.json).
.PHONY: bench-adapter-swap
bench-adapter-swap: $(STAMP)
	$(VENV_BIN)/python benchmarks/adapter_swap.py $(BENCH_ARGS)
BENCH_TARGETS += bench-adapter-swap
