"""The intake and claim stages over in-memory gateways: which deliveries become claimed jobs,
and how every other one is settled."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from sdfleet.messages import Lane
from sdfleet.records import ErrorCode, JobRecord, JobStatus
from sdfleet.requests import JobKind
from tests.unit.worker_daemon.fakes import TENANT, Stages, delivery, job_body, queued, stages
from worker.intake import UNKNOWN_SENDER_OWNER
from worker.tenants import batch_job_id


def test_a_message_naming_its_record_is_accepted_without_reading_it() -> None:
    s = stages()
    queued(s.jobs, "j-1")
    s.jobs.calls.clear()
    message = delivery(job_body("j-1", steps=3))
    [accepted] = s.acceptor.accept_all([message])
    assert (accepted.job_id, accepted.kind, accepted.params.steps) == ("j-1", JobKind.TXT2IMG, 3)
    assert s.jobs.calls == []


def test_a_batch_message_becomes_a_record_of_the_senders_tenant() -> None:
    s = stages()
    message = delivery(job_body(None), lane=Lane.BATCH)
    [accepted] = s.acceptor.accept_all([message])
    record = s.jobs.records[accepted.job_id]
    assert accepted.job_id == batch_job_id(message.message_id)
    assert (record.owner, record.lane, record.status) == (TENANT, Lane.BATCH, JobStatus.QUEUED)


def test_rejections_are_settled_and_the_rest_kept_in_order() -> None:
    s = stages()
    queued(s.jobs, "j-a")
    queued(s.jobs, "j-b")
    garbage = delivery("not json")
    stranger = delivery(job_body(None), lane=Lane.BATCH, sender_id="AIDASTRANGER")
    first, second = delivery(job_body("j-a")), delivery(job_body("j-b"))
    accepted = s.acceptor.accept_all([first, garbage, stranger, second])
    assert [a.job_id for a in accepted] == ["j-a", "j-b"]
    dead = [message_id for _, message_id, _ in s.queue.dead_letters]
    assert dead == [garbage.message_id]
    # The batch lane has no DLQ configured here: the redrive policy moves it.
    assert s.queue.visibility == [(stranger.message_id, 0)]
    unknown = s.jobs.records[batch_job_id(stranger.message_id)]
    assert unknown.owner == UNKNOWN_SENDER_OWNER and unknown.status is JobStatus.FAILED


def test_an_intake_error_retries_only_that_delivery() -> None:
    s = stages()
    s.jobs.broken["create"] = RuntimeError("dynamodb down")
    batch = delivery(job_body(None), lane=Lane.BATCH)
    queued_first = delivery(job_body("j-ok"))
    accepted = s.acceptor.accept_all([batch, queued_first])
    assert [a.job_id for a in accepted] == ["j-ok"]
    assert s.queue.visibility == [(batch.message_id, 2)] and s.stats.jobs_retried == 1


def test_a_claim_leases_the_job_to_this_worker_and_holds_it() -> None:
    s = stages()
    queued(s.jobs, "j-1")
    [accepted] = s.acceptor.accept_all([delivery(job_body("j-1"))])
    before = time.perf_counter()
    running = s.claimer.claim(accepted, received_at=before)
    assert running is not None and running.claimed_at >= before
    assert running.record.status is JobStatus.RUNNING and running.record.worker_id == "w1"
    assert s.keeper.held_jobs() == ["j-1"] and running.lease.job_id == "j-1"


def test_a_terminal_job_is_deleted_and_one_held_elsewhere_deferred() -> None:
    s = stages(lease_seconds=60)
    queued(s.jobs, "j-done")
    s.jobs.claim("j-done", "w0", 60)
    s.jobs.finish("j-done", "w0", [], [])
    queued(s.jobs, "j-busy")
    s.jobs.claim("j-busy", "w2", 60)
    done, busy = delivery(job_body("j-done")), delivery(job_body("j-busy"))
    group = s.acceptor.accept_all([done, busy])
    assert s.claimer.claim_group(group, 0.0) == []
    assert s.acked() == [done.message_id]
    assert s.queue.visibility == [(busy.message_id, 60)]
    assert s.jobs.records["j-busy"].worker_id == "w2"


def test_a_missing_record_on_the_interactive_lane_means_the_job_was_deleted() -> None:
    s = stages()
    message = delivery(job_body("j-gone"))
    [accepted] = s.acceptor.accept_all([message])
    assert s.claimer.claim(accepted, 0.0) is None
    assert s.acked() == [message.message_id] and "j-gone" not in s.jobs.records


def test_a_batch_message_with_its_own_job_id_is_created_then_claimed() -> None:
    s = stages()
    message = delivery(job_body("own-id-1"), lane=Lane.BATCH)
    [accepted] = s.acceptor.accept_all([message])
    running = s.claimer.claim(accepted, 0.0)
    assert running is not None and running.record.owner == TENANT
    assert running.record.status is JobStatus.RUNNING and running.record.worker_id == "w1"


def test_an_input_outside_the_owners_prefix_fails_after_the_claim() -> None:
    s = stages()
    queued(s.jobs, "j-img", kind=JobKind.IMG2IMG, input_key="users/someone-else/inputs/a.png")
    message = delivery(
        job_body("j-img", kind=JobKind.IMG2IMG, input_key="users/someone-else/inputs/a.png")
    )
    [accepted] = s.acceptor.accept_all([message])
    assert s.claimer.claim(accepted, 0.0) is None
    record = s.jobs.records["j-img"]
    assert record.status is JobStatus.FAILED and record.error is not None
    assert record.error.code == ErrorCode.INVALID_INPUT.value
    assert "input_key" in record.error.message
    assert s.acked() == [message.message_id] and s.keeper.held_jobs() == []


def test_a_claim_error_retries_the_delivery() -> None:
    s = stages()
    queued(s.jobs, "j-1")
    message = delivery(job_body("j-1"))
    [accepted] = s.acceptor.accept_all([message])
    s.jobs.broken["claim"] = RuntimeError("dynamodb down")
    assert s.claimer.claim(accepted, 0.0) is None
    assert s.queue.visibility == [(message.message_id, 2)] and s.keeper.held_jobs() == []


def test_a_claim_error_is_logged_with_its_cause(caplog: pytest.LogCaptureFixture) -> None:
    """The operator reading the retry's log line sees why the claim failed."""
    s = stages()
    queued(s.jobs, "j-1")
    [accepted] = s.acceptor.accept_all([delivery(job_body("j-1"))])
    down = RuntimeError("dynamodb down")
    s.jobs.broken["claim"] = down
    caplog.set_level(logging.INFO)
    assert s.claimer.claim(accepted, 0.0) is None
    failed = logged(caplog, "attempt failed")
    assert failed.exc_info is not None and failed.exc_info[1] is down


