"""Adjustments for what the emulator cannot evaluate, applied after every apply or replay.

moto evaluates bucket policies but not their ``Condition`` blocks (moto 5.2: "TODO add
support for the Resource and Condition parts"), so a conditional Deny such as the TLS-only
statement (``aws:SecureTransport = false``) denies every request. Locally everything is
plain HTTP on loopback anyway: conditional Deny statements are dropped from the emulator's
copy of the policy; every other statement stays. Real AWS evaluates the full policy.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


def unevaluable_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if s.get("Effect") == "Deny" and s.get("Condition")]


def drop_conditional_denies(s3: S3Client, bucket: str) -> list[str]:
    """Removes conditional Deny statements from the bucket policy; returns their Sids."""
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchBucketPolicy", "NoSuchBucket"):
            return []
        raise
    dropped = unevaluable_statements(policy)
    if not dropped:
        return []
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [s for s in statements if s not in dropped]
    if kept:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**policy, "Statement": kept}))
    else:
        s3.delete_bucket_policy(Bucket=bucket)
    sids = [str(s.get("Sid", "?")) for s in dropped]
    logger.warning("emulator: dropped conditional Deny statements %s from %s", sids, bucket)
    return sids
