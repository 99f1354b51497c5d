"""Wiring: every stage of the worker built from the settings and the AWS clients, once.

The loop (:mod:`worker.daemon`) only calls into what is built here; each stage gets the
gateways and collaborators it needs through its constructor, so its unit tests pass fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from sdfleet.aws import AwsClients
from sdfleet.heartbeats import HeartbeatStore, WorkerState
from sdfleet.messages import Lane
from sdfleet.settings import WorkerSettings
from sdfleet.store import JobStore
from worker.accept import Acceptor
from worker.acks import Acknowledger
from worker.claim import Claimer
from worker.complete import Completer
from worker.fair_window import FairPoller
from worker.gateways import SqsGateway
from worker.groups import GroupRunner, Receiver
from worker.inputs import InputLoader
from worker.intake import MessageIntake
from worker.jobs import Group, PendingGroup
from worker.lanes import LanePoller, ReceivedMessage
from worker.lease_keeper import LeaseKeeper
from worker.lifecycle import Drain, TerminationWatcher, record_lifecycle_heartbeat
from worker.metadata import InstanceMetadata
from worker.metrics import JobMetrics
from worker.outputs import OutputWriter
from worker.pipeline_call import CallRunner, ImageGenerator
from worker.reporting import WorkerReporter
from worker.settle import Settler
from worker.settle_policy import SettlePolicy
from worker.stats import WorkerStats
from worker.tenants import TenantMap
from worker.train_run import TrainingRunner
from worker.training_model import base_components

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def lanes_of(settings: WorkerSettings) -> list[tuple[Lane, str]]:
    """The configured lanes in the order the poller tries them: interactive, training, batch."""
    return list(settings.queue_urls().items())


def _poller(settings: WorkerSettings, sqs: SQSClient, keeper: LeaseKeeper) -> Receiver:
    """The lanes, interactive first; the interactive lane through the fair window unless
    ``fair_window_messages`` is 0."""
    lanes = LanePoller(
        sqs,
        lanes_of(settings),
        wait_time_seconds=settings.wait_time_seconds,
        max_messages=settings.max_batch_size,
        visibility_timeout_seconds=settings.visibility_timeout_seconds,
        lane_visibility=settings.lane_visibility(),
    )
    if settings.fair_window_messages == 0 or not settings.interactive_queue_url:
        return lanes
    return FairPoller(lanes, window=settings.fair_window_messages, hold=keeper.hold_messages)


def _hook_heartbeat(
    settings: WorkerSettings, clients: AwsClients, instance_id: str | None
) -> Callable[[], None] | None:
    """The terminating hook's heartbeat for this instance, when it runs under one."""
    hook, asg = settings.lifecycle_hook_name, settings.asg_name
    if not (hook and asg and instance_id):
        return None
    return partial(
        record_lifecycle_heartbeat,
        clients.autoscaling(),
        hook_name=hook,
        asg_name=asg,
        instance_id=instance_id,
    )


