# Worker daemon: queue handling, lifecycle, acceptance tests against the emulator, overhead bench.
.PHONY: test-worker-daemon bench-worker-overhead worker-run

WORKER_DAEMON_TESTS := tests/unit/worker_daemon tests/integration/worker

test-worker-daemon: $(STAMP)
	$(VENV_BIN)/python -m pytest $(WORKER_DAEMON_TESTS) -q $(PYTEST_ARGS)

bench-worker-overhead: $(STAMP)
	$(VENV_BIN)/python benchmarks/worker_overhead.py

# Run one worker in the foreground against whatever SDFLEET_* settings are exported.
worker-run: $(STAMP)
	$(VENV_BIN)/python -m worker

BENCH_TARGETS += bench-worker-overhead
