"""The local emulator answers the web app's CORS preflight for Cognito (``OPTIONS /``) and
leaves S3's preflights to moto, which checks them against the bucket's CORS rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.test import Client

from sdfleet_cli.emulator import prepare_emulator
from sdfleet_cli.local.emulator_server import RootPreflight, SerialWhileRecording

ORIGIN = "http://127.0.0.1:8788"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-user-agent",
}


def _emulator() -> Client:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    prepare_emulator()
    return Client(
        RootPreflight(SerialWhileRecording(DomainDispatcherApplication(create_backend_app)))
    )


def test_a_cognito_preflight_is_allowed_for_the_origin() -> None:
    response = _emulator().open("/", method="OPTIONS", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert (
        response.headers["Access-Control-Allow-Headers"]
        == PREFLIGHT["Access-Control-Request-Headers"]
    )


def test_other_requests_reach_moto() -> None:
    reached: list[tuple[str, str]] = []

    def moto(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        reached.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        start_response("204 No Content", [])
        return [b""]

    client = Client(RootPreflight(moto))
    client.open("/", method="OPTIONS", headers={"Origin": ORIGIN})  # not a preflight
    client.open("/a-bucket", method="OPTIONS", headers=PREFLIGHT)  # S3: the bucket's rules
    client.post("/", headers={"Origin": ORIGIN, "X-Amz-Target": "Cognito.InitiateAuth"})
    assert reached == [("OPTIONS", "/"), ("OPTIONS", "/a-bucket"), ("POST", "/")]
