"""The web app's local serving: /config.json from the state directory, SPA routes, and the
emulator's Cognito RevokeToken that the app's sign-out calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from sdfleet.aws import AwsClients
from sdfleet_cli.local.cognito import LocalUsers
from sdfleet_cli.local.web_app import web_app_server, web_config, write_web_config
from tests.integration.local.conftest import Pool

pytestmark = pytest.mark.emulator


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    build = tmp_path / "dist"
    (build / "assets").mkdir(parents=True)
    (build / "index.html").write_text("<!doctype html><title>app</title>")
    (build / "assets" / "app.js").write_text("console.log(1)")
    config = tmp_path / "state" / "config.json"
    server = web_app_server(build, config, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", config
    finally:
        server.shutdown()
        server.server_close()


def test_config_json_comes_from_the_state_directory(served: tuple[str, Path]) -> None:
    url, config_path = served
    assert requests.get(f"{url}/config.json", timeout=5).status_code == 404
    config = web_config(
        api_url="http://127.0.0.1:1/",
        region="us-east-1",
        user_pool_id="us-east-1_abc",
        client_id="client",
        cognito_endpoint="http://127.0.0.1:2",
    )
    write_web_config(config_path, config)
    response = requests.get(f"{url}/config.json", timeout=5)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json() == {
        "apiUrl": "http://127.0.0.1:1/",
        "region": "us-east-1",
        "userPoolId": "us-east-1_abc",
        "userPoolClientId": "client",
        "cognitoEndpoint": "http://127.0.0.1:2",
        "local": True,
    }


def test_config_for_aws_has_no_emulator_keys() -> None:
    config = web_config(
        api_url="https://api", region="eu-west-1", user_pool_id="p", client_id="c",
        cognito_endpoint=None,
    )  # fmt: skip
    assert set(config) == {"apiUrl", "region", "userPoolId", "userPoolClientId"}


def test_app_routes_get_index_html_and_files_stay_files(served: tuple[str, Path]) -> None:
    url, _ = served
    route = requests.get(f"{url}/history", timeout=5)
    assert route.status_code == 200
    assert "<title>app</title>" in route.text
    assert route.headers["Cache-Control"] == "no-store"
    asset = requests.get(f"{url}/assets/app.js", timeout=5)
    assert asset.text == "console.log(1)"
    assert "Cache-Control" not in asset.headers


def test_revoke_token_refuses_later_refreshes(aws: AwsClients, pool: Pool) -> None:
    cognito = aws.cognito_idp()
    LocalUsers(cognito, pool.pool_id, pool.client_id).ensure_user("web-user", "Web-User-Passw0rd")
    tokens = cognito.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "web-user", "PASSWORD": "Web-User-Passw0rd"},
    )["AuthenticationResult"]
    refresh = {"REFRESH_TOKEN": tokens["RefreshToken"]}
    cognito.initiate_auth(
        ClientId=pool.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters=refresh
    )
    # Another client's revoke does not touch it; its own does.
    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=pool.other_client_id)
    cognito.initiate_auth(
        ClientId=pool.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters=refresh
    )
    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=pool.client_id)
    with pytest.raises(ClientError) as refused:
        cognito.initiate_auth(
            ClientId=pool.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters=refresh
        )
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
