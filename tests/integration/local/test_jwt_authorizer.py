"""The local JWT authorizer against real tokens from the emulator's Cognito."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sdfleet.aws import AwsClients
from sdfleet_cli.local.cognito import LocalUsers
from sdfleet_cli.local.errors import AuthorizationError
from sdfleet_cli.local.jwt_authorizer import (
    JwtAuthorizer,
    bearer_token,
    cognito_issuer,
    emulator_jwks_url,
)
from tests.integration.local.conftest import Pool

pytestmark = pytest.mark.emulator


def authorizer_for(aws: AwsClients, pool: Pool, **kwargs: object) -> JwtAuthorizer:
    return JwtAuthorizer(
        jwks_url=emulator_jwks_url(aws.endpoint_url or "", pool.pool_id),
        issuer=cognito_issuer(aws.region, pool.pool_id),
        audiences=[pool.client_id],
        **kwargs,  # type: ignore[arg-type]
    )


def tokens(aws: AwsClients, pool: Pool, user: str = "alice", client: str | None = None):
    return LocalUsers(aws.cognito_idp(), pool.pool_id, client or pool.client_id).token_for(user)


def test_id_and_access_tokens_are_accepted_with_their_claims(aws: AwsClients, pool: Pool) -> None:
    issued = tokens(aws, pool)
    authorizer = authorizer_for(aws, pool)
    id_claims = authorizer.verify(issued.id_token)
    access_claims = authorizer.verify(issued.access_token)
    assert id_claims["cognito:username"] == "alice"
    assert id_claims["aud"] == pool.client_id
    assert access_claims["client_id"] == pool.client_id
    assert id_claims["sub"] == access_claims["sub"]


def test_same_user_signs_in_again_with_the_same_identity(aws: AwsClients, pool: Pool) -> None:
    authorizer = authorizer_for(aws, pool)
    first = authorizer.verify(tokens(aws, pool).id_token)
    second = authorizer.verify(tokens(aws, pool).id_token)
    other = authorizer.verify(tokens(aws, pool, user="bob").id_token)
    assert first["sub"] == second["sub"] != other["sub"]


def test_forged_signature_is_refused(aws: AwsClients, pool: Pool) -> None:
    claims = jwt.decode(tokens(aws, pool).id_token, options={"verify_signature": False})
    claims["sub"] = "someone-else"
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "dummy"})
    with pytest.raises(AuthorizationError, match="invalid token: Signature"):
        authorizer_for(aws, pool).verify(forged)


def test_tampered_payload_is_refused(aws: AwsClients, pool: Pool) -> None:
    header, payload, signature = tokens(aws, pool).id_token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["sub"] = "someone-else"
    tampered_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    with pytest.raises(AuthorizationError, match="Signature"):
        authorizer_for(aws, pool).verify(f"{header}.{tampered_payload}.{signature}")


def test_unsigned_token_is_refused(aws: AwsClients, pool: Pool) -> None:
    claims = jwt.decode(tokens(aws, pool).id_token, options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(AuthorizationError, match="not RS256"):
        authorizer_for(aws, pool).verify(unsigned)


def test_token_of_another_pool_has_the_wrong_issuer(
    aws: AwsClients, pool: Pool, other_pool: Pool
) -> None:
    # Same emulator signing key, so only the issuer check can refuse it.
    foreign = tokens(aws, other_pool).id_token
    authorizer = JwtAuthorizer(
        jwks_url=emulator_jwks_url(aws.endpoint_url or "", pool.pool_id),
        issuer=cognito_issuer(aws.region, pool.pool_id),
        audiences=[pool.client_id, other_pool.client_id],
    )
    with pytest.raises(AuthorizationError, match="issuer"):
        authorizer.verify(foreign)


@pytest.mark.parametrize("kind", ["id_token", "access_token"])
def test_token_of_another_app_client_has_the_wrong_audience(
    aws: AwsClients, pool: Pool, kind: str
) -> None:
    issued = tokens(aws, pool, client=pool.other_client_id)
    with pytest.raises(AuthorizationError, match="audience"):
        authorizer_for(aws, pool).verify(getattr(issued, kind))


def test_expired_token_is_refused(aws: AwsClients, pool: Pool) -> None:
    issued = tokens(aws, pool)
    claims = jwt.decode(issued.id_token, options={"verify_signature": False})
    just_before = authorizer_for(aws, pool, clock=lambda: float(claims["exp"]) - 1)
    assert just_before.verify(issued.id_token)["sub"] == claims["sub"]
    at_expiry = authorizer_for(aws, pool, clock=lambda: float(claims["exp"]))
    with pytest.raises(AuthorizationError, match="expired"):
        at_expiry.verify(issued.id_token)
    an_hour_later = authorizer_for(aws, pool, clock=lambda: time.time() + issued.expires_in + 1)
    with pytest.raises(AuthorizationError, match="expired"):
        an_hour_later.verify(issued.access_token)


def test_unknown_key_id_is_refused(aws: AwsClients, pool: Pool) -> None:
    claims = jwt.decode(tokens(aws, pool).id_token, options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "not-in-jwks"})
    with pytest.raises(AuthorizationError, match="not-in-jwks"):
        authorizer_for(aws, pool).verify(token)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  x.y.z ", "x.y.z"), ("x.y.z", "x.y.z")],
)
def test_bearer_header_forms(header: str, expected: str) -> None:
    assert bearer_token(header) == expected


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Bearer   "])
def test_missing_bearer_token_is_refused(header: str | None) -> None:
    with pytest.raises(AuthorizationError):
        bearer_token(header)
