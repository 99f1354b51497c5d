"""Terraform fixtures: the root configuration run with providers from the offline mirror.

``applied_stack`` applies ``environments/local.tfvars`` once per module against the session's
emulator and destroys it afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import require_terraform_with_mirror

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "terraform"
WRAPPER = TERRAFORM_DIR / "scripts" / "terraform.sh"
LOCAL_TFVARS = TERRAFORM_DIR / "environments" / "local.tfvars"
APPLY_TIMEOUT_SECONDS = 600
LAMBDA_ZIPS = {
    "ingest": REPO / "build/lambda/ingest.zip",
    "scaler": REPO / "build/lambda/autoscaler.zip",
    "notifier": REPO / "build/lambda/notifier.zip",
}


@dataclass
class Terraform:
    """The wrapper script with its generated files in a private directory."""

    work_dir: Path

    def run(self, *args: str, timeout: float = APPLY_TIMEOUT_SECONDS) -> str:
        result = self.attempt(*args, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(
                f"terraform {args[0]} failed ({result.returncode}):\n{result.stderr[-4000:]}"
                f"\n{result.stdout[-2000:]}",
                pytrace=False,
            )
        return result.stdout

    def attempt(
        self, *args: str, timeout: float = APPLY_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        """Runs terraform and returns the result whatever its exit status."""
        return subprocess.run(
            [str(WRAPPER), *args],
            env={
                **os.environ,
                "SDFLEET_TF_WORK_DIR": str(self.work_dir),
                "TF_DATA_DIR": str(self.work_dir / "data"),
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true",
            },
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def init(self) -> None:
        self.run("init", "-backend=false", "-input=false", "-lockfile=readonly", "-no-color")


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    require_terraform_with_mirror()
    runner = Terraform(tmp_path_factory.mktemp("terraform"))
    runner.init()
    return runner


def _lambda_zips(tmp: Path) -> dict[str, Path]:
    """The real zips from `make lambda-zips` when the target exists, else a throwaway zip."""
    has_target = any(
        re.search(r"^lambda-zips:", mk.read_text(), re.MULTILINE)
        for mk in (REPO / "mk").glob("*.mk")
    )
    if has_target:
        built = subprocess.run(
            ["make", "-s", "lambda-zips"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if built.returncode != 0:
            pytest.fail(f"make lambda-zips failed:\n{built.stderr[-3000:]}", pytrace=False)
        return LAMBDA_ZIPS
    stub = tmp / "stub.zip"
    with zipfile.ZipFile(stub, "w") as archive:
        archive.writestr("stub.py", "def lambda_handler(event, context):\n    return None\n")
    return {"ingest": stub, "scaler": stub, "notifier": stub}


@dataclass(frozen=True)
class AppliedStack:
    outputs: dict[str, Any]
    endpoint: str


@pytest.fixture(scope="module")
def applied_stack(
    terraform: Terraform, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppliedStack]:
    tmp = tmp_path_factory.mktemp("stack")
    zips = _lambda_zips(tmp)
    state = tmp / "terraform.tfstate"
    common = [
        "-input=false",
        "-no-color",
        f"-state={state}",
        f"-var-file={LOCAL_TFVARS.relative_to(TERRAFORM_DIR)}",
        f"-var=aws_endpoint_url={moto_endpoint}",
        f"-var=ingest_zip_path={zips['ingest']}",
        f"-var=scaler_zip_path={zips['scaler']}",
        f"-var=notifier_zip_path={zips['notifier']}",
    ]
    terraform.run("apply", "-auto-approve", "-parallelism=20", *common)
    raw = json.loads(terraform.run("output", "-json", "-no-color", f"-state={state}"))
    try:
        yield AppliedStack({name: item["value"] for name, item in raw.items()}, moto_endpoint)
    finally:
        # Nothing changed since the apply: skipping the refresh halves the destroy time.
        terraform.run("destroy", "-auto-approve", "-refresh=false", "-parallelism=20", *common)
