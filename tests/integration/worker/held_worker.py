"""``python -m tests.integration.worker.held_worker``: the real worker process (``python -m
worker``: same entry, settings, signal handlers and drain), except that its first pipeline
call, after reporting its first step, waits until a drain is requested. A test that signals
the process once that step is recorded knows the signal lands mid-call, however fast or slow
the machine: no job length has to be guessed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from worker import __main__ as entry
from worker.daemon import Worker

#: A spot notice gives two minutes; a held call never waits longer than that for its drain.
NOTICE_WINDOW_SECONDS = 120


class FirstCallWaitsForTheDrain:
    """The worker's real generator, except that its first call, after reporting its first
    step, waits until the drain is requested: the notice always lands mid-call, however fast
    the machine."""

    def __init__(self, generator: Any, drain: Any) -> None:
        self._generator = generator
        self._drain = drain
        self._calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._generator, name)

    def generate(self, jobs: Any, on_step: Callable[[int, int], None]) -> Any:
        self._calls += 1
        if self._calls > 1:
            return self._generator.generate(jobs, on_step)

        def first_step_waits(step: int, total: int) -> None:
            on_step(step, total)
            if step == 1:
                assert self._drain.wait(NOTICE_WINDOW_SECONDS), "no drain was requested"

        return self._generator.generate(jobs, first_step_waits)


_real_init = Worker.__init__


def held_init(worker: Worker, *args: Any, **kwargs: Any) -> None:
    # The entry builds the Worker itself (after the model load and warm-up), so the hold goes
    # in at construction: the generator setter rewires the pipeline-call stage too.
    _real_init(worker, *args, **kwargs)
    worker.generator = FirstCallWaitsForTheDrain(worker.generator, worker.drain)


if __name__ == "__main__":
    Worker.__init__ = held_init  # type: ignore[method-assign,assignment]
    sys.exit(entry.main())
