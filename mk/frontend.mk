# The web app (frontend/): `npm ci` from the committed lockfile, then the build (API types
# checked against ingest_lambda/openapi.json, tsc, vite, gzipped size against the budget).
# `make up` and `make test` build it when it is missing or older than its sources.
.PHONY: frontend frontend-types browser-deps test-browser

FRONTEND_DEPS := frontend/node_modules/.sdfleet-installed
FRONTEND_BUILD := frontend/dist/index.html
FRONTEND_SRC := $(shell find frontend/src frontend/scripts -type f 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts frontend/tsconfig.json frontend/package.json \
	ingest_lambda/openapi.json
CHROMIUM ?= /usr/bin/chromium

$(FRONTEND_DEPS): frontend/package-lock.json frontend/package.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

$(FRONTEND_BUILD): $(FRONTEND_DEPS) $(FRONTEND_SRC)
	cd frontend && npm run build

# Without npm the stack still runs (no web app) and the browser tests skip; CI requires it.
frontend:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(FRONTEND_BUILD); \
	elif [ "$${CI:-}" = "true" ]; then echo "CI=true and npm is missing: install Node.js >= 20.19" >&2; exit 1; \
	else echo "npm not found: the web app is not built (install Node.js >= 20.19)"; fi

# After `make openapi`: regenerate the request types the web app is typed with.
frontend-types: $(FRONTEND_DEPS)
	cd frontend && npm run gen:api

# Debian's Chromium for the browser tests (never a downloaded browser); root installs it.
browser-deps:
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi
	@test -x "$(CHROMIUM)" || echo "Chromium not found at $(CHROMIUM): browser tests skip (CI fails)"

# The browser tests alone (also part of `make pytest`).
test-browser: $(STAMP) lambda-zips frontend browser-deps
	$(VENV_BIN)/python -m pytest tests/browser -q $(PYTEST_ARGS)

TEST_TARGETS += frontend browser-deps

# Clean npm ci + build time, gzipped JavaScript, browser-test wall time:
# table + benchmarks/results/frontend.json.
.PHONY: bench-frontend
bench-frontend: $(STAMP) lambda-zips browser-deps
	$(VENV_BIN)/python benchmarks/frontend.py --clean

BENCH_TARGETS += bench-frontend
