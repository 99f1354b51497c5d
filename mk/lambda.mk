# Lambda deployment zips (python3.11, x86_64) that Terraform deploys:
#   build/lambda/ingest.zip      sdfleet + ingest_lambda + runtime deps
#   build/lambda/autoscaler.zip  sdfleet + autoscaler + runtime deps
#   build/lambda/notifier.zip    sdfleet + notifier_lambda + runtime deps
# The contract (sdfleet) and the function's own package only: never sdfleet_cli (the CLI and
# the local stack), moto, jwt or the GPU stack (mk/lambda_zip.py refuses them; a test lists
# each zip's files).
# boto3/botocore come from the Lambda runtime and are not bundled. Wheels come from PyPI
# (pip's cache makes rebuilds fast); versions are the venv's, so the zip runs what was tested.
.PHONY: lambda-zips test-ingest openapi bench-ingest

LAMBDA_DIR := build/lambda
LAMBDA_ZIP := $(VENV_BIN)/python mk/lambda_zip.py --out-dir $(LAMBDA_DIR)
LAMBDA_COMMON_SRC := $(shell find sdfleet -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null) \
	setup.cfg mk/lambda_zip.py
INGEST_SRC := $(shell find ingest_lambda -type f -not -path '*/__pycache__/*' 2>/dev/null)
AUTOSCALER_SRC := $(shell find autoscaler -type f -not -path '*/__pycache__/*' 2>/dev/null)
NOTIFIER_SRC := $(shell find notifier_lambda -type f -not -path '*/__pycache__/*' 2>/dev/null)

lambda-zips: $(LAMBDA_DIR)/ingest.zip $(LAMBDA_DIR)/autoscaler.zip $(LAMBDA_DIR)/notifier.zip

$(LAMBDA_DIR)/ingest.zip: $(STAMP) $(LAMBDA_COMMON_SRC) $(INGEST_SRC)
	$(LAMBDA_ZIP) --name ingest --package sdfleet --package ingest_lambda

$(LAMBDA_DIR)/autoscaler.zip: $(STAMP) $(LAMBDA_COMMON_SRC) $(AUTOSCALER_SRC)
	$(LAMBDA_ZIP) --name autoscaler --package sdfleet --package autoscaler

$(LAMBDA_DIR)/notifier.zip: $(STAMP) $(LAMBDA_COMMON_SRC) $(NOTIFIER_SRC)
	$(LAMBDA_ZIP) --name notifier --package sdfleet --package notifier_lambda

# The ingest API's own tests (also part of `make pytest`); the zip test needs the zips.
test-ingest: $(STAMP) lambda-zips
	$(VENV_BIN)/python -m pytest tests/unit/ingest tests/integration/ingest -q $(PYTEST_ARGS)

# Regenerate the committed OpenAPI document (a test fails when it is stale).
openapi: $(STAMP)
	$(VENV_BIN)/python -m ingest_lambda.openapi

bench-ingest: $(STAMP) lambda-zips
	$(VENV_BIN)/python benchmarks/ingest_bench.py

TEST_TARGETS += lambda-zips
BENCH_TARGETS += bench-ingest

# Transition -> webhook delivered (median/p95, emulator) and the notifier's cold import:
# table + benchmarks/results/notifier.json.
.PHONY: bench-notifier
bench-notifier: $(STAMP)
	$(VENV_BIN)/python benchmarks/notifier_bench.py

BENCH_TARGETS += bench-notifier