def test_an_ingest_message_naming_another_lanes_record_is_dead_lettered_untouched() -> None:
    """Finding 1: the claim is bound to the lane the record was created for."""
    s = stages()
    queued(s.jobs, "j-batch", owner=TENANT, lane=Lane.BATCH)
    message = delivery(job_body("j-batch"))
    [accepted] = s.acceptor.accept_all([message])
    assert s.claimer.claim(accepted, received_at=time.perf_counter()) is None
    assert [m for _, m, _ in s.queue.dead_letters] == [message.message_id]
    [(_, _, error)] = s.queue.dead_letters
    assert error.code == ErrorCode.FOREIGN_JOB
    # The reason says which record and why, for whoever reads the dead letter.
    assert "j-batch" in error.message and "lane" in error.message
    record = s.jobs.records["j-batch"]
    assert (record.status, record.attempts, record.worker_id) == (JobStatus.QUEUED, 0, None)
    assert s.keeper.held_jobs() == []


def test_a_batch_message_naming_a_web_job_gets_its_own_record() -> None:
    """Finding 1: a batch job id lives in its tenant's namespace; a web job is out of reach."""
    s = stages()
    queued(s.jobs, "web-victim")
    message = delivery(job_body("web-victim", prompt="stolen"), lane=Lane.BATCH)
    [accepted] = s.acceptor.accept_all([message])
    running = s.claimer.claim(accepted, received_at=time.perf_counter())
    assert running is not None and running.record.job_id == f"{TENANT}.web-victim"
    assert running.record.owner == TENANT
    victim = s.jobs.records["web-victim"]
    assert (victim.status, victim.attempts) == (JobStatus.QUEUED, 0)


