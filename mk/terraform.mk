# Terraform: fmt, offline init (provider mirror from $SDFLEET_TF_PROVIDER_MIRROR), validate,
# checkov, and a plan of prod.tfvars with fake credentials and no network.
.PHONY: tf-check tf-fmt tf-init tf-validate tf-validate-examples tf-docs tf-docs-check \
	tf-checkov tf-plan-prod test-terraform

TF := terraform/scripts/terraform.sh
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# The plan must never reach AWS: fake keys, no metadata service, provider start-up checks off.
TF_FAKE_AWS := AWS_ACCESS_KEY_ID=AKIAFAKEFAKEFAKEFAKE AWS_SECRET_ACCESS_KEY=fake AWS_SESSION_TOKEN= \
	AWS_PROFILE= AWS_EC2_METADATA_DISABLED=true

# checkov pins an old `packaging`: it gets a venv of its own, never .venv. Pinned: a new
# release brings new checks, which must not fail a build that changed nothing.
CHECKOV_VERSION := 3.3.30
$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)

tf-fmt:
	$(TF) fmt -check -recursive -diff

tf-init:
	$(TF) init -backend=false -input=false -lockfile=readonly -no-color >/dev/null

tf-validate: tf-init
	$(TF) validate -no-color

# Each terraform/examples/<name>/main.tf: its own init (offline, lock file read-only) and
# validate, with its data directory under build/terraform/examples/<name>.
TF_EXAMPLES := $(patsubst %/main.tf,%,$(wildcard terraform/examples/*/main.tf))

tf-validate-examples:
	@for example in $(TF_EXAMPLES); do \
		echo "validate $$example"; \
		export SDFLEET_TF_DIR=$$example SDFLEET_TF_WORK_DIR=build/terraform/$$example; \
		$(TF) init -backend=false -input=false -lockfile=readonly -no-color >/dev/null; \
		$(TF) validate -no-color; \
	done

# The Inputs/Outputs tables of terraform/modules/*/README.md, generated from the .tf files.
tf-docs: $(STAMP)
	$(VENV_BIN)/python terraform/scripts/tf_docs.py

tf-docs-check: $(STAMP)
	$(VENV_BIN)/python terraform/scripts/tf_docs.py --check

tf-checkov: $(CHECKOV)
	$(CHECKOV) --quiet --compact --framework terraform -d terraform --download-external-modules false --skip-download

tf-plan-prod: tf-init
	$(TF_FAKE_AWS) $(TF) plan -input=false -no-color -lock=false -refresh=false \
		-var-file=environments/prod.tfvars -var offline_plan=true \
		-var frontend_access_token=plan-only-fake-token -out=$(CURDIR)/build/terraform/prod.tfplan \
		>build/terraform/prod-plan.txt
	@grep -E '^(Plan|No changes)' build/terraform/prod-plan.txt

tf-check: tf-fmt tf-validate tf-validate-examples tf-docs-check tf-checkov tf-plan-prod

# The emulator apply and the tfvars -> scaler settings tests (also part of `make pytest`).
test-terraform: $(STAMP) lambda-zips
	$(VENV_BIN)/python -m pytest tests/terraform -q $(PYTEST_ARGS)

TEST_TARGETS += tf-check

# The rendered worker user data is linted by tests/terraform/test_user_data.py.
.PHONY: shellcheck-tool
shellcheck-tool:
	@command -v shellcheck >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; } || \
		echo "shellcheck missing: apt-get install shellcheck (test_user_data.py skips without it)"

test-terraform: shellcheck-tool
pytest: shellcheck-tool
