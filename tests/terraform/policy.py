"""Checks a bucket policy for the deny of non-TLS requests (checkov only checks public buckets)."""

from __future__ import annotations

import json
from typing import Any


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def denies_insecure_transport(policy_json: str, bucket_arn: str) -> bool:
    """True when one Deny statement covers every principal, every S3 action, the bucket and its
    objects, on the condition ``Bool aws:SecureTransport = false``."""
    policy = json.loads(policy_json)
    for statement in _as_list(policy.get("Statement", [])):
        if statement.get("Effect") != "Deny":
            continue
        principal = statement.get("Principal")
        if principal != "*" and _as_list((principal or {}).get("AWS", [])) != ["*"]:
            continue
        if "s3:*" not in _as_list(statement.get("Action", [])):
            continue
        if not {bucket_arn, f"{bucket_arn}/*"} <= set(_as_list(statement.get("Resource", []))):
            continue
        condition = statement.get("Condition", {}).get("Bool", {})
        if [str(v).lower() for v in _as_list(condition.get("aws:SecureTransport", []))] == [
            "false"
        ]:
            return True
    return False
