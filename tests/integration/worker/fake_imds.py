"""A tiny fake EC2 instance metadata service (IMDSv2) on loopback, switchable at run time.

It implements the token flow (PUT /latest/api/token; GETs without a valid token get 401), the
instance id, the instance identity document (its ``pendingTime`` settable: a stop and start),
the spot ``instance-action`` item (404 until a notice is set) and the Auto Scaling
``target-lifecycle-state`` item. Tests flip the notices while a worker polls it.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeImds:
    def __init__(self, instance_id: str = "i-0123456789abcdef0") -> None:
        self.instance_id = instance_id
        self.spot_action: dict[str, str] | None = None
        self.lifecycle_state: str | None = "InService"
        #: The identity document's ``pendingTime`` (EC2 writes it at every start): a launch a
        #: minute before the fake started.
        launched = datetime.now(UTC) - timedelta(seconds=60)
        self.pending_time = launched.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.image_id = "ami-0123456789abcdef0"
        self.instance_type = "g5.xlarge"
        self.tokens: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeImds:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def notify_spot(self, action: str = "terminate", time: str = "2026-11-28T03:00:00Z") -> None:
        with self._lock:
            self.spot_action = {"action": action, "time": time}

    def restart_instance(self, pending_time: str) -> None:
        """A stop and start: EC2 writes the identity document again with the new start."""
        with self._lock:
            self.pending_time = pending_time

    def set_lifecycle_state(self, state: str | None) -> None:
        with self._lock:
            self.lifecycle_state = state

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def paths_requested(self) -> list[str]:
        with self._lock:
            return [path for _, path in self.requests]

    def _answer(self, method: str, path: str, headers: Any) -> tuple[int, str]:
        with self._lock:
            self.requests.append((method, path))
            if method == "PUT":
                if path != "/latest/api/token":
                    return 405, ""
                if not headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return 400, ""
                token = secrets.token_urlsafe(16)
                self.tokens.add(token)
                return 200, token
            if headers.get("X-aws-ec2-metadata-token") not in self.tokens:
                return 401, ""
            if path == "/latest/meta-data/instance-id":
                return 200, self.instance_id
            if path == "/latest/dynamic/instance-identity/document":
                document = {
                    "instanceId": self.instance_id,
                    "pendingTime": self.pending_time,
                    "imageId": self.image_id,
                    "instanceType": self.instance_type,
                    "region": "us-east-1",
                }
                return 200, json.dumps(document)
            if path == "/latest/meta-data/spot/instance-action":
                if self.spot_action is None:
                    return 404, ""
                return 200, json.dumps(self.spot_action)
            if path == "/latest/meta-data/autoscaling/target-lifecycle-state":
                if self.lifecycle_state is None:
                    return 404, ""
                return 200, self.lifecycle_state
            return 404, ""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                status, body = fake._answer(method, self.path, self.headers)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply("GET")

            def do_PUT(self) -> None:
                self._reply("PUT")

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
