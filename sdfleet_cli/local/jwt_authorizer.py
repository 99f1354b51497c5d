"""The API Gateway JWT authorizer, locally: the same checks on the same Cognito tokens.

API Gateway's JWT authorizer (HTTP API) takes the bearer token, finds the signing key by
``kid`` in the issuer's JWKS, checks the RS256 signature, ``iss`` (the configured issuer),
``exp``/``nbf``/``iat``, and that ``aud`` or, when there is no ``aud``, ``client_id`` is one of
the configured audiences. The claims then reach the Lambda in
``requestContext.authorizer.jwt.claims``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any, Final

import jwt
from jwt.algorithms import RSAAlgorithm

from sdfleet_cli.local.errors import AuthorizationError

ALGORITHMS: Final = ("RS256",)
#: Clock skew API Gateway tolerates is not documented as larger than this; keep it small.
LEEWAY_SECONDS: Final = 0
JWKS_TIMEOUT_SECONDS: Final = 5.0
#: Refetch the JWKS at most this often when a token names an unknown ``kid``.
JWKS_REFRESH_SECONDS: Final = 60.0


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def emulator_jwks_url(endpoint_url: str, user_pool_id: str) -> str:
    return f"{endpoint_url.rstrip('/')}/{user_pool_id}/.well-known/jwks.json"


def bearer_token(header: str | None) -> str:
    if not header:
        raise AuthorizationError("missing Authorization header")
    scheme, _, token = header.strip().partition(" ")
    # API Gateway accepts the bare token as well as "Bearer <token>".
    token = token.strip() if scheme.lower() == "bearer" else header.strip()
    if not token:
        raise AuthorizationError("empty bearer token")
    return token


class JwtAuthorizer:
    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audiences: Iterable[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audiences = frozenset(audiences)
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _fetch_keys(self) -> None:
        try:
            with urllib.request.urlopen(self.jwks_url, timeout=JWKS_TIMEOUT_SECONDS) as response:  # noqa: S310 - the emulator's JWKS URL
                document = json.load(response)
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            raise AuthorizationError(f"JWKS at {self.jwks_url} unavailable: {exc}") from exc
        self._keys = {
            key["kid"]: RSAAlgorithm.from_jwk(json.dumps(key))
            for key in document.get("keys", [])
            if key.get("kty") == "RSA" and "kid" in key
        }
        self._fetched_at = time.monotonic()

    def _key(self, kid: str) -> Any:
        with self._lock:
            stale = time.monotonic() - self._fetched_at > JWKS_REFRESH_SECONDS
            if kid not in self._keys and (stale or not self._keys):
                self._fetch_keys()
            if kid not in self._keys:
                raise AuthorizationError(f"token key id {kid!r} is not in the issuer's JWKS")
            return self._keys[kid]

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or :class:`AuthorizationError` saying why it is refused."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthorizationError(f"malformed token: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise AuthorizationError(f"token algorithm {header.get('alg')!r} is not RS256")
        key = self._key(str(header.get("kid")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=list(ALGORITHMS),
                issuer=self.issuer,
                # Audience is checked below: Cognito access tokens carry client_id, not aud.
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iss"],
                },
            )
        except jwt.InvalidIssuerError as exc:
            raise AuthorizationError(f"token issuer is not {self.issuer}") from exc
        except jwt.PyJWTError as exc:
            raise AuthorizationError(f"invalid token: {exc}") from exc
        self._check_times(claims)
        self._check_audience(claims)
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        if float(claims["exp"]) <= now - LEEWAY_SECONDS:
            raise AuthorizationError("token has expired")
        not_before = claims.get("nbf")
        if not_before is not None and float(not_before) > now + LEEWAY_SECONDS:
            raise AuthorizationError("token is not valid yet")

    def _check_audience(self, claims: dict[str, Any]) -> None:
        audience = claims.get("aud")
        values = [audience] if isinstance(audience, str) else list(audience or [])
        if not values and "client_id" in claims:
            values = [claims["client_id"]]
        if not self.audiences.intersection(str(value) for value in values):
            raise AuthorizationError("token audience/client_id is not an allowed audience")
