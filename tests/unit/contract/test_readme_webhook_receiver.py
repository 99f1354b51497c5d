"""The README's ten-line webhook receiver accepts what the notifier signs and refuses a forgery."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sdfleet.webhook_signing import new_secret, signed_headers

README = Path(__file__).resolve().parents[3] / "README.md"


def _receiver_source() -> str:
    section = README.read_text().split("## Job events and webhooks", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's receiver block is missing"
    return match.group(1)


def _post(url: str, body: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_readme_receiver_verifies_signatures() -> None:
    secret = new_secret()
    source = _receiver_source().replace('"whsec_..."', repr(secret))
    serve_line = 'HTTPServer(("", 8080), Hook).serve_forever()'
    assert serve_line in source
    namespace: dict[str, Any] = {}
    exec(source.replace(serve_line, ""), namespace)  # noqa: S102 (our own README)
    server = namespace["HTTPServer"](("127.0.0.1", 0), namespace["Hook"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        body = '{"id": "evt_1", "status": "succeeded"}'
        headers = signed_headers(secret, "evt_1", body)
        assert _post(url, body, headers) == 204
        assert _post(url, body.replace("succeeded", "failed"), headers) == 401
        assert _post(url, body, signed_headers(new_secret(), "evt_1", body)) == 401
    finally:
        server.shutdown()
        server.server_close()
