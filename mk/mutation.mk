# Mutation testing of the core modules (benchmarks/mutation.py); slow, so not in `make test`.
# Results: benchmarks/results/mutation.{json,md}. MUTATION_ARGS picks modules, e.g.
#   make mutation MUTATION_ARGS="sdfleet/messages.py worker/intake.py"
MUTATION_ARGS ?=
MUTATION_BASE ?= origin/main

.PHONY: mutation mutation-quick

mutation: $(STAMP)
	$(VENV_PY) -m benchmarks.mutation $(MUTATION_ARGS)

# Only the core modules changed against MUTATION_BASE (for CI on a pull request).
mutation-quick: $(STAMP)
	$(VENV_PY) -m benchmarks.mutation --quick --base $(MUTATION_BASE)
