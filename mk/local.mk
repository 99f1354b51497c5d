# The local stack: `make up` = the venv + `sdfleet up` (emulator, Terraform, API, scaler,
# workers). UP_ARGS passes options through, e.g. `make up UP_ARGS="--max-workers 3"`.
UP_ARGS ?=

.PHONY: up
up: $(STAMP)
	$(VENV_BIN)/sdfleet up $(UP_ARGS)
