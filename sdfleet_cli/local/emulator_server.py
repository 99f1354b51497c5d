"""``python -m sdfleet_cli.local.emulator_server``: the local stack's moto server.

The shared emulator (:mod:`sdfleet_cli.emulator`: atomic DynamoDB writes, missing operations)
plus one thing the local stack needs for fast restarts (:mod:`sdfleet_cli.local.snapshot`):
while the request recorder is on, requests are handled one at a time, so the recorded
order is the order in which they consumed the seeded random generator, and a replay
rebuilds identical ids.
Outside recording, requests run concurrently (workers' long polls must not block others).

It also answers the browser's CORS preflights to ``/`` (Cognito's JSON API, which the web app
calls for sign-in): moto 5.2 dispatches such an ``OPTIONS`` as an operation without a name and
fails with a 500, so the browser never sends the sign-in. S3's preflights (``/<bucket>...``)
stay with moto, which checks them against the bucket's CORS rules.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import make_server

from sdfleet_cli.emulator import prepare_emulator

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialWhileRecording:
    """WSGI middleware: one request at a time while moto's recorder is enabled."""

    def __init__(self, app: WsgiApp) -> None:
        from moto.moto_api import recorder

        self._app = app
        self._recorder = recorder
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self._recorder._user_enabled:
            return self._app(environ, start_response)
        with self._lock:
            # Materialize the body inside the lock: the work happens while iterating.
            return list(self._app(environ, start_response))


class RootPreflight:
    """WSGI middleware: a CORS preflight to ``/`` allowed for any origin, as AWS's JSON APIs do."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        origin = environ.get("HTTP_ORIGIN")
        method = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
        if environ.get("REQUEST_METHOD") != "OPTIONS" or environ.get("PATH_INFO") != "/":
            return self._app(environ, start_response)
        if not origin or not method:
            return self._app(environ, start_response)
        headers = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", "GET,POST,OPTIONS"),
            (
                "Access-Control-Allow-Headers",
                environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "*"),
            ),
            ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin"),
            ("Content-Length", "0"),
        ]
        start_response("200 OK", headers)
        return [b""]


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    parser = argparse.ArgumentParser(description="the local stack's AWS emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    prepare_emulator()
    app = RootPreflight(SerialWhileRecording(DomainDispatcherApplication(create_backend_app)))
    server = make_server(args.host, args.port, app, True, request_handler=MotoRequestHandler)
    print(f"emulator listening on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
