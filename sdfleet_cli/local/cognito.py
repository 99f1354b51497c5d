"""``sdfleet token USER``: a user in the emulator's Cognito pool and a bearer token for it.

Admin calls create the user (no e-mail round trip locally) and set a permanent password;
``InitiateAuth`` with USER_PASSWORD_AUTH then returns real RS256 tokens, the same kind the
hosted UI hands the web app.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

#: Local users get a password derived from the name: nothing to remember, nothing secret.
_PASSWORD_PREFIX: Final = "Local-"  # noqa: S105 - a prefix, not a secret
USERNAME_MAX_CHARS: Final = 128


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str
    expires_in: int


def local_password(username: str) -> str:
    digest = hashlib.sha256(username.encode()).hexdigest()[:16]
    # Upper, lower, digit and symbol: passes Cognito's default password policy.
    return f"{_PASSWORD_PREFIX}{digest}!A1"


def check_username(username: str) -> str:
    if not username or len(username) > USERNAME_MAX_CHARS or not username.isprintable():
        raise ValueError(f"user: {username!r} must be 1..{USERNAME_MAX_CHARS} printable characters")
    return username


class LocalUsers:
    def __init__(
        self, cognito: CognitoIdentityProviderClient, user_pool_id: str, client_id: str
    ) -> None:
        self._cognito = cognito
        self.user_pool_id = user_pool_id
        self.client_id = client_id

    def ensure_user(self, username: str, password: str | None = None) -> str:
        """Creates the user if needed and (re)sets its permanent password; returns it."""
        check_username(username)
        password = password or local_password(username)
        try:
            self._cognito.admin_create_user(
                UserPoolId=self.user_pool_id, Username=username, MessageAction="SUPPRESS"
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "UsernameExistsException":
                raise
        self._cognito.admin_set_user_password(
            UserPoolId=self.user_pool_id, Username=username, Password=password, Permanent=True
        )
        return password

    def sign_in(self, username: str, password: str) -> Tokens:
        result = self._cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )["AuthenticationResult"]
        return Tokens(
            id_token=result["IdToken"],
            access_token=result["AccessToken"],
            expires_in=int(result.get("ExpiresIn", 3600)),
        )

    def token_for(self, username: str) -> Tokens:
        return self.sign_in(username, self.ensure_user(username))
