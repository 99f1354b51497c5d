"""One webhook POST to exactly the addresses the SSRF check approved, never following redirects.

``http.client`` never follows redirects by itself; the connection is opened to the checked
address (not a fresh DNS lookup), with TLS verified against the URL's host name.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final

from sdfleet.webhook_urls import CheckedUrl

USER_AGENT: Final = "sdfleet-webhooks/1"
#: Bytes of a response body read (and kept for the attempt's detail); the rest is ignored.
RESPONSE_PREVIEW_BYTES: Final = 256


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class HttpResult:
    status_code: int | None
    latency_ms: float
    retry_after_seconds: float | None = None
    error: str | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def post(
    checked: CheckedUrl, body: str, headers: dict[str, str], timeout_seconds: float
) -> HttpResult:
    """POSTs once; tries the approved addresses in turn only when a connection fails."""
    started = time.monotonic()
    last_error = "no address"
    for address in checked.addresses:
        connection_class = (
            _PinnedHTTPSConnection if checked.scheme == "https" else _PinnedHTTPConnection
        )
        connection = connection_class(checked.host, checked.port, address, timeout_seconds)
        try:
            connection.request(
                "POST",
                checked.target,
                body=body.encode(),
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT} | headers,
            )
            response = connection.getresponse()
            response.read(RESPONSE_PREVIEW_BYTES)
            return HttpResult(
                status_code=response.status,
                latency_ms=(time.monotonic() - started) * 1000,
                retry_after_seconds=parse_retry_after(
                    response.getheader("Retry-After"), time.time()
                ),
            )
        except (OSError, http.client.HTTPException) as exc:
            last_error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            connection.close()
    return HttpResult(
        status_code=None, latency_ms=(time.monotonic() - started) * 1000, error=last_error
    )
