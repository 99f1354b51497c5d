"""webhook_url at submission: SSRF refusals are a 400 naming the field and the rule and write
nothing; an accepted URL travels on the record and the message; the secret rotates."""

from __future__ import annotations

import json

import pytest

from sdfleet.webhook_secrets import WebhookSecrets
from sdfleet.webhook_settings import WebhookPolicySettings
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import USER_A, IngestApi

pytestmark = pytest.mark.emulator

OK = {"prompt": "a cat", "steps": 4}
PUBLIC_HOOK = "https://93.184.216.34/hooks/sdfleet"


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://127.0.0.1/h", "loopback_address"),
        ("https://169.254.169.254/latest/meta-data/", "metadata_address"),
        ("https://10.0.0.8/h", "private_address"),
        ("https://[::1]:8443/h", "loopback_address"),
        ("https://localhost/h", "loopback_address"),
        ("http://93.184.216.34/h", "https_only"),
        ("ftp://93.184.216.34/h", "malformed"),
    ],
)
def test_refused_webhook_url_is_400_naming_field_and_rule(
    shared_api: IngestApi, url: str, rule: str
) -> None:
    before = shared_api.state()
    response = shared_api.call(event("create_job", body={**OK, "webhook_url": url}))
    assert response.status == 400, response.body
    assert response.error["field"] == "webhook_url"
    assert rule in response.error["message"]
    assert shared_api.state() == before


def test_accepted_webhook_url_is_on_record_message_and_job_view(api: IngestApi) -> None:
    response = api.call(event("create_job", body={**OK, "webhook_url": PUBLIC_HOOK}))
    assert response.status == 202, response.body
    job_id = response.body["job_id"]
    assert api.fleet.job_store().get(job_id).webhook_url == PUBLIC_HOOK
    (message,) = api.receive(api.fleet.queues.interactive_url)
    assert message["webhook_url"] == PUBLIC_HOOK
    view = api.call(event("get_job", path_params={"job_id": job_id}))
    assert view.body["webhook_url"] == PUBLIC_HOOK
    assert view.body["webhook_attempts"] == []
    # The owner's signing secret exists before the first event needs it.
    path = WebhookPolicySettings().webhook_secrets_path
    secret = WebhookSecrets(api.fleet.clients.ssm(), path).get_or_create(USER_A)
    assert secret.startswith("whsec_")


def test_rotation_shows_a_new_secret_that_signs_from_then_on(api: IngestApi) -> None:
    first = api.call(event("rotate_webhook_secret"))
    second = api.call(event("rotate_webhook_secret"))
    assert first.status == second.status == 201
    assert first.body["secret"] != second.body["secret"]
    path = WebhookPolicySettings().webhook_secrets_path
    stored = WebhookSecrets(api.fleet.clients.ssm(), path).get_or_create(USER_A)
    assert stored == second.body["secret"]
    assert (
        json.dumps(api.call(event("get_job", path_params={"job_id": "x"})).body).count("whsec_")
        == 0
    )
