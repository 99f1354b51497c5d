"""The web app fits the Amplify module: amplify.yml's appRoot is the module's app_root, the
config it writes uses the branch's variables, the artifacts are the Vite build, and the
app's routes are covered by the module's SPA rewrite."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
FRONTEND = ROOT / "frontend"
MODULE = ROOT / "terraform" / "modules" / "frontend"


def _amplify_app() -> dict[str, object]:
    spec = yaml.safe_load((FRONTEND / "amplify.yml").read_text())
    assert spec["version"] == 1
    (application,) = spec["applications"]
    return application


def test_app_root_is_the_module_default() -> None:
    variables = (MODULE / "variables.tf").read_text()
    default = re.search(r'variable "app_root" \{.*?default\s*=\s*"([^"]+)"', variables, re.S)
    assert default, "app_root has a default"
    assert _amplify_app()["appRoot"] == default.group(1) == FRONTEND.name


def test_build_writes_config_from_the_branch_variables() -> None:
    branch = (MODULE / "main.tf").read_text().split('resource "aws_amplify_branch"')[1]
    branch_vars = set(re.findall(r"^\s+(SDFLEET_[A-Z_]+)\s*=", branch, re.M))
    script_vars = set(
        re.findall(r'"(SDFLEET_[A-Z_]+)"', (FRONTEND / "scripts" / "write-config.mjs").read_text())
    )
    assert (
        branch_vars
        == script_vars
        == {
            "SDFLEET_API_URL",
            "SDFLEET_USER_POOL_ID",
            "SDFLEET_USER_POOL_CLIENT",
            "SDFLEET_REGION",
        }
    )
    frontend = _amplify_app()["frontend"]
    assert isinstance(frontend, dict)
    commands = frontend["phases"]["build"]["commands"]
    assert commands == ["npm run build", "npm run config"]
    assert frontend["phases"]["preBuild"]["commands"][0].startswith("npm ci")
    assert frontend["artifacts"]["baseDirectory"] == "dist"
    package = (FRONTEND / "package.json").read_text()
    assert '"config": "node scripts/write-config.mjs dist/config.json"' in package


def test_app_routes_are_rewritten_to_index_html() -> None:
    main = (MODULE / "main.tf").read_text()
    rule = re.search(r"custom_rule \{(.*?)\}", main, re.S)
    assert rule
    assert '"404-200"' in rule.group(1) and '"/index.html"' in rule.group(1)
    app = (FRONTEND / "src" / "App.tsx").read_text()
    routes = set(re.findall(r'navigate\("(/[a-z]*)"', app))
    assert routes == {"/", "/models", "/history"}, "every route must be one the rewrite serves"
