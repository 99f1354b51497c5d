# The local stack: `make up` = the venv + `sdfleet up` (emulator, Terraform, API, scaler,
# workers). UP_ARGS passes options through, e.g. `make up UP_ARGS="--max-workers 3"`.
UP_ARGS ?=

.PHONY: up
up: prereqs-up $(STAMP) frontend
	$(VENV_BIN)/sdfleet up $(UP_ARGS)

# Time `make up` to "ready" twice (first and warm); table + benchmarks/results/local_up.json.
.PHONY: bench-local-up
bench-local-up: $(STAMP)
	$(VENV_BIN)/python benchmarks/local_up.py --runs 2

BENCH_TARGETS += bench-local-up
