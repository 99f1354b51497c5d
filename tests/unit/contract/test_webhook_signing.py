"""Standard-Webhooks-style signatures: what we sign verifies, anything changed does not."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from sdfleet.webhook_signing import (
    SignatureInvalid,
    new_secret,
    signed_headers,
    verify,
)


def test_signature_is_hmac_sha256_over_id_timestamp_body() -> None:
    secret = new_secret()
    headers = signed_headers(secret, "evt_1", '{"a":1}', now=1_700_000_000)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, b'evt_1.1700000000.{"a":1}', hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    assert verify(secret, headers, '{"a":1}', now=1_700_000_010) == "evt_1"


@pytest.mark.parametrize("change", ["body", "secret", "timestamp", "old"])
def test_tampering_fails(change: str) -> None:
    secret = new_secret()
    body = '{"a":1}'
    headers = signed_headers(secret, "evt_1", body, now=1_700_000_000)
    now = 1_700_000_000.0
    if change == "body":
        body = '{"a":2}'
    elif change == "secret":
        secret = new_secret()
    elif change == "timestamp":
        headers["webhook-timestamp"] = "1700000001"
    else:
        now += 3600
    with pytest.raises(SignatureInvalid):
        verify(secret, headers, body, now=now)
