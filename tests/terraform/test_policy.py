"""The policy checkers themselves: the non-TLS deny checker must reject policies that only look
right, and ``allows`` must match IAM's wildcards, no more and no less."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.terraform.policy import allows, denies_insecure_transport, statements_of

BUCKET = "arn:aws:s3:::data"


def _policy(**overrides: Any) -> str:
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET, f"{BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    statement.update(overrides)
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_accepts_the_full_deny() -> None:
    assert denies_insecure_transport(_policy(), BUCKET)
    assert denies_insecure_transport(_policy(Principal={"AWS": "*"}), BUCKET)


@pytest.mark.parametrize(
    "overrides",
    [
        {"Effect": "Allow"},
        {"Principal": {"AWS": "arn:aws:iam::123456789012:root"}},
        {"Action": "s3:GetObject"},
        {"Resource": [BUCKET]},
        {"Resource": [f"{BUCKET}/*"]},
        {"Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        {"Condition": {}},
    ],
)
def test_rejects_partial_denies(overrides: dict[str, Any]) -> None:
    assert not denies_insecure_transport(_policy(**overrides), BUCKET)


GROUP = "arn:aws:logs:us-east-1:*:log-group:/sdfleet-prod/worker"
STREAM = "arn:aws:logs:us-east-1:111122223333:log-group:/sdfleet-prod/worker:log-stream:worker/i-1"


def _logs_policy(**overrides: Any) -> list[dict[str, Any]]:
    statement = {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"{GROUP}:*",
    }
    statement.update(overrides)
    return statements_of(json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def test_allows_matches_iam_wildcards() -> None:
    statements = _logs_policy()
    assert allows(statements, "logs:PutLogEvents", STREAM)
    assert allows(statements, "Logs:putlogevents", STREAM)  # actions are case-insensitive
    assert not allows(statements, "logs:CreateLogGroup", STREAM)
    assert not allows(statements, "logs:PutLogEvents", STREAM.replace("/worker:", "/worker2:"))
    assert not allows(
        statements, "logs:PutLogEvents", STREAM.replace("/sdfleet-prod/", "/SDFLEET-PROD/")
    )
    assert allows(_logs_policy(Action="logs:*"), "logs:DeleteLogGroup", STREAM)
    assert allows(_logs_policy(Resource="*"), "logs:PutLogEvents", "arn:aws:logs:x:1:log-group:a:*")
    assert not allows(_logs_policy(Effect="Deny"), "logs:PutLogEvents", STREAM)


def test_not_action_is_refused_rather_than_misread() -> None:
    with pytest.raises(ValueError, match="NotAction"):
        statements_of({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})
