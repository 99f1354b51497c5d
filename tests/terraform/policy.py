"""IAM policy checks for the tests: a bucket policy's deny of non-TLS requests (checkov only
checks public buckets), and whether statements allow an action on a resource."""

from __future__ import annotations

import json
import re
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


def statements_of(policy: str | dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of an IAM policy (JSON text or parsed), Action/Resource as lists."""
    parsed = json.loads(policy) if isinstance(policy, str) else policy
    statements = []
    for statement in _as_list(parsed.get("Statement", [])):
        if "NotAction" in statement or "NotResource" in statement:
            # They grant everything but a list: no "only this" check could be trusted.
            raise ValueError(f"NotAction/NotResource statement not supported: {statement}")
        statements.append(
            {
                **statement,
                "Action": _as_list(statement.get("Action", [])),
                "Resource": _as_list(statement.get("Resource", [])),
            }
        )
    return statements


def _matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(regex, value, flags) is not None


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """True when an Allow statement covers the action on the resource (conditions count as met,
    so a conditional grant counts as a grant: the check errs towards finding access)."""
    return any(
        statement.get("Effect") == "Allow"
        and any(_matches(p, action, case_sensitive=False) for p in statement["Action"])
        and any(_matches(p, resource, case_sensitive=True) for p in statement["Resource"])
        for statement in statements
    )
