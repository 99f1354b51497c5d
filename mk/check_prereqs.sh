#!/usr/bin/env bash
# Checks the tools `make up` / `make test` need and says how to install each one missing.
#   mk/check_prereqs.sh --require "python terraform" --optional "node chromium"
# A missing required tool fails; a missing optional one prints a warning (with CI=true every
# listed tool is required). Versions come from the files that pin them: terraform/versions.tf
# (required_version) and frontend/package.json (engines.node).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
required="" optional=""
while [ $# -gt 0 ]; do
  case "$1" in
    --require) required="$2"; shift 2 ;;
    --optional) optional="$2"; shift 2 ;;
    *) echo "usage: $0 --require 'TOOLS' --optional 'TOOLS'" >&2; exit 2 ;;
  esac
done
if [ "${CI:-}" = "true" ]; then required="$required $optional"; optional=""; fi

# version_ge A B: A >= B, dotted numbers.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

tf_min=$(sed -n 's/^[[:space:]]*required_version[[:space:]]*=[[:space:]]*">=[[:space:]]*\([0-9.]*\)".*/\1/p' "$root/terraform/versions.tf")
node_min=$(sed -n 's/^[[:space:]]*"node":[[:space:]]*">=\([0-9.]*\)".*/\1/p' "$root/frontend/package.json")
python_bin=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}

# check TOOL: prints nothing when TOOL is fine, else why and how to install it.
check() {
  case "$1" in
    python)
      if [ -z "$python_bin" ]; then
        echo "Python 3.11 not found: install it (https://www.python.org/downloads/, apt-get install python3.11, brew install python@3.11, or pyenv install 3.11)"
      elif ! "$python_bin" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
        echo "$python_bin is Python $("$python_bin" -c 'import platform; print(platform.python_version())'), not 3.11 (the Lambda runtime): install Python 3.11 (apt-get install python3.11, brew install python@3.11, or pyenv install 3.11), or run make PYTHON=/path/to/python3.11"
      fi ;;
    terraform)
      if ! command -v terraform >/dev/null; then
        echo "terraform not found: install Terraform >= $tf_min (https://developer.hashicorp.com/terraform/install; brew install hashicorp/tap/terraform; apt: HashiCorp's apt repository)"
      else
        v=$(terraform version 2>/dev/null | sed -n '1s/^Terraform v\([0-9.]*\).*/\1/p')
        if [ -z "$v" ] || ! version_ge "$v" "$tf_min"; then
          echo "terraform ${v:-?} is older than $tf_min (terraform/versions.tf): install Terraform >= $tf_min (https://developer.hashicorp.com/terraform/install)"
        fi
      fi ;;
    node)
      if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "node/npm not found (the web app): install Node.js >= $node_min with npm (https://nodejs.org/en/download; apt-get install nodejs npm; brew install node)"
      else
        v=$(node --version | sed 's/^v//')
        if ! version_ge "$v" "$node_min"; then
          echo "node $v is older than $node_min (frontend/package.json engines): install Node.js >= $node_min (https://nodejs.org/en/download)"
        fi
      fi ;;
    chromium)
      found=""
      if [ -n "${SDFLEET_CHROMIUM:-}" ] && [ -x "$SDFLEET_CHROMIUM" ]; then found=1; fi
      for name in chromium chromium-browser google-chrome; do
        command -v "$name" >/dev/null && found=1
      done
      [ -n "$found" ] || echo "chromium not found (the browser tests): apt-get install chromium (Debian), brew install --cask chromium, or set SDFLEET_CHROMIUM to a Chromium/Chrome binary"
      ;;
    *) echo "unknown tool $1" ;;
  esac
}

status=0
for tool in $required; do
  problem=$(check "$tool")
  if [ -n "$problem" ]; then echo "missing: $problem" >&2; status=1; fi
done
for tool in $optional; do
  problem=$(check "$tool")
  [ -z "$problem" ] || echo "warning: $problem" >&2
done
exit $status
