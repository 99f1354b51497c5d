"""IMDSv2 client: the instance id and identity document, spot interruption notices and the ASG
target lifecycle state.

Every read first gets a session token (``PUT /latest/api/token``) and reuses it until shortly
before it expires; a 401 (token expired or revoked) fetches a new one once. The address is
configurable so tests point it at a fake metadata server on loopback.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Final

from worker.errors import WorkerError

TOKEN_PATH: Final = "/latest/api/token"  # noqa: S105 - a URL path, not a secret
TOKEN_TTL_SECONDS: Final = 21_600
#: Renew the token this long before it expires.
TOKEN_RENEW_MARGIN_SECONDS: Final = 60
TOKEN_TTL_HEADER: Final = "X-aws-ec2-metadata-token-ttl-seconds"  # noqa: S105
TOKEN_HEADER: Final = "X-aws-ec2-metadata-token"  # noqa: S105
INSTANCE_ID_PATH: Final = "/latest/meta-data/instance-id"
SPOT_ACTION_PATH: Final = "/latest/meta-data/spot/instance-action"
TARGET_LIFECYCLE_PATH: Final = "/latest/meta-data/autoscaling/target-lifecycle-state"
IDENTITY_DOCUMENT_PATH: Final = "/latest/dynamic/instance-identity/document"
REQUEST_TIMEOUT_SECONDS: Final = 2.0
#: Target lifecycle states of an instance headed for (or kept in) a warm pool.
WARMED_PREFIX: Final = "Warmed:"
#: Target lifecycle states that mean "this instance is going away": drain. Going back to the
#: warm pool (scale-in with instance reuse) counts: a warmed instance never claims.
LEAVING_STATES: Final = frozenset(
    {
        "Terminated",
        "Terminating",
        "Warmed:Terminated",
        "Warmed:Terminating",
        "Warmed:Stopped",
        "Warmed:Running",
        "Warmed:Hibernated",
        "Detached",
    }
)


class MetadataUnavailable(WorkerError):
    """The metadata service did not answer (not on EC2, or a network problem)."""


@dataclass(frozen=True)
class SpotNotice:
    """``{"action": "terminate", "time": "2026-11-28T03:00:00Z"}`` from the spot path."""

    action: str
    time: str | None


class InstanceMetadata:
    """A small IMDSv2 client. Thread-safe enough for one poller thread plus one-off reads."""

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token: str | None = None
        self._token_expires = 0.0

    def _request(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(  # noqa: S310 - the URL is our configured IMDS address
            self.base_url + path, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), ""
        except (urllib.error.URLError, OSError) as exc:
            raise MetadataUnavailable(f"metadata service at {self.base_url}: {exc}") from exc

    def _get_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token_expires:
            return self._token
        status, body = self._request("PUT", TOKEN_PATH, {TOKEN_TTL_HEADER: str(TOKEN_TTL_SECONDS)})
        if status != 200 or not body:
            raise MetadataUnavailable(f"metadata token request answered HTTP {status}")
        self._token = body
        self._token_expires = time.monotonic() + TOKEN_TTL_SECONDS - TOKEN_RENEW_MARGIN_SECONDS
        return body

    def get(self, path: str) -> str | None:
        """The item's text, or None when the service says it does not exist (404)."""
        for _attempt in range(2):
            status, body = self._request("GET", path, {TOKEN_HEADER: self._get_token()})
            if status == 200:
                return body
            if status == 404:
                return None
            if status == 401:
                self._token = None
                continue
            raise MetadataUnavailable(f"GET {path} answered HTTP {status}")
        raise MetadataUnavailable(f"GET {path}: the metadata token was refused twice")

    def instance_id(self) -> str:
        value = self.get(INSTANCE_ID_PATH)
        if not value:
            raise MetadataUnavailable("the metadata service has no instance-id")
        return value.strip()

    def identity_document(self) -> dict[str, Any]:
        """The instance identity document (``instanceId``, ``pendingTime``, ``imageId``, ...)."""
        body = self.get(IDENTITY_DOCUMENT_PATH)
        try:
            data = json.loads(body) if body else None
        except json.JSONDecodeError as exc:
            raise MetadataUnavailable(f"the identity document is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise MetadataUnavailable("the metadata service has no identity document")
        return data

    def spot_notice(self) -> SpotNotice | None:
        """The pending spot interruption, or None (the path is 404 until AWS sends one)."""
        body = self.get(SPOT_ACTION_PATH)
        if not body:
            return None
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            # The notice exists even if its body is unreadable; treat it as a terminate.
            return SpotNotice(action="terminate", time=None)
        if not isinstance(data, dict):
            return SpotNotice(action="terminate", time=None)
        return SpotNotice(action=str(data.get("action", "terminate")), time=data.get("time"))

    def target_lifecycle_state(self) -> str | None:
        """``InService``, ``Terminated``, ... or None outside an Auto Scaling group."""
        value = self.get(TARGET_LIFECYCLE_PATH)
        return value.strip() if value else None
