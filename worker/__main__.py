"""``sdfleet-worker`` / ``python -m worker``: run the worker daemon until drained."""

from __future__ import annotations

import sys
from typing import Final

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from sdfleet.errors import SdfleetError
from sdfleet.settings import WorkerSettings
from sdfleet.validation import describe_validation_error
from worker.daemon import Worker
from worker.lifecycle import Drain, install_signal_handlers

#: Exit status for a configuration problem (systemd's Restart=on-failure would only loop).
EXIT_CONFIG: Final = 78

logger = Logger(service="sdfleet-worker")


def main(argv: list[str] | None = None) -> int:
    del argv  # every setting comes from the environment / SSM (see docs/worker.md)
    drain = Drain()
    # Handlers first: a SIGTERM while the model loads still drains instead of killing.
    install_signal_handlers(drain)
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        for problem in describe_validation_error(exc):
            logger.error("invalid setting", extra={"problem": problem.message})
        return EXIT_CONFIG
    try:
        worker = Worker.from_settings(settings, drain=drain)
    except SdfleetError as exc:
        logger.error("worker could not start", extra={"error": str(exc)})
        return EXIT_CONFIG
    if drain.requested:
        return 0
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
