"""Webhook signatures in the Standard Webhooks style, so receivers can use its verifiers.

Headers: ``webhook-id`` (the event id, stable across redeliveries), ``webhook-timestamp``
(epoch seconds of this attempt) and ``webhook-signature``: ``v1,`` + base64 of
HMAC-SHA256(secret, ``"{id}.{timestamp}.{body}"``). Secrets are ``whsec_`` + base64 of 32
random bytes; the HMAC key is the decoded bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Final

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (a format prefix, not a secret)
SECRET_BYTES: Final = 32
ID_HEADER: Final = "webhook-id"
TIMESTAMP_HEADER: Final = "webhook-timestamp"
SIGNATURE_HEADER: Final = "webhook-signature"
#: Receivers should refuse a timestamp further than this from their clock (replays).
TOLERANCE_SECONDS: Final = 300


class SignatureInvalid(ValueError):
    pass


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, event_id: str, timestamp: int, body: str) -> str:
    mac = hmac.new(_key(secret), f"{event_id}.{timestamp}.{body}".encode(), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(
    secret: str, event_id: str, body: str, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, event_id, timestamp, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: str, now: float | None = None) -> str:
    """Checks a delivery; returns the event id or raises :class:`SignatureInvalid`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        event_id = lowered[ID_HEADER]
        timestamp = int(lowered[TIMESTAMP_HEADER])
        offered = lowered[SIGNATURE_HEADER].split()
    except (KeyError, ValueError) as exc:
        raise SignatureInvalid(f"missing or malformed webhook headers ({exc})") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise SignatureInvalid(f"timestamp {timestamp} is outside the {TOLERANCE_SECONDS} s window")
    expected = sign(secret, event_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise SignatureInvalid("no signature matches")
    return event_id