class Stages:
    """The edges (gateways, lease keeper, reporting) first, then the stages that use them."""

    def __init__(
        self,
        settings: WorkerSettings,
        clients: AwsClients,
        generator: ImageGenerator,
        *,
        worker_id: str,
        instance_id: str | None,
        metadata: InstanceMetadata | None,
        drain: Drain,
        stats: WorkerStats,
    ) -> None:
        sqs = clients.sqs()
        queue = SqsGateway(sqs)
        self.store = JobStore(clients.dynamodb(), settings.jobs_table, settings.record_ttl_days)
        self.reporter = WorkerReporter(
            HeartbeatStore(clients.dynamodb(), settings.workers_table),
            worker_id,
            instance_id,
            refresh_seconds=settings.heartbeat_seconds,
        )
        self.metrics = JobMetrics(clients.cloudwatch(), settings.metrics_namespace)
        self._wire_settlement(settings, queue, worker_id, stats)
        self.poller = _poller(settings, sqs, self.lease_keeper)
        self._wire_job_stages(settings, clients, generator, worker_id, drain, stats)
        self._watcher = (
            TerminationWatcher(
                metadata,
                drain,
                settings.metadata_poll_seconds,
                hook_heartbeat=_hook_heartbeat(settings, clients, instance_id),
            )
            if metadata is not None
            else None
        )

    def _wire_settlement(
        self, settings: WorkerSettings, queue: SqsGateway, worker_id: str, stats: WorkerStats
    ) -> None:
        """The lease keeper, the acknowledgement thread and the settle executor."""
        self.lease_keeper = LeaseKeeper(
            queue,
            self.store,
            worker_id=worker_id,
            renew_seconds=settings.heartbeat_seconds,
            visibility_timeout_seconds=settings.visibility_timeout_seconds,
            lease_seconds=settings.lease_seconds,
            lane_visibility=settings.lane_visibility(),
            on_tick=self._on_tick,
        )
        self.acks = Acknowledger(queue)
        self.settler = Settler(
            SettlePolicy(
                max_receive_count=settings.max_receive_count,
                visibility_timeout_seconds=settings.visibility_timeout_seconds,
                lease_seconds=settings.lease_seconds,
            ),
            jobs=self.store,
            queue=queue,
            keeper=self.lease_keeper,
            ack=self.acks.ack,
            stats=stats,
            metrics=self.metrics,
            job_done=self.reporter.job_done,
            worker_id=worker_id,
            dead_letter_queues=dict(settings.dlq_urls()),
        )

    # Long on purpose: it is the one place that wires every job stage to its gateways and
    # settings, read top to bottom; split up, the wiring would be spread over several helpers.
    def _wire_job_stages(
        self,
        settings: WorkerSettings,
        clients: AwsClients,
        generator: ImageGenerator,
        worker_id: str,
        drain: Drain,
        stats: WorkerStats,
    ) -> None:
        """Intake, claim, run and finish, over the edges built by the constructor."""
        s3 = clients.s3()
        self.outputs = OutputWriter(
            s3, settings.bucket, self.store, worker_id, settings.lease_seconds
        )
        self.completer = Completer(
            self.store,
            self.outputs,
            self.settler,
            worker_id=worker_id,
            threads=settings.max_batch_size,
        )
        self.runner = CallRunner(
            generator,
            InputLoader(
                s3,
                settings.bucket,
                settings.max_input_pixels,
                adapter_dir=f"{settings.model_cache_dir}/adapters",
            ),
            self.settler,
            self.completer,
            stats,
            drain,
            report_busy=lambda job_id: self.reporter.update(WorkerState.BUSY, current_job=job_id),
        )
        self.trainer = TrainingRunner(
            s3=s3,
            bucket=settings.bucket,
            jobs=self.store,
            settler=self.settler,
            load_components=lambda: base_components(settings, s3),
            base_model=settings.model_source,
            worker_id=worker_id,
            device=settings.device,
            checkpoint_every_steps=settings.train_checkpoint_every_steps,
            max_input_pixels=settings.max_input_pixels,
            stats=stats,
            report_busy=lambda job_id: self.reporter.update(WorkerState.BUSY, current_job=job_id),
        )
        acceptor = Acceptor(
            MessageIntake(
                self.store,
                TenantMap(settings.sender_tenants, settings.tenant_webhook_urls),
                ingest_sender_id=settings.ingest_sender_id,
            ),
            self.settler,
        )
        self.groups = GroupRunner(
            poller=self.poller,
            acceptor=acceptor,
            claimer=Claimer(
                self.store,
                acceptor,
                self.settler,
                self.lease_keeper,
                worker_id=worker_id,
                lease_seconds=settings.lease_seconds,
            ),
            runner=self.runner,
            trainer=self.trainer,
            settler=self.settler,
            keeper=self.lease_keeper,
            drain=drain,
            max_batch_size=settings.max_batch_size,
            receive_ahead_seconds=settings.receive_ahead_seconds,
        )

    def pending_groups(self, messages: list[ReceivedMessage]) -> list[Group]:
        return [PendingGroup(group) for group in self.groups.groups_of(messages)]

    def forget_window(self) -> list[ReceivedMessage]:
        """Messages held by the fair window and never handed out (drain returns them)."""
        return self.poller.forget() if isinstance(self.poller, FairPoller) else []

    def start(self) -> None:
        self.lease_keeper.start()
        self.acks.start()
        if self._watcher is not None:
            self._watcher.start()

    def stop(self) -> None:
        self.acks.stop()
        self.lease_keeper.stop()
        self.metrics.flush()
        if self._watcher is not None:
            self._watcher.stop()

    def _on_tick(self) -> None:
        # The lease keeper's tick also writes the worker's heartbeat record and metrics.
        self.reporter.publish_if_due()
        self.metrics.flush_if_due()
