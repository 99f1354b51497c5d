"""Where ``submit``/``status``/``logs`` find the fleet: the local stack's ``local.json`` by
default, or the regular settings (flags > ``SDFLEET_*`` environment > SSM) for real AWS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sdfleet.errors import ConfigurationError
from sdfleet.settings import FleetSettings
from sdfleet_cli.local.state import StateDir


@dataclass(frozen=True)
class ClientConfig:
    endpoint_url: str | None
    region: str
    interactive_queue_url: str
    batch_queue_url: str
    interactive_dlq_url: str | None
    batch_dlq_url: str | None
    training_queue_url: str | None
    training_dlq_url: str | None
    bucket: str
    jobs_table: str
    workers_table: str
    asg_name: str | None
    #: The owner of batch jobs sent from here (the local tenant), when known.
    tenant: str | None
    logs_dir: Path | None
    api_url: str | None

    def dlq_url(self, lane: str) -> str | None:
        return {
            "interactive": self.interactive_dlq_url,
            "training": self.training_dlq_url,
            "batch": self.batch_dlq_url,
        }.get(lane)

    def queue_url(self, lane: str) -> str:
        url = {
            "interactive": self.interactive_queue_url,
            "training": self.training_queue_url,
            "batch": self.batch_queue_url,
        }.get(lane)
        if not url:
            raise ConfigurationError(f"no queue URL configured for the {lane} lane")
        return url


def load_client_config(
    state_dir: StateDir, use_aws: bool = False, asg_name: str | None = None
) -> ClientConfig:
    """``local.json`` unless ``use_aws``; then :class:`FleetSettings` (env and SSM)."""
    if not use_aws:
        state = state_dir.read()
        return ClientConfig(
            endpoint_url=state.aws_endpoint_url,
            region=state.region,
            interactive_queue_url=state.interactive_queue_url,
            batch_queue_url=state.batch_queue_url,
            interactive_dlq_url=state.interactive_dlq_url,
            batch_dlq_url=state.batch_dlq_url,
            training_queue_url=state.training_queue_url,
            training_dlq_url=state.training_dlq_url,
            bucket=state.bucket,
            jobs_table=state.jobs_table,
            workers_table=state.workers_table,
            asg_name=state.asg_name,
            tenant=state.local_tenant,
            logs_dir=Path(state.logs_dir),
            api_url=state.api_url,
        )
    settings = FleetSettings()
    return ClientConfig(
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
        interactive_queue_url=settings.interactive_queue_url,
        batch_queue_url=settings.batch_queue_url,
        interactive_dlq_url=settings.interactive_dlq_url,
        batch_dlq_url=settings.batch_dlq_url,
        training_queue_url=settings.training_queue_url,
        training_dlq_url=settings.training_dlq_url,
        bucket=settings.bucket,
        jobs_table=settings.jobs_table,
        workers_table=settings.workers_table,
        asg_name=asg_name,
        tenant=None,
        logs_dir=None,
        api_url=None,
    )
