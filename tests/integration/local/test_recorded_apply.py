"""The local stack's recorded apply: a failed apply runs once more on an emptied emulator.

CI once saw a fresh apply fail with "Table already exists" on an empty emulator (a request the
provider sent again after the emulator, answering one request at a time while recording, had
done it). Here the table is made to exist before the first apply, with real Terraform and the
real emulator server, and a one-table configuration keeps it quick.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sdfleet.aws import AwsClients
from sdfleet_cli.local import snapshot
from sdfleet_cli.local.emulator import Emulator
from sdfleet_cli.local.errors import TerraformError
from sdfleet_cli.local.recorded_apply import apply_recorded
from sdfleet_cli.local.terraform import ENDPOINT_VARIABLE, LOCAL_TFVARS, LocalTerraform
from tests.conftest import free_port
from tests.support.tools import require_terraform_with_mirror

pytestmark = [pytest.mark.emulator, pytest.mark.terraform]

TABLE = "recorded-apply"
CONFIG = f"""
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}

variable "{ENDPOINT_VARIABLE}" {{
  type = string
}}

provider "aws" {{
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    dynamodb = var.{ENDPOINT_VARIABLE}
  }}
}}

resource "aws_dynamodb_table" "one" {{
  name         = "{TABLE}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"
  attribute {{
    name = "id"
    type = "S"
  }}
}}
"""


@dataclass(frozen=True)
class Leftover:
    """A recording emulator that already holds the table, and Terraform to create it."""

    emulator: Emulator
    recording: Path
    terraform: LocalTerraform
    clients: AwsClients


@pytest.fixture()
def leftover(tmp_path: Path) -> Iterator[Leftover]:
    _, mirror = require_terraform_with_mirror()
    source = tmp_path / "config"
    (source / LOCAL_TFVARS).parent.mkdir(parents=True)
    (source / "main.tf").write_text(CONFIG)
    (source / LOCAL_TFVARS).write_text("")
    terraform = LocalTerraform(source, tmp_path / "work", mirror)
    terraform.init()
    recording = tmp_path / "recording.jsonl"
    emulator = Emulator(free_port(), tmp_path / "emulator.log", recording_path=recording)
    emulator.start()
    try:
        clients = AwsClients(emulator.endpoint_url, "us-east-1")
        # What a repeated CreateTable leaves behind.
        clients.dynamodb().create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        )
        yield Leftover(emulator, recording, terraform, clients)
    finally:
        emulator.stop()


def recorded_creates(recording: Path) -> int:
    lines = [json.loads(line) for line in recording.read_text().splitlines() if line.strip()]
    return sum(1 for line in lines if "CreateTable" in json.dumps(line.get("headers", {})))


def test_an_apply_that_fails_on_a_leftover_runs_again_on_an_emptied_emulator(
    leftover: Leftover,
) -> None:
    assert apply_recorded(leftover.terraform, leftover.emulator.endpoint_url, {}) == 2

    assert leftover.clients.dynamodb().list_tables()["TableNames"] == [TABLE]
    state = json.loads(leftover.terraform.state_path.read_text())
    assert state["resources"][0]["name"] == "one"
    # The recording is of the clean second apply only: one CreateTable, replayable.
    assert recorded_creates(leftover.recording) == 1


def test_a_second_failure_is_reported(leftover: Leftover) -> None:
    endpoint_url = leftover.emulator.endpoint_url
    with pytest.raises(TerraformError, match="terraform apply failed"):
        apply_recorded(leftover.terraform, endpoint_url, {}, attempts=1)
    assert leftover.clients.dynamodb().list_tables()["TableNames"] == [TABLE]  # no retry
    snapshot.reset(endpoint_url)
    with pytest.raises(ValueError, match="attempts: must be >= 1"):
        apply_recorded(leftover.terraform, endpoint_url, {}, attempts=0)
