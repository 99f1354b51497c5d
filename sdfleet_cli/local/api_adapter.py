"""The HTTP API on loopback: each request becomes an API Gateway HTTP API (payload 2.0) event
for the real ingest Lambda handler, after the JWT authorizer's checks.

What API Gateway does and this adapter repeats: CORS preflights are answered without auth;
every other route needs ``Authorization: Bearer <JWT>`` that the Cognito JWT authorizer
accepts (401 ``{"message":"Unauthorized"}`` otherwise, the handler is never called); claims
reach the handler as strings in ``requestContext.authorizer.jwt.claims``; the handler's
response (a dict with ``statusCode`` or any JSON value) becomes the HTTP response. One
request is handled at a time, like one Lambda instance.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from sdfleet_cli.local.errors import AuthorizationError
from sdfleet_cli.local.jwt_authorizer import JwtAuthorizer, bearer_token
from sdfleet_cli.local.lambda_context import ACCOUNT_ID, LambdaContext

#: API Gateway's payload limit for HTTP APIs.
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
CORS_ALLOW_HEADERS: Final = "authorization,content-type,idempotency-key"
CORS_ALLOW_METHODS: Final = "GET,POST,PUT,PATCH,DELETE,OPTIONS"
#: As Terraform's ``cors_expose_headers``: the web app reads Retry-After on 429/503.
CORS_EXPOSE_HEADERS: Final = "content-type,location,retry-after,idempotent-replayed"
CORS_MAX_AGE: Final = "600"
#: Routes API Gateway serves without the authorizer (the published OpenAPI document).
DEFAULT_PUBLIC_PATHS: Final = frozenset({"/openapi.json"})
_TEXT_TYPES: Final = ("text/", "application/json", "application/xml", "application/yaml")

Handler = Callable[[dict[str, Any], Any], Any]
logger = logging.getLogger(__name__)


def claims_as_strings(claims: Mapping[str, Any]) -> dict[str, str]:
    """API Gateway hands claims over as strings; lists become ``[a b]``."""
    result: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            result[name] = "[" + " ".join(str(item) for item in value) + "]"
        elif isinstance(value, bool):
            result[name] = str(value).lower()
        else:
            result[name] = str(value)
    return result


def _is_text(content_type: str | None) -> bool:
    return bool(content_type) and str(content_type).startswith(_TEXT_TYPES)


def build_event(
    *,
    method: str,
    target: str,
    headers: Message,
    body: bytes,
    source_ip: str,
    host: str,
    claims: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """An HTTP API payload format 2.0 event for the ``$default`` route."""
    split = urlsplit(target)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers.items():
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    text = _is_text(merged.get("content-type")) or not body
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": "local",
        "domainName": host,
        "domainPrefix": host.split(".")[0],
        "http": {
            "method": method,
            "path": split.path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims_as_strings(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": merged,
        "requestContext": context,
        "isBase64Encoded": not text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = body.decode() if text else base64.b64encode(body).decode()
    return event


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str] = field(default_factory=list)


def parse_result(result: Any) -> HttpResponse:
    """Lambda's result as API Gateway reads it (payload 2.0)."""
    if isinstance(result, dict) and "statusCode" in result:
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(name)] = ",".join(str(v) for v in values)
        return HttpResponse(
            int(result["statusCode"]), headers, body, list(result.get("cookies") or [])
        )
    # Anything else is a JSON 200, as API Gateway infers for payload 2.0.
    return HttpResponse(200, {"content-type": "application/json"}, json.dumps(result).encode())


class ApiAdapter:
    """Authorizes and dispatches; independent of the HTTP server so tests can call it."""

    def __init__(
        self,
        handler_factory: Callable[[], Handler],
        authorizer: JwtAuthorizer,
        public_paths: Iterable[str] = DEFAULT_PUBLIC_PATHS,
    ) -> None:
        self._handler_factory = handler_factory
        self._handler: Handler | None = None
        self.authorizer = authorizer
        self.public_paths = frozenset(public_paths)
        self._lock = threading.Lock()

    def authorize(self, path: str, authorization: str | None) -> dict[str, Any] | None:
        if path in self.public_paths and not authorization:
            return None
        return self.authorizer.verify(bearer_token(authorization))

    def invoke(self, event: dict[str, Any]) -> HttpResponse:
        with self._lock:
            if self._handler is None:
                self._handler = self._handler_factory()
            try:
                result = self._handler(event, LambdaContext(function_name="sdfleet-ingest-local"))
            except Exception:
                # API Gateway answers a Lambda crash with a bare 500.
                logger.exception("ingest handler raised")
                return HttpResponse(
                    500,
                    {"content-type": "application/json"},
                    b'{"message":"Internal Server Error"}',
                )
        return parse_result(result)


def _cors_headers(origin: str | None) -> dict[str, str]:
    return {
        "access-control-allow-origin": origin or "*",
        "access-control-allow-headers": CORS_ALLOW_HEADERS,
        "access-control-allow-methods": CORS_ALLOW_METHODS,
        "access-control-expose-headers": CORS_EXPOSE_HEADERS,
        "access-control-max-age": CORS_MAX_AGE,
        "vary": "origin",
    }


def make_request_handler(adapter: ApiAdapter) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sdfleet-local-api"

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("%s %s", self.address_string(), format % args)

        def _send(self, response: HttpResponse) -> None:
            self.send_response(response.status)
            headers = _cors_headers(self.headers.get("Origin"))
            headers.update({name.lower(): value for name, value in response.headers.items()})
            headers["content-length"] = str(len(response.body))
            for name, value in headers.items():
                self.send_header(name, value)
            for cookie in response.cookies:
                self.send_header("set-cookie", cookie)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _json(self, status: int, message: str) -> HttpResponse:
            body = json.dumps({"message": message}).encode()
            return HttpResponse(status, {"content-type": "application/json"}, body)

        def do_OPTIONS(self) -> None:
            self._send(HttpResponse(204, {}, b""))

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(self._json(413, "Request Entity Too Large"))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            try:
                claims = adapter.authorize(path, self.headers.get("Authorization"))
            except AuthorizationError as exc:
                logger.info("401 %s %s: %s", self.command, path, exc)
                self._send(self._json(401, "Unauthorized"))
                return
            event = build_event(
                method=self.command,
                target=self.path,
                headers=self.headers,
                body=body,
                source_ip=self.client_address[0],
                host=self.headers.get("Host") or "127.0.0.1",
                claims=claims,
            )
            self._send(adapter.invoke(event))

        # BaseHTTPRequestHandler looks methods up as do_<METHOD>.
        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch  # noqa: N815

    return RequestHandler


class ApiServer:
    """The adapter behind a threaded HTTP server on loopback."""

    def __init__(self, adapter: ApiAdapter, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), make_request_handler(adapter))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="api-adapter", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
