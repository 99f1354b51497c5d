"""``/models``: a user lists, reads (with a presigned download), and deletes their own trained
adapters; another user can do none of it (404, nothing changed); ``DELETE /me`` removes them."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from sdfleet.deletion import DEFAULT_SETTLE_SECONDS
from sdfleet.keys import adapter_key, adapter_metadata_key, checkpoint_key, models_root
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import USER_A, USER_B, ApiResponse, IngestApi

pytestmark = pytest.mark.emulator

ADAPTER = b"safetensors bytes of a LoRA"


def put_adapter(api: IngestApi, owner: str, adapter_id: str, created: str) -> None:
    s3, bucket = api.clients.s3(), api.settings.bucket
    s3.put_object(Bucket=bucket, Key=adapter_key(owner, adapter_id), Body=ADAPTER)
    metadata = {
        "adapter_id": adapter_id,
        "base_model": "tiny",
        "rank": "4",
        "steps": "24",
        "instance_prompt": "sks toy",
        "created_at": created,
        "loss_curve": [1.2, 0.9],
    }
    s3.put_object(
        Bucket=bucket,
        Key=adapter_metadata_key(owner, adapter_id),
        Body=json.dumps(metadata).encode(),
    )


def call(api: IngestApi, method: str, sub: str, adapter_id: str | None = None) -> ApiResponse:
    ev: dict[str, Any] = event("get_job", sub=sub)
    route = "/models" if adapter_id is None else "/models/{adapter_id}"
    ev["routeKey"] = f"{method} {route}"
    ev["requestContext"]["http"]["method"] = method
    if adapter_id is None:
        ev.pop("pathParameters", None)
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/models"
    else:
        ev["pathParameters"] = {"adapter_id": adapter_id}
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = f"/models/{adapter_id}"
    return api.call(ev)


def test_an_owner_lists_downloads_and_deletes_their_models(api: IngestApi) -> None:
    put_adapter(api, USER_A, "t-old", "2026-01-01T00:00:00+00:00")
    put_adapter(api, USER_A, "t-new", "2026-02-01T00:00:00+00:00")
    # A training still running has only its checkpoint: not a model yet.
    api.clients.s3().put_object(
        Bucket=api.settings.bucket, Key=checkpoint_key(USER_A, "t-running"), Body=b"ckpt"
    )
    listed = call(api, "GET", USER_A)
    assert listed.status == 200
    assert [item["adapter_id"] for item in listed.body["items"]] == ["t-new", "t-old"]
    assert listed.body["items"][0]["rank"] == 4
    assert listed.body["items"][0]["size_bytes"] == len(ADAPTER)

    shown = call(api, "GET", USER_A, "t-new")
    assert shown.status == 200 and shown.body["loss_curve"] == [1.2, 0.9]
    assert shown.body["expires_in"] == api.settings.output_url_expires_seconds
    with urllib.request.urlopen(shown.body["download_url"]) as response:  # noqa: S310 (emulator)
        assert response.read() == ADAPTER

    deleted = call(api, "DELETE", USER_A, "t-new")
    assert deleted.status == 200 and deleted.body["objects_deleted"] == 2
    assert call(api, "GET", USER_A, "t-new").status == 404
    assert [i["adapter_id"] for i in call(api, "GET", USER_A).body["items"]] == ["t-old"]


def test_another_user_cannot_list_read_download_or_delete_them(api: IngestApi) -> None:
    put_adapter(api, USER_A, "t-mine", "2026-01-01T00:00:00+00:00")
    before = api.state()
    assert call(api, "GET", USER_B).body == {"items": []}
    for method in ("GET", "DELETE"):
        refused = call(api, method, USER_B, "t-mine")
        assert refused.status == 404, refused.body
        assert "download_url" not in json.dumps(refused.body)
    # Not a way out of the caller's prefix either.
    assert call(api, "GET", USER_B, "..").status == 404
    assert api.state() == before


def test_delete_me_removes_my_models(api: IngestApi) -> None:
    put_adapter(api, USER_A, "t-mine", "2026-01-01T00:00:00+00:00")
    put_adapter(api, USER_B, "t-theirs", "2026-01-01T00:00:00+00:00")
    assert api.call(event("delete_me", sub=USER_A)).status == 202
    api.purge(USER_A, seconds_later=DEFAULT_SETTLE_SECONDS + 1)
    assert api.object_keys(models_root(USER_A)) == []
    assert call(api, "GET", USER_A).body == {"items": []}
    assert api.object_keys(models_root(USER_B)) != []
