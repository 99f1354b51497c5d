"""The run stage: one pipeline call for a group of claimed jobs of the same shape.

The call runs on the main thread. Its step callback reports each job's progress to its lease
(the lease keeper writes it), tells receive-ahead how far the call is, and stops the call
between denoising steps once no job in it still wants the result (cancelled or taken over).
A call that returns hands its images to the finish stage (:mod:`worker.complete`); one that
raises is settled per job by the policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Protocol

from worker.complete import Completer
from worker.errors import GenerationCancelled, InvalidJobInput
from worker.jobs import Running
from worker.lease_keeper import JobLease
from worker.lifecycle import Drain
from worker.settle import Settler
from worker.stats import WorkerStats

if TYPE_CHECKING:
    from sdfleet.records import JobRecord
    from sdfleet.requests import JobKind, JobParams
    from worker.generation import GeneratedImage, GenerationJob

#: A denoising-step callback: (step, total steps).
StepCallback = Callable[[int, int], None]


class ImageGenerator(Protocol):
    """What the loop needs of the loaded model (:class:`worker.generation.Generator`)."""

    @property
    def attention_backend(self) -> str: ...

    @property
    def attention_reason(self) -> str: ...

    @property
    def model_load_seconds(self) -> float: ...

    def batch_key(self, kind: JobKind, params: JobParams) -> Hashable: ...

    def generate(
        self, jobs: Sequence[GenerationJob], on_step: StepCallback
    ) -> list[list[GeneratedImage]]: ...


class CallObserver(Protocol):
    """What receiving ahead needs to know about a call
    (:class:`worker.receive_ahead.ReceiveAhead`)."""

    def start_call(self) -> None: ...

    def on_step(self, step: int, total: int) -> None: ...

    def end_call(self) -> None: ...


def step_callback(leases: list[JobLease], also: StepCallback | None = None) -> StepCallback:
    """The denoising-step callback: reports progress, tells ``also`` (receiving ahead), and
    stops when no job wants the result."""

    def on_step(step: int, total: int) -> None:
        for lease in leases:
            lease.report_progress(step, total)
        if also is not None:
            also(step, total)
        if all(lease.cancel_requested or lease.lost for lease in leases):
            raise GenerationCancelled("every job in this call was cancelled or taken over")

    return on_step


class JobInputs(Protocol):
    """Turns a claimed record into a pipeline job (:class:`worker.inputs.InputLoader`)."""

    def generation_job(self, record: JobRecord) -> GenerationJob: ...


class CallRunner:
    def __init__(
        self,
        generator: ImageGenerator,
        inputs: JobInputs,
        settler: Settler,
        completer: Completer,
        stats: WorkerStats,
        drain: Drain,
        report_busy: Callable[[str], None],
    ) -> None:
        self.generator = generator
        self._inputs = inputs
        self._settler = settler
        self._completer = completer
        self._stats = stats
        self._drain = drain
        self._report_busy = report_busy

    def run(self, claimed: list[Running], ahead: CallObserver | None = None) -> None:
        """Generates for ``claimed``; ``ahead`` (when given) may start the next receive."""
        self._report_busy(claimed[0].record.job_id)
        prepared = self._prepare(claimed)
        if not prepared:
            return
        runs = [running for running, _ in prepared]
        if self._drain.requested:
            ahead = None  # no next receive for a worker that is leaving
        started = time.perf_counter()
        if ahead is not None:
            ahead.start_call()
        try:
            results = self.generator.generate(
                [job for _, job in prepared],
                step_callback([r.lease for r in runs], ahead.on_step if ahead else None),
            )
        except Exception as exc:
            self._stats.add(pipeline_seconds=time.perf_counter() - started)
            self._after_failed_call(runs, exc)
            return
        finally:
            if ahead is not None:
                ahead.end_call()
        pipeline_seconds = time.perf_counter() - started
        self._stats.add(pipeline_seconds=pipeline_seconds)
        total_images = sum(len(images) for images in results) or 1
        # Uploads and finish run on the completion threads while the next call generates; the
        # previous call's completions had this whole call to finish (at most one call behind).
        self._completer.wait()
        backend = self.generator.attention_backend
        reason = self.generator.attention_reason
        for running, images in zip(runs, results, strict=True):
            share = pipeline_seconds * len(images) / total_images
            self._completer.submit(running, images, share, backend, reason)

    def _prepare(self, claimed: list[Running]) -> list[tuple[Running, GenerationJob]]:
        prepared: list[tuple[Running, GenerationJob]] = []
        for running in claimed:
            try:
                prepared.append((running, self._inputs.generation_job(running.record)))
            except InvalidJobInput as exc:
                policy = self._settler.policy
                self._settler.apply(running.message, policy.after_invalid_input(exc), running)
            except Exception as exc:
                self._settler.retry(running.message, running, exc)
        return prepared

    def _after_failed_call(self, runs: list[Running], exc: Exception) -> None:
        policy = self._settler.policy
        for running in runs:
            outcome = policy.after_failed_call(
                exc, len(runs), running.message.receive_count, running.lease
            )
            self._settler.apply(running.message, outcome, running)
