"""Generates the OpenAPI 3.1 document of the HTTP API from the route table and the models.

``python -m ingest_lambda.openapi`` rewrites ``ingest_lambda/openapi.json``;
``--check`` exits 1 when the committed file is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ingest_lambda import API_VERSION
from ingest_lambda.api_spec import ROUTES, RouteSpec
from ingest_lambda.models import ErrorResponse
from ingest_lambda.routes import REPLAYED_HEADER

DOCUMENT_PATH: Final = Path(__file__).parent / "openapi.json"
OPENAPI_VERSION: Final = "3.1.0"
SECURITY_SCHEME: Final = "cognitoJwt"
_REF_TEMPLATE: Final = "#/components/schemas/{model}"
_RETRY_AFTER_STATUSES: Final = frozenset(
    {HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.CONFLICT}
)

Mode = Literal["validation", "serialization"]


def _models() -> list[tuple[type[BaseModel], Mode]]:
    models: list[tuple[type[BaseModel], Mode]] = [(ErrorResponse, "serialization")]
    for spec in ROUTES:
        if spec.request_model is not None:
            models.append((spec.request_model, "validation"))
        models.append((spec.response_model, "serialization"))
    return list(dict.fromkeys(models))


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(spec: RouteSpec, refs: Mapping[tuple[Any, Mode], dict[str, Any]]) -> dict[str, Any]:
    response_schema = refs[(spec.response_model, "serialization")]
    success: dict[str, Any] = {
        "description": spec.status.phrase,
        "content": _json_content(response_schema),
    }
    if spec.operation_id == "createJob":
        success["headers"] = {
            REPLAYED_HEADER: {
                "description": "`true` when the response repeats an earlier request's.",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    responses: dict[str, Any] = {str(int(spec.status)): success}
    for status, description in spec.other_statuses.items():
        responses[str(int(status))] = {
            "description": description,
            "content": _json_content(response_schema),
        }
    for status in spec.errors:
        error: dict[str, Any] = {
            "description": status.phrase,
            "content": _json_content(refs[(ErrorResponse, "serialization")]),
        }
        if status in _RETRY_AFTER_STATUSES:
            error["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying (429, 503, and 409 "
                    "while a request with the same key is in progress).",
                    "schema": {"type": "integer"},
                }
            }
        responses[str(int(status))] = error
    operation: dict[str, Any] = {
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "description": spec.description,
        "tags": [spec.path.strip("/").split("/")[0]],
        "responses": responses,
    }
    if spec.parameters:
        operation["parameters"] = [
            {
                "name": p.name,
                "in": p.location,
                "description": p.description,
                "required": p.required,
                "schema": p.schema,
            }
            for p in spec.parameters
        ]
    if spec.request_model is not None:
        operation["requestBody"] = {
            "required": True,
            "content": _json_content(refs[(spec.request_model, "validation")]),
        }
    return operation


def build_document() -> dict[str, Any]:
    refs, definitions = models_json_schema(_models(), ref_template=_REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, refs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "sdfleet ingest API",
            "version": API_VERSION,
            "description": (
                "Submit Stable Diffusion jobs, follow them and collect the images. Every "
                "request carries a Cognito JWT; the caller is its `sub` claim. Errors are "
                '`{"error": {"code", "message", "field"}}`.'
            ),
        },
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Cognito user pool token, checked by API Gateway's JWT "
                    "authorizer.",
                }
            },
        },
    }


def render_document() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render_document()
    if args.check:
        current = DOCUMENT_PATH.read_text() if DOCUMENT_PATH.exists() else ""
        if current != text:
            print(f"{DOCUMENT_PATH} is stale: run python -m ingest_lambda.openapi", file=sys.stderr)
            return 1
        print(f"{DOCUMENT_PATH} is up to date")
        return 0
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
