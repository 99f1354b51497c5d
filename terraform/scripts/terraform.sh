#!/usr/bin/env bash
# Runs terraform in terraform/ (or in SDFLEET_TF_DIR, relative to the repository root) with
# providers from the offline mirror named by SDFLEET_TF_PROVIDER_MIRROR (a directory holding
# registry.terraform.io/...). Without the variable, terraform uses its normal installation
# (the public registry). An invalid SDFLEET_TF_PROVIDER_MIRROR is an error, never skipped.
# Generated files live under build/terraform/ (ignored): the CLI config and the data dir.
#   terraform/scripts/terraform.sh init
#   terraform/scripts/terraform.sh plan -var-file=environments/prod.tfvars
#   SDFLEET_TF_DIR=terraform/examples/scaler SDFLEET_TF_WORK_DIR=build/terraform/examples/scaler \
#     terraform/scripts/terraform.sh validate
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${SDFLEET_TF_WORK_DIR:-$root/build/terraform}
mkdir -p "$work"
work=$(cd "$work" && pwd)  # absolute: terraform reads TF_DATA_DIR after -chdir
if [ -n "${SDFLEET_TF_PROVIDER_MIRROR:-}" ]; then
  if [ ! -d "$SDFLEET_TF_PROVIDER_MIRROR/registry.terraform.io" ]; then
    echo "SDFLEET_TF_PROVIDER_MIRROR=$SDFLEET_TF_PROVIDER_MIRROR has no registry.terraform.io/ inside" >&2
    exit 2
  fi
  mirror=$(cd "$SDFLEET_TF_PROVIDER_MIRROR" && pwd)
  cat > "$work/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path = "$mirror"
  }
}
RC
  export TF_CLI_CONFIG_FILE="$work/terraformrc"
fi
export TF_DATA_DIR=${TF_DATA_DIR:-$work/data}
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
config_dir=$(cd "$root" && cd "${SDFLEET_TF_DIR:-terraform}" && pwd)
exec terraform -chdir="$config_dir" "$@"
