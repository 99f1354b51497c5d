"""The Lambda entry point: ``ingest_lambda.handler.lambda_handler``.

The app (settings, clients, routes) is built on the first invocation and then reused, so
importing this module stays cheap and reads no configuration. Outside Lambda (the local
stack) the handler is called with API Gateway v2 events and any context object that has
``function_name``, ``memory_limit_in_mb``, ``invoked_function_arn`` and ``aws_request_id``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from ingest_lambda.logs import service_logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

logger = service_logger()

# Powertools keeps the current event on the resolver class, so one request at a time per
# process: Lambda guarantees that, and the lock keeps a threaded local server equally safe.
_lock = threading.Lock()
_default_app: APIGatewayHttpResolver | None = None


def default_app() -> APIGatewayHttpResolver:
    """The app for the settings in the environment (and SSM), built once."""
    global _default_app
    if _default_app is None:
        from ingest_lambda.app import build_app
        from sdfleet.aws import AwsClients
        from sdfleet.settings import IngestSettings

        settings = IngestSettings()
        _default_app = build_app(settings, AwsClients.from_settings(settings))
    return _default_app


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    with _lock:
        return default_app().resolve(event, context)
