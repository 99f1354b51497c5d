"""Skip-or-fail for tests that need an outside tool: on CI (CI=true) a missing tool fails."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str, install_hint: str) -> NoReturn:
    message = f"{what} is not available: {install_hint}"
    if on_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def require_executable(name: str, install_hint: str, env_var: str | None = None) -> str:
    """The path of ``name`` (or of ``$env_var`` when set), or skip/fail."""
    candidate = os.environ.get(env_var, "") if env_var else ""
    path = candidate if candidate and os.path.exists(candidate) else shutil.which(name)
    if not path:
        missing(name, install_hint)
    return path
