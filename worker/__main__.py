"""``sdfleet-worker`` / ``python -m worker``: run the worker daemon until drained.

Start-up order: settings, identity, model load, warm-up generation, launch gate (a warm-pool
instance waits here, never claiming, until it is in service), the start's timing recorded
(:mod:`worker.start_timing`), then the loop. Exit statuses
(the systemd unit's ``RestartPreventExitStatus`` lists the ones that must not loop):

* 0: drained cleanly;
* 75 (:data:`~worker.startup.EXIT_MODEL_LOAD_RETRY`): the model did not load; restart;
* 78 (:data:`EXIT_CONFIG`): a setting is invalid; restarting cannot help (reported first:
  log line, ``failed`` heartbeat with ``stop_reason``, ``WorkerConfigurationErrors`` metric);
* 79 (:data:`~worker.startup.EXIT_GAVE_UP`): no usable GPU, or too many failed loads; the
  instance was marked unhealthy for the Auto Scaling group to replace.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Final

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from sdfleet.aws import AwsClients
from sdfleet.errors import SdfleetError
from sdfleet.records import utcnow
from sdfleet.settings import WorkerSettings
from sdfleet.starts import StartRecordStore
from sdfleet.validation import describe_validation_error
from worker.daemon import Worker
from worker.errors import ModelLoadError
from worker.lifecycle import Drain, LaunchGate, complete_lifecycle_action, install_signal_handlers
from worker.metadata import InstanceMetadata
from worker.start_timing import StartTimer
from worker.startup import LoadFailureHandler, resolve_identity
from worker.stop_report import StopReport

#: Exit status for a configuration problem (systemd's Restart=on-failure would only loop).
EXIT_CONFIG: Final = 78

logger = Logger(service="sdfleet-worker")


def _launch_gate(
    settings: WorkerSettings,
    clients: AwsClients,
    metadata: InstanceMetadata,
    drain: Drain,
    instance_id: str | None,
    on_warmed: Callable[[], object],
) -> LaunchGate:
    hook, asg = settings.launch_hook_name, settings.asg_name
    complete = None
    if hook and asg and instance_id:

        def complete() -> None:
            complete_lifecycle_action(
                clients.autoscaling(), hook_name=hook, asg_name=asg, instance_id=instance_id
            )

    return LaunchGate(
        metadata,
        drain,
        complete=complete,
        poll_seconds=settings.metadata_poll_seconds,
        on_warmed=on_warmed,
    )


def main(argv: list[str] | None = None) -> int:
    del argv  # every setting comes from the environment / SSM (see docs/worker.md)
    process_started_at = utcnow()
    drain = Drain()
    # Handlers first: a SIGTERM while the model loads still drains instead of killing.
    install_signal_handlers(drain)
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        problems = [problem.message for problem in describe_validation_error(exc)]
        for problem in problems:
            logger.error("invalid setting", extra={"problem": problem})
        StopReport.from_environment().configuration_problem(problems, EXIT_CONFIG)
        return EXIT_CONFIG
    from worker.generation import Generator

    clients = AwsClients.from_settings(settings)
    metadata = InstanceMetadata(settings.metadata_url)
    worker_id, instance_id = resolve_identity(settings, metadata)
    failures = LoadFailureHandler(settings, clients, worker_id=worker_id, instance_id=instance_id)
    try:
        generator = Generator.load(settings, clients.s3())
        if settings.warmup and not drain.requested:
            generator.warm_up()
    except ModelLoadError as exc:
        return failures.handle(exc)
    except Exception as exc:
        # Anything else at load counts too: a bug must not become an endless restart loop.
        return failures.handle(ModelLoadError(f"{type(exc).__name__}: {exc}"))
    failures.counter.reset()
    if drain.requested:
        return 0
    timer = StartTimer(
        state_dir=settings.state_dir,
        metadata=metadata,
        store=StartRecordStore(clients.s3(), settings.bucket),
        process_started_at=process_started_at,
    )
    gate = _launch_gate(
        settings,
        clients,
        metadata,
        drain,
        instance_id,
        on_warmed=lambda: timer.ready(
            entering_pool=True, model_load_seconds=generator.model_load_seconds
        ),
    )
    if not gate.wait_until_in_service():
        return 0
    timer.ready(entering_pool=False, model_load_seconds=generator.model_load_seconds)
    try:
        worker = Worker(
            settings,
            clients,
            generator,
            worker_id=worker_id,
            instance_id=instance_id,
            metadata=metadata,
            drain=drain,
        )
    except SdfleetError as exc:
        logger.error("worker could not start", extra={"error": str(exc)})
        StopReport.from_settings(settings, worker_id, instance_id).configuration_problem(
            [str(exc)], EXIT_CONFIG
        )
        return EXIT_CONFIG
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
