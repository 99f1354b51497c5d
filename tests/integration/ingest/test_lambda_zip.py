"""The deployment zip `make lambda-zips` builds runs the handler on its own: only the zip plus
what the Lambda python3.11 runtime provides (boto3, botocore and their dependencies)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import botocore
import dateutil
import pytest
import s3transfer
import six
import urllib3

from sdfleet import env
from tests.conftest import FleetResources
from tests.fixtures.apigw.events import load
from tests.support.tools import missing

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[3]
INGEST_ZIP = ROOT / "build" / "lambda" / "ingest.zip"
AUTOSCALER_ZIP = ROOT / "build" / "lambda" / "autoscaler.zip"
NOTIFIER_ZIP = ROOT / "build" / "lambda" / "notifier.zip"
FORBIDDEN = ("torch/", "diffusers/", "transformers/", "xformers/", "boto3/", "botocore/")
#: Our top-level packages; each zip carries the contract and its own package, nothing else.
FIRST_PARTY = ("sdfleet", "sdfleet_cli", "ingest_lambda", "worker", "autoscaler", "notifier_lambda")
#: Developer tooling and the GPU stack, as top-level names in a zip (files or dist-info).
DEVELOPER_ONLY = ("sdfleet_cli", "moto", "jwt", "pyjwt", "torch", "diffusers", "transformers")
ZIP_PACKAGES = {
    INGEST_ZIP: {"sdfleet", "ingest_lambda"},
    AUTOSCALER_ZIP: {"sdfleet", "autoscaler"},
    NOTIFIER_ZIP: {"sdfleet", "notifier_lambda"},
}

# Runs inside the unpacked zip with no site-packages: prints the response and module origins.
_PROBE = """
import json, sys
event = json.loads(sys.stdin.read())
from ingest_lambda.handler import lambda_handler
class Context:
    function_name = "sdfleet-ingest"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sdfleet-ingest"
    aws_request_id = "zip-test"
    def get_remaining_time_in_millis(self):
        return 30000
response = lambda_handler(event, Context())
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
print(json.dumps({"response": response, "files": files}))
"""


def _runtime_dir(tmp_path: Path) -> Path:
    """What the Lambda runtime puts on sys.path besides the function's code."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for module in (boto3, botocore, s3transfer, dateutil, urllib3):
        source = Path(module.__file__).parent  # type: ignore[arg-type]
        (runtime / source.name).symlink_to(source)
    (runtime / "six.py").symlink_to(Path(six.__file__))
    return runtime


def _require(path: Path) -> None:
    if not path.exists():
        missing(str(path.relative_to(ROOT)), "run `make lambda-zips`")


def test_zip_holds_no_gpu_stack_and_no_boto3() -> None:
    for path in (INGEST_ZIP, AUTOSCALER_ZIP):
        _require(path)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert names == sorted(names)
            assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert not [n for n in names if n.startswith(FORBIDDEN)]
        pycs = [n for n in names if n.endswith(".pyc")]
        assert pycs
        assert all(n.endswith(".cpython-311.pyc") for n in pycs)
        with zipfile.ZipFile(path) as archive:
            header = archive.read("sdfleet/__pycache__/store.cpython-311.pyc")[:8]
        # PEP 552 flags: hash-based (bit 0) and unchecked (bit 1 clear), so the fixed zip
        # timestamps cannot invalidate them.
        assert int.from_bytes(header[4:8], "little") == 0b01
        assert any(n.startswith("pydantic_core/") for n in names)
        assert "sdfleet/schemas/job-message-v1.schema.json" in names
    with zipfile.ZipFile(INGEST_ZIP) as archive:
        assert "ingest_lambda/handler.py" in archive.namelist()


def _top_name(name: str) -> str:
    """``moto/core.py``, ``PyJWT-2.8.0.dist-info/RECORD``, ``six.py`` -> moto, pyjwt, six."""
    return re.split(r"[-./]", name, maxsplit=1)[0].lower()


def _contract_sources() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "sdfleet").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_each_zip_carries_the_contract_and_its_own_package_only() -> None:
    for path, packages in ZIP_PACKAGES.items():
        _require(path)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        tops = {_top_name(name) for name in names}
        assert tops & set(FIRST_PARTY) == packages, path.name
        assert sorted(tops & set(DEVELOPER_ONLY)) == [], path.name
        # No local stack or CLI left inside the contract either (the layout before the move).
        local_stack = [n for n in names if n.startswith(("sdfleet/local/", "sdfleet/cli."))]
        assert local_stack == [], path.name
        assert not [n for n in names if "/local/" in n and n.startswith(FIRST_PARTY)]
        # The whole contract is there: the same files as the repository's sdfleet/
        shipped = {n for n in names if n.startswith("sdfleet/") and "__pycache__" not in n}
        assert shipped == _contract_sources(), path.name


def test_zip_serves_a_request_with_only_the_runtime_beside_it(
    tmp_path: Path, fleet: FleetResources, idempotency_table: str
) -> None:
    _require(INGEST_ZIP)
    code = tmp_path / "task"
    with zipfile.ZipFile(INGEST_ZIP) as archive:
        archive.extractall(code)
    runtime = _runtime_dir(tmp_path)
    environment = fleet.env() | {
        env.IDEMPOTENCY_TABLE: idempotency_table,
        "PYTHONPATH": f"{code}:{runtime}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", _PROBE],
        input=json.dumps(load("create_job")),
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,  # not the repository, whose packages would shadow the zip's
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout.splitlines()[-1])
    assert output["response"]["statusCode"] == 202, output["response"]
    stdlib = Path(sys.base_prefix).resolve()
    outside = [
        f
        for f in output["files"]
        if f
        and not Path(f).resolve().is_relative_to(stdlib)
        and not Path(f).is_relative_to(code)
        and not Path(f).is_relative_to(runtime)
    ]
    assert outside == []
    owner = load("create_job")["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    [record] = fleet.job_store().list_by_owner(owner)[0]
    assert record.status.value == "queued"
