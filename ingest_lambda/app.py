"""Builds the API from settings and clients (tests pass the emulator's, Lambda its own)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from ingest_lambda.adapters import AdapterService
from ingest_lambda.idempotency import IdempotentJobSubmitter
from ingest_lambda.limits import DELETE_BATCH_SIZE
from ingest_lambda.routes import register_routes
from ingest_lambda.services import IngestService
from sdfleet.aws import AwsClients
from sdfleet.deletion import DeletionStore
from sdfleet.heartbeats import HeartbeatStore
from sdfleet.settings import IngestSettings
from sdfleet.store import JobStore
from sdfleet.webhook_secrets import WebhookSecrets
from sdfleet.webhook_settings import WebhookPolicySettings


def build_service(
    settings: IngestSettings, clients: AwsClients, delete_batch_size: int = DELETE_BATCH_SIZE
) -> IngestService:
    dynamodb = clients.dynamodb()
    webhooks = WebhookPolicySettings(
        aws_endpoint_url=settings.aws_endpoint_url,
        aws_region=settings.aws_region,
        ssm_path=settings.ssm_path,
    )
    return IngestService(
        settings,
        s3=clients.s3(),
        sqs=clients.sqs(),
        jobs=JobStore(dynamodb, settings.jobs_table, ttl_days=settings.record_ttl_days),
        heartbeats=HeartbeatStore(dynamodb, settings.workers_table),
        deletions=DeletionStore(dynamodb, settings.jobs_table),
        delete_batch_size=delete_batch_size,
        webhooks=webhooks,
        webhook_secrets=WebhookSecrets(clients.ssm(), webhooks.webhook_secrets_path),
    )


def build_app(
    settings: IngestSettings, clients: AwsClients, delete_batch_size: int = DELETE_BATCH_SIZE
) -> APIGatewayHttpResolver:
    """The API; ``delete_batch_size`` (keys per S3 DeleteObjects call) defaults to S3's max."""
    service = build_service(settings, clients, delete_batch_size)
    submitter = IdempotentJobSubmitter(
        clients.dynamodb(), settings.idempotency_table, service.accept_job
    )
    app = APIGatewayHttpResolver()
    register_routes(app, service, submitter, AdapterService(settings, clients.s3()))
    return app
