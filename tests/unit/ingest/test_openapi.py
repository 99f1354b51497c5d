"""The committed OpenAPI document is current, complete and matches the routes served."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from ingest_lambda.api_spec import ROUTES
from ingest_lambda.app import build_app
from ingest_lambda.openapi import DOCUMENT_PATH, build_document, main, render_document
from sdfleet.aws import AwsClients
from sdfleet.settings import IngestSettings
from tests.fixtures.apigw.events import FakeLambdaContext, event


def test_committed_document_is_not_stale() -> None:
    assert DOCUMENT_PATH.read_text() == render_document(), (
        "ingest_lambda/openapi.json is stale: run `python -m ingest_lambda.openapi`"
    )
    assert main(["--check"]) == 0


def test_document_lists_every_route_with_its_statuses() -> None:
    document = build_document()
    operations = {
        (method.upper(), path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    assert set(operations) == {
        ("POST", "/uploads"),
        ("POST", "/jobs"),
        ("GET", "/jobs"),
        ("GET", "/jobs/{job_id}"),
        ("DELETE", "/jobs/{job_id}"),
        ("DELETE", "/me"),
        ("GET", "/me/deletion"),
        ("POST", "/me/webhook-secret"),
        ("GET", "/models"),
        ("GET", "/models/{adapter_id}"),
        ("DELETE", "/models/{adapter_id}"),
    }
    assert "404" in operations[("GET", "/models/{adapter_id}")]["responses"]
    # DELETE /me answers at once with the deletion; the web app polls GET /me/deletion.
    assert "202" in operations[("DELETE", "/me")]["responses"]
    assert "404" in operations[("GET", "/me/deletion")]["responses"]
    assert set(operations[("POST", "/jobs")]["responses"]) == {
        "202",
        "400",
        "401",
        "404",
        "409",
        "413",
        "429",
        "503",
    }
    assert "404" in operations[("GET", "/jobs/{job_id}")]["responses"]
    assert "202" in operations[("DELETE", "/jobs/{job_id}")]["responses"]
    job_request = document["components"]["schemas"]["JobRequest"]
    assert job_request["additionalProperties"] is False
    assert job_request["properties"]["steps"]["maximum"] == 100


def test_every_reference_resolves() -> None:
    document = build_document()
    schemas = document["components"]["schemas"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                assert ref.startswith("#/components/schemas/")
                assert ref.rsplit("/", 1)[1] in schemas, ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    json.dumps(document)


@pytest.mark.parametrize("spec", ROUTES, ids=lambda s: f"{s.method} {s.path}")
def test_every_documented_route_is_served_and_authenticates_first(spec: Any) -> None:
    """Unknown routes answer 404; a served one without a caller answers 401 before any AWS
    call (the clients point at a closed port)."""
    settings = IngestSettings(aws_endpoint_url="http://127.0.0.1:9", ssm_path=None)
    app = build_app(settings, AwsClients(endpoint_url="http://127.0.0.1:9", max_attempts=1))
    path = spec.path.replace("{job_id}", "abc123")
    ev = event("get_job", sub=None)
    ev["routeKey"] = ev["requestContext"]["routeKey"] = f"{spec.method} {spec.path}"
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = path
    ev["requestContext"]["http"]["method"] = spec.method
    response = app.resolve(ev, cast(LambdaContext, FakeLambdaContext()))
    assert response["statusCode"] == 401, response
