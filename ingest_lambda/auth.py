"""The caller's identity: the ``sub`` claim the API Gateway JWT authorizer verified.

Nothing else identifies a caller: not a header, not a body field, not another claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest_lambda.errors import Unauthorized
from sdfleet.keys import OWNER_PATTERN


def caller_sub(raw_event: Mapping[str, Any]) -> str:
    """``requestContext.authorizer.jwt.claims.sub`` of a payload v2 event, or 401."""
    context = raw_event.get("requestContext") or {}
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    jwt = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    claims = jwt.get("claims") if isinstance(jwt, Mapping) else None
    sub = claims.get("sub") if isinstance(claims, Mapping) else None
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("a verified JWT with a 'sub' claim is required")
    # The sub becomes an S3 prefix and a key in DynamoDB: refuse anything path-like.
    if not OWNER_PATTERN.fullmatch(sub):
        raise Unauthorized("the token's 'sub' claim is not a valid user id")
    return sub
