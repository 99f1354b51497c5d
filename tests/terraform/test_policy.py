"""The non-TLS deny checker itself: it must reject policies that only look right."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.terraform.policy import denies_insecure_transport

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
