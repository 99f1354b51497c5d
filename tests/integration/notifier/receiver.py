"""A webhook receiver on loopback that verifies every signature and answers from a script."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sdfleet.webhook_signing import SignatureInvalid, verify


@dataclass(frozen=True)
class Delivery:
    path: str
    event_id: str
    body: dict[str, Any]
    signature_ok: bool


@dataclass
class Receiver:
    """``answer(path, n)`` gives (status, headers) for the n-th request (1-based) to ``path``."""

    secret_for: Callable[[str], str]
    answer: Callable[[str, int], tuple[int, dict[str, str]]] = lambda path, n: (200, {})
    deliveries: list[Delivery] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    #: time.time() of each delivery's arrival (same order as ``deliveries``).
    arrivals: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                body = json.loads(raw)
                try:
                    verify(receiver.secret_for(body["owner"]), dict(self.headers), raw)
                    ok = True
                except SignatureInvalid:
                    ok = False
                arrived = time.time()
                with lock:
                    receiver.arrivals.append(arrived)
                    n = receiver.counts.get(self.path, 0) + 1
                    receiver.counts[self.path] = n
                    receiver.deliveries.append(
                        Delivery(self.path, self.headers.get("webhook-id", ""), body, ok)
                    )
                status, headers = receiver.answer(self.path, n)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def for_path(self, path: str) -> list[Delivery]:
        return [d for d in list(self.deliveries) if d.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
