"""The settle executor over in-memory gateways: each outcome's record write, counters, lease
and message, and how a refused or failing write is settled in turn."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from sdfleet.errors import TransitionRejected
from sdfleet.messages import Lane
from sdfleet.records import ErrorCode, JobError, JobStatus, utcnow
from sdfleet.requests import JobKind
from tests.unit.worker_daemon.fakes import (
    DLQ_URLS,
    Stages,
    delivery,
    job_body,
    queued,
    stages,
)
from worker.intake import Action, Intake
from worker.jobs import Running
from worker.lanes import ReceivedMessage
from worker.settle_policy import (
    Cancelled,
    Deferred,
    Discarded,
    Failed,
    Returned,
    Succeeded,
)

ERROR = JobError(code="invalid_input", message="input image: is empty (0 bytes)")


def claimed(s: Stages, job_id: str = "j-1", receive_count: int = 1) -> Running:
    """A job claimed by w1 and held by the lease keeper, as the claim stage leaves it."""
    queued(s.jobs, job_id)
    message = delivery(job_body(job_id), receive_count=receive_count)
    s.keeper.hold_messages([message])
    record = s.jobs.claim(job_id, "w1", 120)
    return Running(message, record, s.keeper.hold_job(job_id), time.perf_counter(), 0.0)


def held(s: Stages, running: Running) -> tuple[bool, bool]:
    """(message still held, lease still held) by the lease keeper."""
    messages = {m.message_id for m in s.keeper.held_messages()}
    return running.message.message_id in messages, running.lease.job_id in s.keeper.held_jobs()


def test_succeeded_counts_reports_releases_and_deletes() -> None:
    s = stages()
    running = claimed(s)
    s.jobs.finish("j-1", "w1", ["k/00.png"], [7])
    s.settler.apply(running.message, Succeeded(("k/00.png",), 1.5, 3.0), running)
    assert s.stats.jobs_succeeded == 1 and s.metrics.latencies == [3.0]
    assert s.job_done.calls == [1.5]
    assert s.acked() == [running.message.message_id]
    assert held(s, running) == (False, False)


def test_a_finished_training_stays_out_of_the_per_job_time() -> None:
    # The heartbeat's seconds per job is the per-image pace the scaler and the API's ETA read;
    # a training's minutes would make every image look minutes long.
    s = stages()
    running = claimed(s)
    training = replace(running, record=running.record.model_copy(update={"kind": JobKind.TRAIN}))
    s.jobs.finish("j-1", "w1", ["users/u/models/a/adapter.safetensors"], [7])
    s.settler.apply(training.message, Succeeded(("a",), 900.0, 905.0), training)
    assert s.stats.jobs_succeeded == 1 and s.metrics.latencies == [905.0]
    assert s.job_done.calls == []
    assert s.acked() == [running.message.message_id]


def test_failed_writes_the_error_under_the_lease() -> None:
    s = stages()
    running = claimed(s)
    s.settler.apply(running.message, Failed(ERROR), running)
    assert s.jobs.records["j-1"].status is JobStatus.FAILED
    assert s.jobs.records["j-1"].error == ERROR
    assert (s.stats.jobs_failed, s.metrics.failures) == (1, 1)
    assert s.acked() == [running.message.message_id]


def test_failing_a_job_taken_over_touches_nothing() -> None:
    s = stages()
    running = claimed(s)
    s.jobs.take_over("j-1", "w2")
    s.settler.apply(running.message, Failed(ERROR), running)
    assert s.jobs.records["j-1"].status is JobStatus.RUNNING
    assert s.jobs.records["j-1"].worker_id == "w2"
    assert s.acked() == [] and s.queue.visibility == [] and s.stats.jobs_failed == 0
    assert held(s, running) == (False, False)


def test_a_record_write_that_keeps_failing_becomes_a_retry() -> None:
    s = stages()
    running = claimed(s)
    s.jobs.broken["fail"] = RuntimeError("dynamodb down")
    s.settler.apply(running.message, Failed(ERROR), running)
    assert s.stats.jobs_retried == 1 and s.stats.jobs_failed == 0
    assert s.queue.visibility == [(running.message.message_id, 2)]
    # The lease is handed back at once so the next delivery can claim without waiting.
    lease_end = s.jobs.records["j-1"].lease_expires_at
    assert lease_end is not None and lease_end <= utcnow()
    assert s.acked() == []


def test_cancelled_only_after_a_cancel_request() -> None:
    s = stages()
    running = claimed(s)
    s.jobs.request_cancel("j-1")
    s.settler.apply(running.message, Cancelled(), running)
    assert s.jobs.records["j-1"].status is JobStatus.CANCELLED
    assert s.stats.jobs_cancelled == 1 and s.acked() == [running.message.message_id]


def test_cancelled_with_a_lost_lease_is_dropped() -> None:
    s = stages()
    running = claimed(s)
    running.lease.lost = True
    s.jobs.request_cancel("j-1")
    s.settler.apply(running.message, Cancelled(), running)
    assert s.jobs.records["j-1"].status is JobStatus.RUNNING
    assert s.stats.jobs_cancelled == 0 and s.acked() == []


def test_the_last_failed_attempt_fails_the_record_and_leaves_the_message_to_the_redrive() -> None:
    s = stages(max_receive_count=3)
    running = claimed(s, receive_count=3)
    s.settler.retry(running.message, running, RuntimeError("CUDA out of memory"))
    record = s.jobs.records["j-1"]
    assert record.status is JobStatus.FAILED and record.error is not None
    assert record.error.code == ErrorCode.RETRIES_EXHAUSTED.value
    # Finding 5: the class and a mapped cause, never the raw text.
    assert "RuntimeError (out of GPU memory)" in record.error.message
    assert s.queue.visibility == [(running.message.message_id, 0)]
    assert (s.stats.jobs_retried, s.stats.jobs_failed, s.metrics.failures) == (1, 1, 1)


def test_a_retry_before_any_claim_only_delays_the_message() -> None:
    s = stages()
    message = delivery(job_body("j-9"), receive_count=2)
    s.settler.retry(message, None, RuntimeError("throttled"))
    assert s.queue.visibility == [(message.message_id, 4)]
    assert s.jobs.calls == []


def rejected(s: Stages, message: ReceivedMessage, intake: Intake) -> None:
    s.settler.apply(message, s.settler.policy.rejected(intake), None)


def test_a_rejection_fails_its_queued_record_then_deletes() -> None:
    s = stages()
    record = queued(s.jobs, "j-2")
    message = delivery("{}")
    rejected(s, message, Intake(Action.DELETE, record=record, error=ERROR))
    assert s.jobs.records["j-2"].status is JobStatus.FAILED
    assert s.stats.jobs_failed == 1 and s.metrics.failures == 0
    assert s.acked() == [message.message_id]


def test_a_rejection_whose_record_moved_on_still_deletes() -> None:
    s = stages()
    record = queued(s.jobs, "j-3")
    s.jobs.broken["fail"] = TransitionRejected("j-3", "fail", "running")
    message = delivery("{}")
    rejected(s, message, Intake(Action.DELETE, record=record, error=ERROR))
    assert s.stats.jobs_failed == 0 and s.acked() == [message.message_id]


def test_a_dead_letter_carries_the_reason_to_the_lanes_dlq() -> None:
    s = stages()
    message = delivery("not json")
    rejected(s, message, Intake(Action.DEAD_LETTER, error=ERROR))
    assert s.queue.dead_letters == [(DLQ_URLS[Lane.INTERACTIVE], message.message_id, ERROR)]
    assert s.stats.messages_dead_lettered == 1 and s.acked() == [message.message_id]


def test_without_a_dlq_or_when_the_copy_fails_the_redrive_policy_moves_it() -> None:
    s = stages()
    batch = delivery("not json", lane=Lane.BATCH)
    rejected(s, batch, Intake(Action.DEAD_LETTER, error=ERROR))
    s.queue.broken["send_dead_letter"] = RuntimeError("message too large")
    web = delivery("not json")
    rejected(s, web, Intake(Action.DEAD_LETTER, error=ERROR))
    assert s.queue.visibility == [(batch.message_id, 0), (web.message_id, 0)]
    assert s.stats.messages_dead_lettered == 0 and s.acked() == []


def test_discarded_deferred_and_returned_messages() -> None:
    s = stages()
    done, held_elsewhere, unstarted = delivery("a"), delivery("b"), delivery("c")
    s.keeper.hold_messages([done, held_elsewhere, unstarted])
    s.settler.apply(done, Discarded("job is succeeded"), None)
    s.settler.apply(held_elsewhere, Deferred(60), None)
    s.settler.apply(unstarted, Returned(), None)
    assert s.acked() == [done.message_id]
    assert s.queue.visibility == [(held_elsewhere.message_id, 60), (unstarted.message_id, 0)]
    assert s.keeper.held_messages() == []


def test_a_visibility_change_that_fails_is_logged_not_raised() -> None:
    s = stages()
    s.queue.broken["change_visibility"] = RuntimeError("receipt handle expired")
    s.settler.apply(delivery("x"), Returned(), None)
    assert s.queue.visibility == []


def test_an_unstarted_claim_expires_its_lease_at_once() -> None:
    s = stages()
    running = claimed(s)
    s.settler.expire_unstarted(running)
    record = s.jobs.records["j-1"]
    assert record.status is JobStatus.RUNNING and record.lease_expires_at is not None
    assert record.lease_expires_at <= utcnow()
    assert held(s, running)[1] is False


def test_a_job_outcome_without_its_claimed_job_is_a_bug() -> None:
    s = stages()
    with pytest.raises(ValueError, match="needs a claimed job"):
        s.settler.apply(delivery("x"), Failed(ERROR), None)
    assert s.jobs.calls == [] and s.acked() == []
