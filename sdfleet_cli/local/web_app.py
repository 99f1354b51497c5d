"""The web app locally: its runtime ``config.json`` and a static server for ``frontend/dist``.

One build serves every environment: the app reads ``/config.json`` beside ``index.html`` at
start. On Amplify, ``frontend/amplify.yml`` writes it from the branch's environment; locally
``sdfleet up`` writes it into the state directory (two stacks never share one, and a rebuild
of ``dist/`` cannot wipe it) and this server answers ``/config.json`` from there. Paths that
are not files get ``index.html``, as Amplify's ``404-200`` rewrite does, so the app's routes
survive a reload.
"""

from __future__ import annotations

import io
import json
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

CONFIG_NAME: Final = "config.json"
#: Files the browser must always fetch again (the config changes with each stack).
_NO_STORE: Final = frozenset({"/", "/index.html", f"/{CONFIG_NAME}"})


def web_config(
    *, api_url: str, region: str, user_pool_id: str, client_id: str, cognito_endpoint: str | None
) -> dict[str, Any]:
    """What the app needs at run time (the keys amplify.yml writes, plus the emulator's)."""
    config: dict[str, Any] = {
        "apiUrl": api_url,
        "region": region,
        "userPoolId": user_pool_id,
        "userPoolClientId": client_id,
    }
    if cognito_endpoint:
        # The emulator confirms a sign-up with any code; the page says so.
        config["cognitoEndpoint"] = cognito_endpoint
        config["local"] = True
    return config


def write_web_config(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(config, indent=2) + "\n")
    temporary.replace(path)
    return path


class WebAppHandler(SimpleHTTPRequestHandler):
    """Static files of the build; ``/config.json`` from ``config_path``; SPA fallback."""

    config_path: Path

    def send_head(self) -> Any:
        route = urlsplit(self.path).path
        if route == f"/{CONFIG_NAME}":
            return self._send_config()
        if route != "/" and not Path(self.translate_path(route)).exists():
            # An app route (e.g. /history): the app's index.html, as on Amplify.
            self.path = "/index.html"
        return super().send_head()

    def end_headers(self) -> None:
        if urlsplit(self.path).path in _NO_STORE:
            self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _send_config(self) -> Any:
        try:
            body = self.config_path.read_bytes()
        except OSError:
            self.send_error(404, f"{CONFIG_NAME} has not been written")
            return None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: ``sdfleet up``'s console is for the fleet, not for every file served."""


def web_app_server(build_dir: Path, config_path: Path, port: int) -> ThreadingHTTPServer:
    """A server on loopback for ``build_dir``, answering ``/config.json`` from ``config_path``."""

    class Handler(WebAppHandler):
        pass

    Handler.config_path = config_path

    def handler(*args: Any, **kwargs: Any) -> Handler:
        return Handler(*args, directory=str(build_dir), **kwargs)

    return ThreadingHTTPServer(("127.0.0.1", port), handler)
