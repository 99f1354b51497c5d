"""The run and finish stages, and a receive's groups, over in-memory gateways and a fake
generator (the GPU edge): progress, cancel, failed calls, the finish under the lease, and
what a drain hands back."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from sdfleet.records import ErrorCode, JobRecord, JobStatus, utcnow
from sdfleet.requests import JobKind, JobParams
from tests.unit.worker_daemon.fakes import Stages, delivery, job_body, queued, stages
from worker.complete import Completer
from worker.errors import InvalidJobInput
from worker.generation import GeneratedImage, GenerationJob
from worker.groups import GroupRunner
from worker.inputs import derived_seed
from worker.jobs import ClaimedGroup, PendingGroup, Running
from worker.lanes import ReceivedMessage
from worker.lifecycle import Drain, DrainReason
from worker.pipeline_call import CallRunner, StepCallback


@dataclass
class FakeGenerator:
    """The GPU edge: runs ``steps`` step callbacks, then returns one PNG per image."""

    attention_backend: str = "sdpa"
    attention_reason: str = "SDPA is the default"
    model_load_seconds: float = 0.0
    fail_with: Exception | None = None
    on_step_hook: StepCallback | None = None
    calls: list[list[str]] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=list)

    def batch_key(self, kind: JobKind, params: JobParams) -> Hashable:
        return (kind, params.width, params.height, params.steps)

    def generate(
        self, jobs: Sequence[GenerationJob], on_step: StepCallback
    ) -> list[list[GeneratedImage]]:
        self.calls.append([job.job_id for job in jobs])
        self.seeds.extend(job.params.seed for job in jobs)
        steps = jobs[0].params.steps
        for step in range(1, steps + 1):
            if self.on_step_hook is not None:
                self.on_step_hook(step, steps)
            on_step(step, steps)
        if self.fail_with is not None:
            raise self.fail_with
        return [
            [
                GeneratedImage(f"{job.job_id}-{i}".encode(), i, 64, 64)
                for i in range(job.params.num_images)
            ]
            for job in jobs
        ]


@dataclass
class FakeOutputs:
    """The S3 edge: keeps uploaded PNGs by key."""

    objects: dict[str, bytes] = field(default_factory=dict)
    after_upload: list[Callable[[], object]] = field(default_factory=list)

    def upload(self, owner: str, job_id: str, pngs: list[bytes], attempt: int) -> list[str]:
        keys = [f"users/{owner}/outputs/{job_id}/{i:02d}.png" for i in range(len(pngs))]
        self.objects.update(zip(keys, pngs, strict=True))
        for hook in self.after_upload:
            hook()
        return keys

    def discard(self, keys: list[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)


class RecordInputs:
    """Seeds as the real loader derives them; an input key named 'bad' is unreadable."""

    def generation_job(self, record: JobRecord) -> GenerationJob:
        params = record.params
        assert isinstance(params, JobParams)  # the fake loads generation jobs only
        if params.input_key and params.input_key.endswith("bad.png"):
            raise InvalidJobInput(ErrorCode.INVALID_INPUT.value, "input image: is empty (0 bytes)")
        if params.seed is None:
            params = params.model_copy(update={"seed": derived_seed(record.job_id)})
        return GenerationJob(job_id=record.job_id, kind=JobKind.TXT2IMG, params=params)


@dataclass
class Harness:
    s: Stages
    generator: FakeGenerator
    outputs: FakeOutputs
    completer: Completer
    runner: CallRunner
    drain: Drain
    busy: list[str]

    def claim(self, *job_ids: str, **overrides: Any) -> list[Running]:
        claimed = []
        for job_id in job_ids:
            queued(self.s.jobs, job_id, **overrides)
            [accepted] = self.s.acceptor.accept_all([delivery(job_body(job_id, **overrides))])
            running = self.s.claimer.claim(accepted, time.perf_counter())
            assert running is not None
            claimed.append(running)
        return claimed


@pytest.fixture()
def h() -> Harness:
    s = stages()
    generator, outputs, drain = FakeGenerator(), FakeOutputs(), Drain()
    busy: list[str] = []
    completer = Completer(s.jobs, outputs, s.settler, worker_id="w1", threads=2)
    runner = CallRunner(
        generator, RecordInputs(), s.settler, completer, s.stats, drain, report_busy=busy.append
    )
    return Harness(s, generator, outputs, completer, runner, drain, busy)


def test_a_call_finishes_every_job_under_its_lease(h: Harness) -> None:
    claimed = h.claim("j-1", "j-2")
    h.runner.run(claimed)
    h.completer.wait()
    assert h.generator.calls == [["j-1", "j-2"]]
    assert h.busy == ["j-1"]
    for running in claimed:
        record = h.s.jobs.records[running.record.job_id]
        assert record.status is JobStatus.SUCCEEDED
        assert record.outputs == [f"users/user-1/outputs/{record.job_id}/00.png"]
        assert record.attention_backend == "sdpa" and record.model_seconds is not None
        assert record.attention_reason == "SDPA is the default"
    assert h.s.stats.jobs_succeeded == 2 and len(h.s.job_done.calls) == 2
    assert sorted(h.s.acked()) == sorted(r.message.message_id for r in claimed)
    assert h.s.keeper.held_jobs() == [] and h.s.stats.pipeline_seconds > 0


def test_a_job_without_a_seed_gets_the_one_derived_from_its_id(h: Harness) -> None:
    h.runner.run(h.claim("j-seed"))
    assert h.generator.seeds == [derived_seed("j-seed")]


def test_progress_reaches_the_leases_and_the_receive_ahead_observer(h: Harness) -> None:
    claimed = h.claim("j-1", steps=3)

    class Observer:
        def __init__(self) -> None:
            self.events: list[object] = []

        def start_call(self) -> None:
            self.events.append("start")

        def on_step(self, step: int, total: int) -> None:
            self.events.append((step, total))

        def end_call(self) -> None:
            self.events.append("end")

    observer = Observer()
    h.runner.run(claimed, observer)
    assert observer.events == ["start", (1, 3), (2, 3), (3, 3), "end"]
    assert claimed[0].lease.progress == (3, 3)


def test_a_draining_worker_does_not_receive_ahead(h: Harness) -> None:
    h.drain.request(DrainReason.SIGNAL, "SIGTERM")

    class Observer:
        started = False

        def start_call(self) -> None:
            self.started = True

        def on_step(self, step: int, total: int) -> None: ...

        def end_call(self) -> None: ...

    observer = Observer()
    h.runner.run(h.claim("j-1"), observer)
    assert not observer.started


def test_a_cancel_during_the_call_stops_it_and_cancels_the_job(h: Harness) -> None:
    [running] = h.claim("j-1", steps=4)

    def user_cancels(step: int, total: int) -> None:
        if step == 2:
            h.s.jobs.request_cancel("j-1")
            running.lease.cancel_requested = True  # what the lease keeper's renewal reports

    h.generator.on_step_hook = user_cancels
    h.runner.run([running])
    h.completer.wait()
    assert running.lease.progress == (2, 4)
    assert h.s.jobs.records["j-1"].status is JobStatus.CANCELLED
    assert h.outputs.objects == {} and h.s.stats.jobs_cancelled == 1


def test_a_cancel_that_lands_during_the_upload_still_wins(h: Harness) -> None:
    [running] = h.claim("j-1")
    h.outputs.after_upload.append(lambda: h.s.jobs.request_cancel("j-1"))
    h.runner.run([running])
    h.completer.wait()
    assert h.s.jobs.records["j-1"].status is JobStatus.CANCELLED
    assert h.outputs.objects == {}
    assert (h.s.stats.jobs_cancelled, h.s.stats.jobs_succeeded) == (1, 0)
    assert h.s.acked() == [running.message.message_id]


def test_a_job_taken_over_before_finish_writes_nothing_and_keeps_its_message(h: Harness) -> None:
    [running] = h.claim("j-1")
    h.outputs.after_upload.append(lambda: h.s.jobs.take_over("j-1", "w2"))
    h.runner.run([running])
    h.completer.wait()
    assert h.s.jobs.records["j-1"].status is JobStatus.RUNNING
    assert h.s.jobs.records["j-1"].worker_id == "w2"
    assert h.s.acked() == [] and h.s.queue.visibility == [] and h.s.stats.jobs_finished == 0


def test_an_unreadable_input_fails_only_its_job(h: Harness) -> None:
    bad = h.claim("j-bad", input_key="users/user-1/inputs/bad.png", kind=JobKind.IMG2IMG)
    good = h.claim("j-good")
    h.runner.run(bad + good)
    h.completer.wait()
    assert h.generator.calls == [["j-good"]]
    record = h.s.jobs.records["j-bad"]
    assert record.status is JobStatus.FAILED and record.error is not None
    assert record.error.message == "input image: is empty (0 bytes)"
    assert h.s.jobs.records["j-good"].status is JobStatus.SUCCEEDED


def test_a_failed_call_retries_every_job_in_it(h: Harness) -> None:
    claimed = h.claim("j-1", "j-2")
    h.generator.fail_with = RuntimeError("CUDA error: an illegal memory access")
    h.runner.run(claimed)
    assert h.s.stats.jobs_retried == 2 and h.s.stats.jobs_finished == 0
    assert sorted(h.s.queue.visibility) == sorted((r.message.message_id, 2) for r in claimed)
    assert h.s.keeper.held_jobs() == []


def test_a_drain_hands_back_a_group_claimed_ahead(h: Harness) -> None:
    claimed = h.claim("j-1")
    unclaimed = delivery(job_body("j-2"))
    queued(h.s.jobs, "j-2")
    accepted = h.s.acceptor.accept_all([claimed[0].message, unclaimed])

    class NoReceive:
        def poll(
            self, *, long_poll: bool = True, limit: int | None = None
        ) -> list[ReceivedMessage]:
            return []

    groups = GroupRunner(
        poller=NoReceive(),
        acceptor=h.s.acceptor,
        claimer=h.s.claimer,
        runner=h.runner,
        settler=h.s.settler,
        keeper=h.s.keeper,
        drain=h.drain,
        max_batch_size=4,
        receive_ahead_seconds=0,
    )
    h.drain.request(DrainReason.SPOT, "terminate")
    groups.execute([ClaimedGroup(accepted, claimed)], time.perf_counter())
    assert h.generator.calls == []
    # The claim made ahead ends now, so the next worker takes the job over at once.
    lease_end = h.s.jobs.records["j-1"].lease_expires_at
    assert lease_end is not None and lease_end <= utcnow()
    assert h.s.jobs.records["j-2"].status is JobStatus.QUEUED
    returned = [claimed[0].message.message_id, unclaimed.message_id]
    assert h.s.queue.visibility == [(message_id, 0) for message_id in returned]
    assert h.s.keeper.held_jobs() == []


def test_receiving_ahead_claims_only_the_first_group(h: Harness) -> None:
    for job_id in ("a", "b", "c"):
        queued(h.s.jobs, job_id, width=64 if job_id != "b" else 128)
    messages = [
        delivery(job_body("a")),
        delivery(job_body("b", width=128)),
        delivery(job_body("c")),
    ]

    class OneReceive:
        def poll(
            self, *, long_poll: bool = True, limit: int | None = None
        ) -> list[ReceivedMessage]:
            assert not long_poll
            return messages

    groups = GroupRunner(
        poller=OneReceive(),
        acceptor=h.s.acceptor,
        claimer=h.s.claimer,
        runner=h.runner,
        settler=h.s.settler,
        keeper=h.s.keeper,
        drain=h.drain,
        max_batch_size=4,
        receive_ahead_seconds=0.5,
    )
    fetched = groups.fetch_ahead()
    assert fetched.messages == 3
    first, second = fetched.groups
    assert isinstance(first, ClaimedGroup) and isinstance(second, PendingGroup)
    assert [r.record.job_id for r in first.claimed] == ["a", "c"]
    assert [a.job_id for a in second.accepted] == ["b"]
    assert h.s.jobs.records["b"].status is JobStatus.QUEUED
    assert {m.message_id for m in h.s.keeper.held_messages()} == {m.message_id for m in messages}
    h.drain.request(DrainReason.SIGNAL, "SIGTERM")
    assert groups.fetch_ahead().messages == 0


# -- finding 3: DELETE /me racing a running job ----------------------------------------------


def test_a_delete_me_before_the_first_output_write_writes_nothing(h: Harness) -> None:
    [running] = h.claim("j-1")
    h.s.jobs.deletions["user-1"] = utcnow()
    h.runner.run([running])
    h.completer.wait()
    assert h.outputs.objects == {}
    record = h.s.jobs.records["j-1"]
    assert record.status is JobStatus.RUNNING and "finish" not in [c for c, _ in h.s.jobs.calls]
    # The lease is given up at once, so the purge need not wait for it, and the message goes.
    assert record.lease_expires_at is not None and record.lease_expires_at <= utcnow()
    assert h.s.acked() == [running.message.message_id] and h.s.keeper.held_jobs() == []


def test_a_delete_me_during_the_upload_makes_finish_refuse_and_the_pngs_go(h: Harness) -> None:
    [running] = h.claim("j-1")
    h.outputs.after_upload.append(lambda: h.s.jobs.deletions.update({"user-1": utcnow()}))
    h.runner.run([running])
    h.completer.wait()
    assert h.outputs.objects == {}
    assert h.s.jobs.records["j-1"].status is JobStatus.RUNNING
    assert h.s.acked() == [running.message.message_id] and h.s.stats.jobs_succeeded == 0


def test_a_record_purged_before_finish_leaves_no_outputs_and_no_retry(h: Harness) -> None:
    [running] = h.claim("j-1")
    h.outputs.after_upload.append(lambda: h.s.jobs.records.pop("j-1"))
    h.runner.run([running])
    h.completer.wait()
    assert h.outputs.objects == {}
    assert h.s.queue.visibility == [] and h.s.stats.jobs_retried == 0
    assert h.s.acked() == [running.message.message_id]


def test_a_deletion_older_than_the_job_does_not_stop_it(h: Harness) -> None:
    h.s.jobs.deletions["user-1"] = utcnow()
    [running] = h.claim("j-1")
    h.runner.run([running])
    h.completer.wait()
    assert h.s.jobs.records["j-1"].status is JobStatus.SUCCEEDED
