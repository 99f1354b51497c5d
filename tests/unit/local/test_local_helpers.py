"""Pure helpers of the local stack: logs, the apply fingerprint, outputs, the policy filter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sdfleet_cli.local.emulator_limits import unevaluable_statements
from sdfleet_cli.local.errors import TerraformError
from sdfleet_cli.local.logs import show_logs
from sdfleet_cli.local.snapshot import config_fingerprint
from sdfleet_cli.local.stack import (
    OPTIONAL_OUTPUTS,
    OUTPUT_NAMES,
    environment_output,
    read_outputs,
)


def test_logs_tail_then_follow_new_lines_and_new_files(tmp_path: Path) -> None:
    (tmp_path / "up.log").write_text("a\nb\nc\n")
    seen: list[str] = []
    polls = iter(range(100))

    def stop() -> bool:
        step = next(polls)
        if step == 1:
            with (tmp_path / "up.log").open("a") as handle:
                handle.write("d\n")
            (tmp_path / "worker-i-1.log").write_text("hello\n")
        return step >= 3

    show_logs(tmp_path, seen.append, lines=2, follow=True, should_stop=stop)
    assert seen == ["[up] b", "[up] c", "[up] d", "[worker-i-1] hello"]


def test_fingerprint_follows_the_local_apply_only(tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "examples").mkdir()
    (tmp_path / "main.tf").write_text("a")
    (tmp_path / "environments" / "local.tfvars").write_text("x = 1")
    base = config_fingerprint(tmp_path, {"endpoint": "http://127.0.0.1:1"})
    (tmp_path / "examples" / "big.tfvars").write_text("y = 2")
    (tmp_path / "environments" / "prod.tfvars").write_text("z = 3")
    assert config_fingerprint(tmp_path, {"endpoint": "http://127.0.0.1:1"}) == base
    assert config_fingerprint(tmp_path, {"endpoint": "http://127.0.0.1:2"}) != base
    (tmp_path / "environments" / "local.tfvars").write_text("x = 2")
    assert config_fingerprint(tmp_path, {"endpoint": "http://127.0.0.1:1"}) != base


def test_outputs_name_what_is_missing() -> None:
    complete = {name: f"v-{name}" for name in OUTPUT_NAMES}
    assert read_outputs(complete)["bucket"] == "v-bucket"
    optional_gone = {k: v for k, v in complete.items() if k not in OPTIONAL_OUTPUTS}
    assert "ssm_path" not in read_outputs(optional_gone)
    with pytest.raises(TerraformError, match="'user_pool_id' is missing"):
        read_outputs({k: v for k, v in complete.items() if k != "user_pool_id"})
    assert environment_output({"worker_environment": {"A": 1}}, "worker_environment") == {"A": "1"}
    assert environment_output({}, "scaler_environment") == {}


def test_every_output_read_is_one_the_root_configuration_declares() -> None:
    outputs_tf = Path(__file__).resolve().parents[3] / "terraform" / "outputs.tf"
    declared = set(re.findall(r'^output "([a-z0-9_]+)"', outputs_tf.read_text(), re.M))
    assert set(OUTPUT_NAMES) <= declared, sorted(set(OUTPUT_NAMES) - declared)
    assert set(OUTPUT_NAMES) >= OPTIONAL_OUTPUTS


def test_only_conditional_denies_are_unevaluable() -> None:
    tls = {"Sid": "Tls", "Effect": "Deny", "Action": "s3:*", "Condition": {"Bool": {}}}
    allow = {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject"}
    deny = {"Sid": "D", "Effect": "Deny", "Action": "s3:DeleteBucket"}
    assert unevaluable_statements({"Statement": [tls, allow, deny]}) == [tls]
    assert unevaluable_statements({"Statement": tls}) == [tls]
