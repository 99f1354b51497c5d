"""The API adapter over HTTP: 401s never reach the handler; accepted requests become payload
2.0 events with the authorizer's claims; handler results become HTTP responses."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from sdfleet.aws import AwsClients
from sdfleet_cli.local.api_adapter import ApiAdapter, ApiServer
from sdfleet_cli.local.cognito import LocalUsers
from sdfleet_cli.local.jwt_authorizer import JwtAuthorizer, cognito_issuer, emulator_jwks_url
from tests.integration.local.conftest import Pool

pytestmark = pytest.mark.emulator


class RecordingHandler:
    """Stands in for the Lambda only to show what the adapter hands it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        assert context.get_remaining_time_in_millis() > 0
        if event["rawPath"] == "/boom":
            raise RuntimeError("handler crashed")
        if event["rawPath"] == "/plain":
            return {"hello": "world"}
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Seen": "yes"},
            "body": json.dumps({"path": event["rawPath"]}),
        }


@pytest.fixture()
def served(aws: AwsClients, pool: Pool) -> Iterator[tuple[str, RecordingHandler]]:
    handler = RecordingHandler()
    authorizer = JwtAuthorizer(
        emulator_jwks_url(aws.endpoint_url or "", pool.pool_id),
        cognito_issuer(aws.region, pool.pool_id),
        [pool.client_id],
    )
    server = ApiServer(ApiAdapter(lambda: handler, authorizer), port=0)
    server.start()
    try:
        yield server.url, handler
    finally:
        server.stop()


def token(aws: AwsClients, pool: Pool, user: str = "alice", client: str | None = None) -> str:
    users = LocalUsers(aws.cognito_idp(), pool.pool_id, client or pool.client_id)
    return users.token_for(user).id_token


def test_valid_token_reaches_the_handler_as_a_v2_event(
    served: tuple[str, RecordingHandler], aws: AwsClients, pool: Pool
) -> None:
    url, handler = served
    response = requests.post(
        f"{url}/jobs?a=1&a=2&b=",
        json={"prompt": "a cat"},
        headers={"Authorization": f"Bearer {token(aws, pool)}", "Idempotency-Key": "k1"},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.json() == {"path": "/jobs"}
    assert response.headers["X-Seen"] == "yes"
    (event,) = handler.events
    assert event["version"] == "2.0"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["headers"]["idempotency-key"] == "k1"
    assert json.loads(event["body"]) == {"prompt": "a cat"}
    assert event["isBase64Encoded"] is False
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["cognito:username"] == "alice"
    assert claims["aud"] == pool.client_id
    assert all(isinstance(value, str) for value in claims.values())


def test_binary_body_is_base64_encoded(
    served: tuple[str, RecordingHandler], aws: AwsClients, pool: Pool
) -> None:
    url, handler = served
    payload = bytes(range(256))
    requests.put(
        f"{url}/blob",
        data=payload,
        headers={"Authorization": token(aws, pool), "Content-Type": "image/png"},
        timeout=10,
    )
    (event,) = handler.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_plain_results_are_json_200_and_crashes_are_500(
    served: tuple[str, RecordingHandler], aws: AwsClients, pool: Pool
) -> None:
    url, _ = served
    auth = {"Authorization": f"Bearer {token(aws, pool)}"}
    plain = requests.get(f"{url}/plain", headers=auth, timeout=10)
    assert (plain.status_code, plain.json()) == (200, {"hello": "world"})
    boom = requests.get(f"{url}/boom", headers=auth, timeout=10)
    assert (boom.status_code, boom.json()) == (500, {"message": "Internal Server Error"})


def forged(aws: AwsClients, pool: Pool) -> str:
    claims = jwt.decode(token(aws, pool), options={"verify_signature": False})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


@pytest.mark.parametrize("case", ["none", "garbage", "forged", "other_client", "other_pool"])
def test_refused_tokens_get_401_and_never_reach_the_handler(
    served: tuple[str, RecordingHandler],
    aws: AwsClients,
    pool: Pool,
    other_pool: Pool,
    case: str,
) -> None:
    url, handler = served
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "forged": {"Authorization": f"Bearer {forged(aws, pool)}"},
        "other_client": {
            "Authorization": f"Bearer {token(aws, pool, client=pool.other_client_id)}"
        },
        "other_pool": {"Authorization": f"Bearer {token(aws, other_pool)}"},
    }[case]
    response = requests.post(f"{url}/jobs", json={}, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert handler.events == []


def test_cors_preflight_needs_no_token(served: tuple[str, RecordingHandler]) -> None:
    url, handler = served
    response = requests.options(
        f"{url}/jobs",
        headers={
            "Origin": "http://127.0.0.1:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"
    assert "authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert handler.events == []


def test_cors_exposes_what_the_web_app_reads(served: tuple[str, RecordingHandler]) -> None:
    url, _ = served
    response = requests.get(f"{url}/jobs", headers={"Origin": "http://127.0.0.1:5173"}, timeout=10)
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    # Cross-origin, a browser hides every other header: the 429's retry time included.
    assert {"retry-after", "idempotent-replayed"} <= exposed
