# Reliability figures against the local stack (benchmarks/reliability.py): chaos, faults,
# poison, load, isolation, deletion. Not in `make test`; its --smoke mode runs in the test
# suite (tests/e2e/test_reliability_smoke.py). Results: benchmarks/results/reliability.{json,md}.
RELIABILITY_ARGS ?=

.PHONY: reliability reliability-smoke

reliability: $(STAMP)
	$(VENV_PY) benchmarks/reliability.py $(RELIABILITY_ARGS)

reliability-smoke: $(STAMP)
	$(VENV_PY) benchmarks/reliability.py --smoke $(RELIABILITY_ARGS)
