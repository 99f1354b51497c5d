# sdfleet: `make up` runs the whole fleet locally; `make test` runs every test.
# Component targets live in mk/*.mk and add themselves to TEST_TARGETS.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV_PY := $(VENV)/bin/python
VENV_BIN := $(VENV)/bin
# The CPU build of torch; a GPU host overrides it (e.g. TORCH_SPEC="torch==2.13.0").
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= lambda,worker,cli,dev
# Byte-compiling every installed module (torch alone: ~30 s here) is left to first import,
# which compiles only what is used.
PIP_FLAGS ?= --no-compile
UV_SPEC ?= uv>=0.5
STAMP := $(VENV)/.installed-$(shell echo "$(EXTRAS)" | tr ',' '-')
PYTEST_ARGS ?=
# `make pytest` spreads the test files over this many processes (pytest-xdist; one per core,
# at most 4: each runs its own emulator). 0 runs them in this process, one after another.
# Files are handed out in collection order (--no-loadscope-reorder; xdist would start with the
# files of most tests): the few long ones (tests/browser, tests/e2e) first, the many short unit
# tests last, so no process is left with a long file while the others are done.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))

TEST_TARGETS :=
BENCH_TARGETS :=
LINT_PATHS := sdfleet sdfleet_cli ingest_lambda worker autoscaler notifier_lambda benchmarks tests

.PHONY: help venv lint test pytest bench test-deep prereqs prereqs-up prereqs-test

help:
	@echo "make up            run the whole fleet locally (emulator, terraform, API, scaler, workers, web app)"
	@echo "make test          lint, Lambda zips, tf-check, web app build, then every pytest test (unit,"
	@echo "                   emulator, terraform, end to end; browser tests need Chromium: skipped without, failed under CI=true)"
	@echo "make lint          ruff (check, format --check) + mypy + import rules (.importlinter)"
	@echo "make tf-check      terraform fmt, validate, examples, module docs, checkov, offline prod plan"
	@echo "make test-browser  the browser tests alone (Debian's Chromium)"
	@echo "make bench         the benchmarks in BENCH_TARGETS (tables printed, JSON in benchmarks/results/):"
	@echo "                   $(BENCH_TARGETS)"
	@echo "make mutation      mutation testing of the core modules (slow; not in make bench)"
	@echo "make constraints   record the venv's versions in constraints.txt (after make test passes on newer ones)"
	@echo "make test-deep     every property test with 10,000 examples (slow; not in make test)"
	@echo "make prereqs       check Python 3.11, Terraform, Node.js/npm and Chromium (how to install each)"

# What `make up` and `make test` need, each missing one named with how to install it
# (mk/check_prereqs.sh; versions from terraform/versions.tf and frontend/package.json).
CHECK_PREREQS := PYTHON="$(PYTHON)" mk/check_prereqs.sh
prereqs:
	@$(CHECK_PREREQS) --require "python terraform node" --optional "chromium"
prereqs-up:
	@$(CHECK_PREREQS) --require "python terraform" --optional "node"
# Locally the web app and browser tests skip without node and chromium; with CI=true they fail.
prereqs-test:
	@$(CHECK_PREREQS) --require "python terraform" --optional "node chromium"

# torch comes through pip, which honours the machine's pip configuration (where a local
# wheel of the CPU build lies); everything else through uv, which resolves, downloads and
# unpacks in parallel (~14 s here against pip's ~55 s for the same packages).
# constraints.txt holds every other version at what the suite last passed with.
CONSTRAINTS := constraints.txt
$(STAMP): setup.cfg pyproject.toml $(CONSTRAINTS)
	@test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install -q $(PIP_FLAGS) -c $(CONSTRAINTS) "$(TORCH_SPEC)" "$(UV_SPEC)"
	$(VENV_BIN)/uv pip install -q --python $(VENV_PY) -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	@touch $@

venv: $(STAMP)

# After `make test` passes on newer releases (e.g. `uv pip install -U` of one package):
# records the venv's versions as the ones every install uses.
.PHONY: constraints
constraints: $(STAMP)
	@{ sed -n '/^#/p' $(CONSTRAINTS); \
	  $(VENV_BIN)/uv pip freeze --python $(VENV_PY) --exclude-editable | grep -v '^torch=='; \
	} > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

lint: $(STAMP)
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/ruff format --check .
	$(VENV_BIN)/mypy $(wildcard $(LINT_PATHS))
	$(VENV_BIN)/lint-imports --no-cache

include $(wildcard mk/*.mk)

pytest: $(STAMP)
	$(VENV_BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

test: prereqs-test lint $(TEST_TARGETS) pytest

# Every hypothesis test with the deep profile (tests/support/hypothesis_profiles.py): 10,000
# examples each (fewer for the emulator-backed ones). Finds rare counterexamples; ~25 min here.
PROPERTY_TESTS := $(shell grep -rl --include='*.py' '@given' tests 2>/dev/null)
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(VENV_BIN)/python -m pytest $(PROPERTY_TESTS) -q --durations=20 $(PYTEST_ARGS)

bench: $(BENCH_TARGETS)
