"""The one place that decides "skip locally, fail under CI" for a test's outside needs.

Every optional tool (Terraform, its AWS provider mirror, Chromium, an importable module) is
looked up here: on CI (``CI=true``) a missing one fails the test, locally it skips with a
message saying what to install. Nothing else in tests/ may skip for a missing tool
(``tests/unit/test_no_silent_skips.py`` checks)."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Final, NoReturn

import pytest

TERRAFORM_HINT: Final = (
    "install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install)"
)
CHROMIUM_HINT: Final = "install Debian's chromium (apt-get install chromium)"
CHROMIUM_NAMES: Final = ("chromium", "chromium-browser", "google-chrome")
#: Optional: the browser binary to use instead of the first of CHROMIUM_NAMES on PATH.
CHROMIUM_ENV: Final = "SDFLEET_CHROMIUM"


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str, install_hint: str) -> NoReturn:
    message = f"{what} is not available: {install_hint}"
    if on_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_executable(name: str, install_hint: str, env_var: str | None = None) -> str:
    """The path of ``name`` (or of ``$env_var`` when set), or skip/fail."""
    candidate = os.environ.get(env_var, "") if env_var else ""
    path = candidate if candidate and os.path.exists(candidate) else shutil.which(name)
    if not path:
        missing(name, install_hint)
    return path


def require_terraform() -> str:
    return require_executable("terraform", TERRAFORM_HINT)


def require_provider_mirror() -> Path:
    """The offline mirror of the hashicorp/aws provider, found the way ``sdfleet up`` and
    ``.ci/run`` find it: ``$SDFLEET_TF_PROVIDER_MIRROR``, else a search of this machine."""
    from sdfleet_cli.local.errors import TerraformError
    from sdfleet_cli.local.terraform import find_provider_mirror

    try:
        mirror = find_provider_mirror()
    except TerraformError as exc:
        missing("the Terraform AWS provider mirror", f"{exc} (see docs/terraform.md)")
    if mirror is None:
        # The tests run offline: without a mirror, init would need the public registry.
        missing(
            "the Terraform AWS provider mirror",
            "set SDFLEET_TF_PROVIDER_MIRROR to a directory made with `terraform providers "
            "mirror DIR` (see docs/terraform.md)",
        )
    return mirror


def require_terraform_with_mirror() -> tuple[str, Path]:
    """Terraform and its provider mirror, the mirror also exported to this process's
    environment (as ``SDFLEET_TF_PROVIDER_MIRROR``) for the wrapper script and subprocesses."""
    from sdfleet import env

    terraform = require_terraform()
    mirror = require_provider_mirror()
    os.environ[env.TF_PROVIDER_MIRROR] = str(mirror)
    return terraform, mirror


def require_chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = os.environ.get(CHROMIUM_ENV) or shutil.which(name)
        if path and os.path.exists(path):
            return path
    missing("Chromium", CHROMIUM_HINT)


def require_module(name: str, install_hint: str) -> ModuleType:
    """``importlib.import_module(name)``, or skip/fail (the CI-aware ``importorskip``)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"the Python module {name!r} ({exc})", install_hint)


def require_host_without_cuda() -> None:
    """For tests of the missing-CUDA path: a host with a GPU cannot show it."""
    import torch

    if torch.cuda.is_available():
        missing("a host without CUDA", "run the missing-CUDA tests on a CPU-only machine")
