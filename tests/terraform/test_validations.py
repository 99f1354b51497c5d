"""Every `validation` block in terraform/ (modules, root and examples) refuses one bad value.

One `terraform test` file per module (the root included), written from the table below into
a copy of terraform/: a plan with the provider mocked (`mock_provider "aws" {}`, no
credentials, no network) where every validated variable gets a bad value at once, and
`expect_failures` names them all, so the run fails if any one of them is accepted. A variable
with several validation blocks gets one run per block. `test_every_validation_block_has_a_bad_value`
fails when a new validation block has no row here: add one to BAD_VALUES (and a good value to
GOOD_VALUES if the variable is required)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import require_terraform_with_mirror

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"
TEST_TIMEOUT_SECONDS = 300

ACCOUNT = "123456789012"
KMS = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0e8d3c2a-1111-2222-3333-444455556666"
QUEUES = [f"arn:aws:sqs:us-east-1:{ACCOUNT}:sdfleet-test-interactive"]
DLQS = [f"arn:aws:sqs:us-east-1:{ACCOUNT}:sdfleet-test-interactive-dlq"]
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/sdfleet-test"
SSM_PATH = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/sdfleet-test"
SSM_PATTERN = f"{SSM_PATH}/*"
BUCKET = "arn:aws:s3:::sdfleet-test"
BAD_LOG_RETENTION = 2  # not one of CloudWatch's allowed retention periods

#: Good values for each module's required variables (module directory, relative to terraform/).
GOOD_VALUES: dict[str, dict[str, Any]] = {
    ".": {
        "environment": "test",
        "offline_plan": True,
        "create_network": True,
        # Created in the copy by the fixture: the root's `lambda_zips` check wants files.
        "ingest_zip_path": "validation-ingest.zip",
        "scaler_zip_path": "validation-scaler.zip",
        "notifier_zip_path": "validation-notifier.zip",
        "model_source": "s3://sdfleet-models/sd15/",
    },
    "modules/api": {
        "name_prefix": "sdfleet-test",
        "lambda_zip_path": "missing.zip",
        "environment_variables": {},
        "kms_key_arn": KMS,
        "jobs_table_arn": TABLE,
        "idempotency_table_arn": TABLE,
        "queue_arns": QUEUES,
        "workers_table_arn": TABLE,
        "bucket_arn": BUCKET,
        "ssm_path_arn": SSM_PATH,
        "ssm_parameter_arn_pattern": SSM_PATTERN,
    },
    "modules/autoscaler": {
        "name_prefix": "sdfleet-test",
        "lambda_zip_path": "missing.zip",
        "min_capacity": 0,
        "max_capacity": 4,
        "target_wait_seconds": 60,
        "idle_seconds_before_scale_in": 60,
        "quiet_seconds_before_zero": 300,
        "max_step": 4,
        "default_seconds_per_job": 6,
        "training_minutes_per_job": 15,
        "boot_seconds": 90,
        "boot_deadline_seconds": 600,
        "samples_per_invocation": 1,
        "backlog_tolerance": 0.1,
        "resource_environment": {},
        "asg_name": "sdfleet-test-workers",
        "ssm_path": "/sdfleet-test/",
        "kms_key_arn": KMS,
        "queue_arns": QUEUES,
        "dlq_arns": DLQS,
        "jobs_table_arn": TABLE,
        "idempotency_table_arn": TABLE,
        "bucket_arn": BUCKET,
        "workers_table_arn": TABLE,
        "ssm_path_arn": SSM_PATH,
        "ssm_parameter_arn_pattern": SSM_PATTERN,
        "metrics_namespace": "sdfleet",
    },
    "modules/config": {"name_prefix": "sdfleet-test", "ssm_path": "/sdfleet-test/"},
    "modules/frontend": {
        "name_prefix": "sdfleet-test",
        "repository": "https://git.example.com/sdfleet",
        "access_token": "token",
        "api_url": "https://api.example.com",
        "user_pool_id": "us-east-1_abcdefghi",
        "user_pool_client_id": "client",
        "region": "us-east-1",
    },
    "modules/lambda_function": {
        "function_name": "sdfleet-test-fn",
        "handler": "app.handler",
        "zip_path": "missing.zip",
        "memory_mb": 256,
        "timeout_seconds": 30,
        "environment_variables": {},
        "kms_key_arn": KMS,
        "policy_name": "sdfleet-test-fn",
        "policy_json": json.dumps({"Version": "2012-10-17", "Statement": []}),
        "log_retention_days": 14,
    },
    "modules/observability": {
        "name_prefix": "sdfleet-test",
        "queue_names": {"interactive": "q-i", "batch": "q-b"},
        "dlq_names": {"interactive": "d-i", "batch": "d-b"},
        "asg_name": "sdfleet-test-workers",
        "scaler_function_name": "scaler",
        "ingest_function_name": "ingest",
        "metrics_namespace": "sdfleet",
    },
    "modules/queues": {
        "name_prefix": "sdfleet-test",
        "sender_arns": {"interactive": [f"arn:aws:iam::{ACCOUNT}:role/sdfleet-test-ingest"]},
        "dead_letter_sender_arn_patterns": ["arn:*:iam::*:role/sdfleet-test-worker"],
    },
    "modules/storage": {"name_prefix": "sdfleet-test", "kms_key_arn": KMS},
    "modules/notifier": {
        "name_prefix": "sdfleet-test",
        "lambda_zip_path": "missing.zip",
        "jobs_table_arn": TABLE,
        "jobs_stream_arn": f"{TABLE}/stream/2026-01-01T00:00:00.000",
        "secrets_path": "/sdfleet-test/webhook-secrets/",
        "kms_key_arn": KMS,
    },
    "modules/worker_ami": {
        "name_prefix": "sdfleet-test",
        "parent_image": "ami-0123456789abcdef0",
        "image_version": "1.0.0",
        "bootstrap_template_path": "../worker_fleet/user_data.sh.tftpl",
        "wheelhouse_uri": "s3://sdfleet-test/wheelhouse/abc/",
        "package_source": "sdfleet[worker]==0.1.0",
        "package_extras": "worker,gpu",
        "root_device_name": "/dev/sda1",
        "root_volume_size_gb": 100,
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_id": "subnet-0123456789abcdef0",
        "kms_key_arn": KMS,
        "cloudwatch_agent_version": "1.300071.0b1720",
    },
    "modules/worker_fleet": {
        "name_prefix": "sdfleet-test",
        "asg_name": "sdfleet-test-workers",
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_ids": ["subnet-0123456789abcdef0"],
        "ami_id": "ami-0123456789abcdef0",
        "instance_types": ["g5.xlarge"],
        "min_size": 0,
        "max_size": 2,
        "package_source": "sdfleet[worker]==0.1.0",
        "worker_environment": {},
        "service_unit": "[Unit]\nDescription=sdfleet worker\n",
        "kms_key_arn": KMS,
        "queue_arns": QUEUES,
        "dlq_arns": DLQS,
        "jobs_table_arn": TABLE,
        "workers_table_arn": TABLE,
        "model_source": "tiny",
        "bucket_arn": BUCKET,
        "ssm_path_arn": SSM_PATH,
        "ssm_parameter_arn_pattern": SSM_PATTERN,
        "log_group_name": "/sdfleet-test/worker",
        "logs_kms_key_arn": KMS,
    },
    "examples/events-to-tenant-queue": {"event_bus_name": "sdfleet-test-jobs", "tenant": "acme"},
}

#: module -> variable -> one bad value per validation block, in the order of the blocks.
BAD_VALUES: dict[str, dict[str, list[Any]]] = {
    ".": {
        "environment": ["Prod"],
        "start_record_expiry_days": [3651],
        "region": ["mars"],
        "aws_endpoint_url": ["localhost:5000"],
        "subnet_ids": [[]],  # with create_network = false (CONTEXT)
        "min_capacity": [-1],
        "max_capacity": [1001],
        "target_wait_seconds": [0],
        "idle_seconds_before_scale_in": [-1],
        "quiet_seconds_before_zero": [86401],
        "max_step": [0],
        "default_seconds_per_job": [3601],
        "training_minutes_per_job": [0],
        "training_visibility_timeout_seconds": [59],
        "boot_seconds": [-1],
        "boot_deadline_seconds": [7201],
        "samples_per_invocation": [13],
        "backlog_tolerance": [1.5],
        "heartbeat_seconds": [0],
        "record_ttl_days": [0],
        "webhook_retry_base_seconds": [-1],
        "webhook_delivery_window_seconds": [86401],
        "max_active_jobs_per_user": [0],
        "max_active_cost_units_per_user": [2.5],
        "max_uploads_per_user_per_day": [1000001],
        "fair_window_messages": [121],
        "sender_tenants": ["[1, 2]"],
        "tenant_webhook_urls": [{"acme": "http://hooks.example.com/x"}],
        "worker_ami_bake": [True],  # with worker_wheelhouse_uri unset
        "model_source": ["  ", "tiny"],  # blank; the test model outside a local stack
        "worker_device": ["tpu"],
        "worker_log_retention_days": [BAD_LOG_RETENTION],
        "cloudwatch_agent_version": ["latest"],
        "batch_senders": [
            [
                {
                    "principal_arn": f"arn:aws:iam::{ACCOUNT}:role/acme",
                    "sender_id": "AROAEXAMPLE:session",
                    "tenant": "acme",
                }
            ]
        ],
    },
    "modules/api": {
        "lambda_architecture": ["sparc"],
        "lambda_memory_mb": [64],
        "lambda_timeout_seconds": [31],
        "reserved_concurrency": [-2],
        "routes": [["FETCH /jobs"]],
        "throttling_burst_limit": [0],
        "throttling_rate_limit": [10001],
        "log_retention_days": [BAD_LOG_RETENTION],
    },
    "modules/autoscaler": {
        "lambda_architecture": ["sparc"],
        "lambda_memory_mb": [10241],
        "schedule_expression": ["every minute"],
        "min_capacity": [-1],
        "max_capacity": [1.5],
        "target_wait_seconds": [0],
        "idle_seconds_before_scale_in": [-1],
        "quiet_seconds_before_zero": [86401],
        "max_step": [0],
        "default_seconds_per_job": [0],
        "training_minutes_per_job": [1441],
        "boot_seconds": [3601],
        "boot_deadline_seconds": [-1],
        "ssm_path": ["sdfleet-test"],
        "samples_per_invocation": [13],
        "backlog_tolerance": [1.5],
        "log_retention_days": [BAD_LOG_RETENTION],
    },
    "modules/config": {
        "ssm_path": ["sdfleet-test"],
        "parameters": [{"Bad-Name": "x"}],
        "key_deletion_window_days": [6],
    },
    "modules/frontend": {"repository": ["git@example.com:sdfleet.git"]},
    "modules/lambda_function": {
        "function_name": ["bad name"],
        "architecture": ["sparc"],
        "memory_mb": [64],
        "timeout_seconds": [901],
        "reserved_concurrency": [-2],
        "log_retention_days": [BAD_LOG_RETENTION],
    },
    "modules/observability": {
        "oldest_message_slo_seconds": [{"interactive": 30}],
        "hourly_price_per_worker": [-1],
    },
    "modules/queues": {
        "name_prefix": ["bad name!"],
        "lanes": [[]],
        "visibility_timeout_seconds": [9],
        # A timeout out of range; a lane the module does not create.
        "lane_visibility_timeout_seconds": [{"interactive": 5}, {"nope": 60}],
        "max_receive_count": [0],
        "message_retention_seconds": [59],
        "receive_wait_time_seconds": [21],
        "sender_arns": [{"batch": ["arn:aws:sqs:us-east-1:123456789012:not-a-principal"]}],
    },
    "modules/storage": {
        "name_prefix": ["Bad_Prefix"],
        "bucket_name": ["-bad-"],
        "web_origins": [["ftp://example.com"]],
        "user_data_expiry_days": [0],
        "input_expiry_days": [3651],
        "start_record_expiry_days": [0],
        "abort_incomplete_upload_days": [31],
    },
    "modules/worker_fleet": {
        "subnet_ids": [[]],
        "ami_id": ["ubuntu-22.04"],
        "instance_types": [[]],
        "min_size": [-1],
        "max_size": [1.5],
        "on_demand_base_capacity": [-1],
        "on_demand_percentage_above_base": [101],
        "spot_allocation_strategy": ["cheapest"],
        "warm_pool_min_size": [-1],
        "warm_pool_max_prepared_capacity": [2.5],
        "root_volume_size_gb": [19],
        "metadata_hop_limit": [3],
        "lifecycle_hook_timeout_seconds": [29],
        "metrics_namespace": ["AWS/EC2"],
        "root_volume_throughput_mibps": [124],
        "root_volume_iops": [16001],
        "model_cache_volume": ["ebs"],
        "launch_hook_timeout_seconds": [29],
        "wheelhouse_uri": ["s3://bucket-without-prefix"],
        "log_group_name": ["worker logs"],
        "log_retention_days": [BAD_LOG_RETENTION],
        "cloudwatch_agent_version": ["1.300069.0b1"],  # before journald collection
    },
    "modules/worker_ami": {"image_version": ["1.0"]},
    "modules/notifier": {
        "lambda_timeout_seconds": [29],
        "webhook_timeout_seconds": [31],
        "webhook_retry_base_seconds": [3601],
        "webhook_delivery_window_seconds": [59],
        "secrets_path": ["webhook-secrets"],
    },
    "examples/events-to-tenant-queue": {
        "tenant": ["acme/../other"],
        "detail_types": [["job.succeeded", "job.started"]],
    },
}

#: Values a bad value needs beside it to be judged (not themselves expected to fail).
CONTEXT: dict[str, dict[str, dict[str, Any]]] = {".": {"subnet_ids": {"create_network": False}}}
#: Variables whose condition reads another validated variable: Terraform does not judge a
#: condition whose inputs failed their own validation, so these get a run of their own.
ALONE: dict[str, set[str]] = {
    # training_visibility_timeout_seconds: heartbeat_seconds' validation reads it, and a
    # validation over an invalid variable is not evaluated.
    ".": {"max_capacity", "model_source", "worker_ami_bake", "training_visibility_timeout_seconds"},
    # Its key check reads var.lanes, which run 0 sets badly.
    "modules/queues": {"lane_visibility_timeout_seconds"},
}
#: The mocked provider answers data sources with random strings; IAM documents must be JSON.
MOCK_PROVIDER = """mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[]}"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  # The key policy takes the account id from the key's ARN.
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:us-east-1:123456789012:key/0e8d3c2a-1111-2222-3333-444455556666"
    }
  }
}"""


def validation_blocks() -> dict[str, dict[str, int]]:
    """module -> variable -> number of validation blocks, read from every .tf file (a
    variable may be declared beside the resources, as the examples do)."""
    found: dict[str, dict[str, int]] = {}
    for path in sorted(TERRAFORM_DIR.rglob("*.tf")):
        if any(part.startswith(".terraform") for part in path.parts):
            continue
        module = path.parent.relative_to(TERRAFORM_DIR).as_posix()
        text = path.read_text()
        # A variable block ends at the first closing brace in column 0.
        for match in re.finditer(r'^variable "([^"]+)"\s*\{(.*?)^\}', text, re.M | re.S):
            count = len(re.findall(r"^\s*validation\s*\{", match.group(2), re.M))
            if count:
                found.setdefault(module, {})[match.group(1)] = count
    return found


def test_every_validation_block_has_a_bad_value() -> None:
    blocks = validation_blocks()
    table = {m: {v: len(values) for v, values in rows.items()} for m, rows in BAD_VALUES.items()}
    missing = [
        f"{module}/variables.tf: {name} has {count} validation block(s), "
        f"{table.get(module, {}).get(name, 0)} bad value(s) in BAD_VALUES"
        for module, variables in blocks.items()
        for name, count in variables.items()
        if table.get(module, {}).get(name, 0) != count
    ]
    stale = [
        f"BAD_VALUES[{module!r}][{name!r}] names no validated variable"
        for module, rows in table.items()
        for name in rows
        if name not in blocks.get(module, {})
    ]
    assert missing + stale == []
    assert sum(len(v) for v in blocks.values()) >= 76


def hcl(value: Any) -> str:
    """A Python value as an HCL expression."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value).replace("${", "$${")
    if isinstance(value, list):
        return "[" + ", ".join(hcl(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {hcl(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no HCL for {value!r}")


def tftest_file(module: str) -> str:
    """A `terraform test` file: good values for all runs, then one run per block index (and
    one per bad value of a variable in ALONE), each expecting every variable it sets badly to
    fail."""
    rows = BAD_VALUES[module]
    alone = ALONE.get(module, set())
    runs: list[tuple[str, dict[str, Any]]] = []
    for index in range(max(len(values) for values in rows.values())):
        bad = {n: v[index] for n, v in rows.items() if index < len(v) and n not in alone}
        if bad:
            runs.append((f"bad_values_{index}", bad))
    runs += [
        (f"bad_{name}_{index}", {name: value})
        for name in sorted(alone)
        for index, value in enumerate(rows[name])
    ]
    lines = [MOCK_PROVIDER, "", "variables {"]
    lines += [f"  {k} = {hcl(v)}" for k, v in GOOD_VALUES[module].items()]
    lines += ["}", ""]
    for name, bad in runs:
        lines += [f'run "{name}" {{', "  command = plan", "  variables {"]
        context = {k: v for name in bad for k, v in CONTEXT.get(module, {}).get(name, {}).items()}
        lines += [f"    {k} = {hcl(v)}" for k, v in (context | bad).items()]
        lines += ["  }", "  expect_failures = [" + ", ".join(f"var.{n}" for n in bad) + "]", "}"]
    return "\n".join(lines) + "\n"


def run_count(module: str) -> int:
    return tftest_file(module).count("\nrun ")


@pytest.fixture(scope="module")
def terraform_copy(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str]]]:
    terraform, mirror = require_terraform_with_mirror()
    base = tmp_path_factory.mktemp("tf-validations")
    copy = base / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform*", "tests"))
    # The root reads the worker's systemd unit from beside terraform/.
    systemd = TERRAFORM_DIR.parent / "worker" / "systemd"
    shutil.copytree(systemd, base / "worker" / "systemd")
    for name in ("ingest_zip_path", "scaler_zip_path", "notifier_zip_path"):
        (copy / GOOD_VALUES["."][name]).write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    config = base / "terraformrc"
    config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    environment = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "PATH": f"{Path(terraform).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    yield copy, environment


def _terraform(
    args: list[str], cwd: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args, "-no-color"],
        cwd=cwd,
        env={**environment, "TF_DATA_DIR": str(cwd / ".terraform")},
        capture_output=True,
        text=True,
        timeout=TEST_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.terraform
@pytest.mark.parametrize("module", sorted(BAD_VALUES))
def test_each_bad_value_is_refused_by_its_validation(
    module: str, terraform_copy: tuple[Path, dict[str, str]]
) -> None:
    copy, environment = terraform_copy
    directory = copy / module
    tests = directory / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "validations.tftest.hcl").write_text(tftest_file(module))
    init = _terraform(["init", "-backend=false", "-input=false"], directory, environment)
    assert init.returncode == 0, init.stderr[-3000:]
    result = _terraform(["test"], directory, environment)
    assert result.returncode == 0, (
        f"{tftest_file(module)}\n{result.stdout[-6000:]}{result.stderr[-3000:]}"
    )
    assert f"Success! {run_count(module)} passed, 0 failed." in result.stdout