def test_a_batch_claim_is_bound_to_the_senders_tenant() -> None:
    """A record in the tenant's namespace that another owner holds (written there by anyone
    but the worker) is never claimed for that tenant's message: the claim itself checks the
    owner, not only intake."""
    s = stages()
    squatted = f"{TENANT}.named-1"
    queued(s.jobs, squatted, owner="user-9", lane=Lane.BATCH)
    message = delivery(job_body("named-1"), lane=Lane.BATCH)
    [accepted] = s.acceptor.accept_all([message])
    assert accepted.job_id == squatted
    assert s.claimer.claim(accepted, received_at=time.perf_counter()) is None
    # Refused to the lane's redrive policy (no DLQ is configured here for the batch lane).
    assert s.queue.visibility == [(message.message_id, 0)]
    record = s.jobs.records[squatted]
    assert (record.owner, record.status, record.worker_id) == ("user-9", JobStatus.QUEUED, None)


def test_a_claimed_group_keeps_when_each_message_was_received() -> None:
    """The received time is where a job's latency is measured from."""
    s = stages()
    queued(s.jobs, "j-1")
    queued(s.jobs, "j-2")
    group = s.acceptor.accept_all([delivery(job_body("j-1")), delivery(job_body("j-2"))])
    running = s.claimer.claim_group(group, received_at=123.5)
    assert [r.record.job_id for r in running] == ["j-1", "j-2"]
    assert [r.received_at for r in running] == [123.5, 123.5]


def logged(caplog: pytest.LogCaptureFixture, message: str) -> logging.LogRecord:
    [record] = [r for r in caplog.records if r.getMessage() == message]
    return record


def test_each_claim_outcome_logs_its_line_with_the_fields_operators_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = stages()
    queued(s.jobs, "j-run")
    queued(s.jobs, "j-done")
    s.jobs.claim("j-done", "w0", 60)
    s.jobs.finish("j-done", "w0", [], [])
    queued(s.jobs, "j-batch", owner=TENANT, lane=Lane.BATCH)
    caplog.set_level(logging.INFO)
    for job_id in ("j-run", "j-done", "j-batch"):
        [accepted] = s.acceptor.accept_all([delivery(job_body(job_id))])
        s.claimer.claim(accepted, received_at=0.0)
    # The extra fields are set on each record's __dict__, unknown to LogRecord's type.
    claimed = logged(caplog, "job claimed").__dict__
    assert (claimed["job_id"], claimed["attempt"], claimed["lane"]) == (
        "j-run",
        1,
        Lane.INTERACTIVE,
    )
    refused = logged(caplog, "job not claimable").__dict__
    assert (refused["job_id"], refused["status"]) == ("j-done", "succeeded")
    assert logged(caplog, "message names a foreign job").__dict__["job_id"] == "j-batch"


def replace_after_create(s: Stages, replacement: Callable[[JobRecord], JobRecord | None]) -> None:
    """What happens between intake creating a batch record and the claim that follows: the
    record is deleted (its owner deleted all their data) or replaced (a squatter's write)."""
    create = s.jobs.create

    def create_then_replace(record: JobRecord) -> JobRecord:
        created = create(record)
        changed = replacement(created)
        if changed is None:
            del s.jobs.records[created.job_id]
        else:
            s.jobs.records[created.job_id] = changed
        return created

    s.jobs.create = create_then_replace  # type: ignore[method-assign]


def test_a_batch_record_deleted_before_its_claim_ends_the_delivery() -> None:
    s = stages()
    replace_after_create(s, lambda created: None)
    message = delivery(job_body("named-2"), lane=Lane.BATCH)
    [accepted] = s.acceptor.accept_all([message])
    assert s.claimer.claim(accepted, received_at=0.0) is None
    assert s.acked() == [message.message_id] and s.keeper.held_jobs() == []


@pytest.mark.parametrize(
    "squat", [{"owner": "user-9"}, {"lane": Lane.INTERACTIVE}], ids=["owner", "lane"]
)
def test_a_batch_record_squatted_before_its_claim_is_never_run(squat: dict[str, Any]) -> None:
    s = stages()
    replace_after_create(s, lambda created: created.model_copy(update=squat))
    message = delivery(job_body("named-3"), lane=Lane.BATCH)
    [accepted] = s.acceptor.accept_all([message])
    assert s.claimer.claim(accepted, received_at=0.0) is None
    record = s.jobs.records[f"{TENANT}.named-3"]
    assert (record.status, record.worker_id, record.attempts) == (JobStatus.QUEUED, None, 0)
    assert s.queue.visibility == [(message.message_id, 0)] and s.keeper.held_jobs() == []
