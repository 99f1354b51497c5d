# Scaler: policy property tests, simulator vs Erlang C, benchmark quick mode (unit tests),
# the Lambda handler against the emulator (integration), and the full benchmark.
.PHONY: test-autoscaler bench-scaler simulate

AUTOSCALER_TESTS := tests/unit/autoscaler tests/integration/autoscaler

test-autoscaler: $(STAMP)
	$(VENV_BIN)/python -m pytest $(AUTOSCALER_TESTS) -q $(PYTEST_ARGS)

# Every built-in trace x every policy, seeds 1-10, the held-out shapes, prod.tfvars and the warm
# pool (~13 min on two processes: elapsed_seconds in the JSON): prints a table per
# trace, writes benchmarks/results/scaler.json and scaler.md.
bench-scaler: $(STAMP)
	$(VENV_BIN)/python -m benchmarks.scaler.run

# Preview a tfvars change: make simulate TFVARS=terraform/environments/prod.tfvars TRACE=bursty
TFVARS ?=
TRACE ?=
simulate: $(STAMP)
	$(VENV_BIN)/python -m autoscaler.cli simulate $(if $(TFVARS),--tfvars $(TFVARS)) \
		$(if $(TRACE),--trace $(TRACE))

BENCH_TARGETS += bench-scaler
