"""The ingest Lambda must stay small: no torch, diffusers or transformers, ever."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import ingest_lambda

FORBIDDEN = ("torch", "diffusers", "transformers", "xformers", "PIL", "numpy")


def test_no_gpu_stack_is_imported() -> None:
    modules = sorted(
        f"ingest_lambda.{info.name}" for info in pkgutil.iter_modules(ingest_lambda.__path__)
    )
    assert "ingest_lambda.handler" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "from ingest_lambda.app import build_app\n"
        "from sdfleet.aws import AwsClients\n"
        "from sdfleet.settings import IngestSettings\n"
        "build_app(IngestSettings(ssm_path=None), AwsClients(endpoint_url='http://127.0.0.1:9'))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    loaded = json.loads(output.splitlines()[-1])
    leaked = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert leaked == []


def test_importing_the_handler_reads_no_settings() -> None:
    """Import must work with no configuration at all (the app is built on first use)."""
    script = "import sys, ingest_lambda.handler as h; assert h._default_app is None; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.strip() == "ok", result.stderr
