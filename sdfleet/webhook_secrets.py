"""Each owner's webhook signing secret, a SecureString in SSM under one path.

Created on first need (a job with a ``webhook_url``, or a send); ``POST /me/webhook-secret``
replaces it and shows the new one once. Nothing else ever returns it.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from sdfleet.webhook_signing import new_secret

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

#: SSM parameter names allow these; any other owner is named by its hash.
_SAFE_OWNER: Final = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class WebhookSecrets:
    def __init__(self, ssm: SSMClient, path: str) -> None:
        self._ssm = ssm
        self._path = path if path.endswith("/") else path + "/"

    def parameter_name(self, owner: str) -> str:
        name = owner if _SAFE_OWNER.match(owner) else hashlib.sha256(owner.encode()).hexdigest()
        return f"{self._path}{name}"

    def get_or_create(self, owner: str) -> str:
        name = self.parameter_name(owner)
        try:
            return self._ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ParameterNotFound":
                raise
        try:
            self._ssm.put_parameter(Name=name, Value=new_secret(), Type="SecureString")
        except ClientError as exc:
            # Another writer created it between our read and write: theirs wins.
            if exc.response.get("Error", {}).get("Code") != "ParameterAlreadyExists":
                raise
        return self._ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]

    def rotate(self, owner: str) -> str:
        secret = new_secret()
        self._ssm.put_parameter(
            Name=self.parameter_name(owner), Value=secret, Type="SecureString", Overwrite=True
        )
        return secret
