"""The worker loop: receive (interactive first), then each stage in turn, until drained.

One message flows through: intake (:mod:`worker.accept`, :mod:`worker.intake`) -> batching
(:mod:`worker.batching`) -> claim (:mod:`worker.claim`) -> run (:mod:`worker.pipeline_call`)
-> finish (:mod:`worker.complete`) -> settle (:mod:`worker.settle_policy` decides,
:mod:`worker.settle` applies). :mod:`worker.groups` runs a receive's groups through them and
receives the next one ahead; :mod:`worker.lease_keeper` keeps held messages hidden and held
jobs leased meanwhile. SQS and DynamoDB are reached through :mod:`worker.gateways`.

The pipeline call runs on the main thread; uploads, ``finish`` and message deletes run on
background threads so the GPU starts the next call at once. Who may finish a job is decided
by its DynamoDB lease, never by the SQS receipt handle. Every exception while handling a
message is caught and logged; the loop never crash-loops.
"""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from sdfleet.aws import AwsClients
from sdfleet.heartbeats import WorkerState
from sdfleet.settings import WorkerSettings
from worker.lifecycle import Drain, DrainReason, complete_lifecycle_action
from worker.metadata import InstanceMetadata
from worker.pipeline_call import ImageGenerator
from worker.retry import redelivery_delay
from worker.settle_policy import Returned
from worker.stages import Stages
from worker.startup import resolve_identity
from worker.stats import ReceiveTiming, WorkerStats

logger = Logger(service="sdfleet-worker")


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        clients: AwsClients,
        generator: ImageGenerator,
        *,
        worker_id: str,
        instance_id: str | None = None,
        metadata: InstanceMetadata | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.instance_id = instance_id
        self.drain = drain or Drain()
        self.stats = WorkerStats()
        self._autoscaling = clients.autoscaling
        self._stages = Stages(
            settings,
            clients,
            generator,
            worker_id=worker_id,
            instance_id=instance_id,
            metadata=metadata,
            drain=self.drain,
            stats=self.stats,
        )
        self.store = self._stages.store
        self.reporter = self._stages.reporter
        self.lease_keeper = self._stages.lease_keeper
        self._outputs = self._stages.outputs
        logger.append_keys(worker_id=worker_id)

    @property
    def generator(self) -> ImageGenerator:
        return self._stages.runner.generator

    @generator.setter
    def generator(self, generator: ImageGenerator) -> None:
        self._stages.runner.generator = generator

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: WorkerSettings, drain: Drain | None = None) -> Worker:
        from worker.generation import Generator

        clients = AwsClients.from_settings(settings)
        metadata = InstanceMetadata(settings.metadata_url)
        worker_id, instance_id = resolve_identity(settings, metadata)
        generator = Generator.load(settings, clients.s3())
        return cls(
            settings,
            clients,
            generator,
            worker_id=worker_id,
            instance_id=instance_id,
            metadata=metadata,
            drain=drain,
        )

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Runs until drained. Returns the process exit status (0 after a clean drain)."""
        self.start_background()
        try:
            while not self.drain.requested:
                self.run_once()
        finally:
            self._shutdown()
        return 0

    def run_once(self, *, long_poll: bool = True) -> int:
        """One receive (or what was received ahead) and everything it brought. Returns the
        number of messages handled."""
        stages = self._stages
        started = time.perf_counter()
        fetched = stages.groups.ahead.take()
        if fetched is not None and fetched.messages:
            count, groups = fetched.messages, fetched.groups
        else:
            try:
                messages = stages.poller.poll(long_poll=long_poll)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("receive failed", extra={"error": str(exc)})
                self.drain.wait(redelivery_delay(1, self.settings.visibility_timeout_seconds))
                return 0
            if not messages:
                return 0
            self.lease_keeper.hold_messages(messages)
            if self.drain.requested:
                for message in messages:
                    stages.settler.apply(message, Returned(), None)
                return len(messages)
            count, groups = len(messages), None
        finished_before = self.stats.jobs_finished
        pipeline_before = self.stats.pipeline_seconds
        try:
            if groups is None:
                groups = stages.pending_groups(messages)
            stages.groups.execute(groups, started)
        finally:
            self.stats.receives.append(
                ReceiveTiming(
                    messages=count,
                    jobs_finished=self.stats.jobs_finished - finished_before,
                    wall_seconds=time.perf_counter() - started,
                    pipeline_seconds=self.stats.pipeline_seconds - pipeline_before,
                )
            )
            if self.reporter.state is not WorkerState.DRAINING:
                self.reporter.update(
                    WorkerState.DRAINING if self.drain.requested else WorkerState.IDLE
                )
        return count

    # -- background threads and shutdown ---------------------------------------------------
    def start_background(self) -> None:
        """Starts the lease keeper, acknowledgement and metadata threads (``run`` does; tests
        driving ``run_once`` call it themselves)."""
        generator = self.generator
        self.reporter.update(
            WorkerState.IDLE,
            model_load_seconds=generator.model_load_seconds,
            attention_backend=generator.attention_backend,
            publish=True,
        )
        logger.info(
            "worker started",
            extra={
                "attention_backend": generator.attention_backend,
                "model_load_seconds": generator.model_load_seconds,
            },
        )
        self._stages.start()

    def wait_for_completions(self) -> None:
        """Blocks until every finished pipeline call's outputs are uploaded and recorded."""
        self._stages.completer.wait()

    def stop_background(self) -> None:
        self._stages.groups.release_fetched()
        self.wait_for_completions()
        self._stages.stop()

    def _shutdown(self) -> None:
        self.reporter.update(WorkerState.DRAINING, publish=True)
        self._stages.groups.release_fetched()
        self._stages.groups.ahead.shutdown()
        self.wait_for_completions()
        # The fair window's messages are held too, so the loop below returns them.
        self._stages.forget_window()
        for message in self.lease_keeper.held_messages():
            self._stages.settler.apply(message, Returned(), None)
        self.stop_background()
        if self.drain.reason is DrainReason.LIFECYCLE:
            self._complete_lifecycle()
        self.reporter.update(WorkerState.STOPPED, publish=True)
        logger.info(
            "worker stopped",
            extra={"reason": self.drain.reason, "jobs_succeeded": self.stats.jobs_succeeded},
        )

    def _complete_lifecycle(self) -> None:
        hook, asg = self.settings.lifecycle_hook_name, self.settings.asg_name
        if not (hook and asg and self.instance_id):
            logger.warning(
                "cannot complete the lifecycle action: hook, ASG or instance id unset",
                extra={"hook": hook, "asg": asg, "instance_id": self.instance_id},
            )
            return
        try:
            complete_lifecycle_action(
                self._autoscaling(), hook_name=hook, asg_name=asg, instance_id=self.instance_id
            )
        except (ClientError, BotoCoreError) as exc:
            logger.error("complete_lifecycle_action failed", extra={"error": str(exc)})
