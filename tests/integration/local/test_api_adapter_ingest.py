"""The adapter in front of the real ingest handler: each user sees only their own jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from ingest_lambda import handler as handler_module
from sdfleet import env
from sdfleet_cli.local.api_adapter import ApiAdapter, ApiServer
from sdfleet_cli.local.cognito import LocalUsers
from sdfleet_cli.local.jwt_authorizer import JwtAuthorizer, cognito_issuer, emulator_jwks_url
from tests.conftest import FleetResources
from tests.integration.local.conftest import Pool
from tests.support.aws_resources import create_idempotency_table, unique

pytestmark = pytest.mark.emulator


@pytest.fixture()
def api(fleet: FleetResources, pool: Pool, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in fleet.env().items():
        monkeypatch.setenv(name, value)
    idempotency = create_idempotency_table(fleet.clients, unique("idem"))
    monkeypatch.setenv(env.IDEMPOTENCY_TABLE, idempotency)
    # The handler builds its app from the environment once per process: start afresh.
    monkeypatch.setattr(handler_module, "_default_app", None)
    authorizer = JwtAuthorizer(
        emulator_jwks_url(fleet.clients.endpoint_url or "", pool.pool_id),
        cognito_issuer(fleet.clients.region, pool.pool_id),
        [pool.client_id],
    )
    server = ApiServer(ApiAdapter(lambda: handler_module.lambda_handler, authorizer))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def test_jobs_go_to_the_interactive_lane_and_stay_private(
    api: str, fleet: FleetResources, pool: Pool
) -> None:
    users = LocalUsers(fleet.clients.cognito_idp(), pool.pool_id, pool.client_id)
    alice = {"Authorization": f"Bearer {users.token_for('alice').id_token}"}
    bob = {"Authorization": f"Bearer {users.token_for('bob').access_token}"}
    created = requests.post(
        f"{api}/jobs",
        json={"kind": "txt2img", "prompt": "a lighthouse", "steps": 2, "width": 64, "height": 64},
        headers={**alice, "Idempotency-Key": "first"},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    again = requests.post(
        f"{api}/jobs",
        json={"kind": "txt2img", "prompt": "a lighthouse", "steps": 2, "width": 64, "height": 64},
        headers={**alice, "Idempotency-Key": "first"},
        timeout=30,
    )
    assert again.json()["job_id"] == job_id

    record = fleet.job_store().get(job_id)
    owner_sub = requests.get(f"{api}/jobs/{job_id}", headers=alice, timeout=30)
    assert owner_sub.status_code == 200
    assert owner_sub.json()["status"] == "queued"
    assert requests.get(f"{api}/jobs/{job_id}", headers=bob, timeout=30).status_code == 404
    assert requests.get(f"{api}/jobs", headers=bob, timeout=30).json()["items"] == []
    mine = requests.get(f"{api}/jobs", headers=alice, timeout=30).json()["items"]
    assert [job["job_id"] for job in mine] == [job_id]

    messages = fleet.clients.sqs().receive_message(
        QueueUrl=fleet.queues.interactive_url, MaxNumberOfMessages=10
    )["Messages"]
    assert [json.loads(m["Body"])["job_id"] for m in messages] == [job_id]
    assert record.owner != "alice"  # the owner is the token's sub, not the user name

    invalid = requests.post(
        f"{api}/jobs", json={"prompt": "x", "steps": 500}, headers=alice, timeout=30
    )
    assert invalid.status_code == 400
    assert "steps" in invalid.text
    assert requests.get(f"{api}/jobs", timeout=30).status_code == 401
