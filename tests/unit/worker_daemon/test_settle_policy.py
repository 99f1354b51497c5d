"""The settle policy: every ending of a delivery decided without AWS."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from sdfleet.records import ErrorCode, JobError, JobRecord, JobStatus
from sdfleet.requests import JobKind
from tests.unit.worker_daemon.fakes import params
from worker.errors import GenerationCancelled, InvalidInputImage, InvalidJobInput
from worker.intake import Action, Intake
from worker.lease_keeper import JobLease
from worker.settle_policy import (
    MAX_ERROR_CHARS,
    Cancelled,
    Deferred,
    Discarded,
    Dropped,
    Failed,
    GaveUp,
    RetryLater,
    SettlePolicy,
    public_error,
    scrub,
    short_error,
)

POLICY = SettlePolicy(max_receive_count=3, visibility_timeout_seconds=120, lease_seconds=60)


def lease(*, lost: bool = False, cancel: bool = False) -> JobLease:
    return JobLease("j-1", lost=lost, cancel_requested=cancel)


def record(status: JobStatus = JobStatus.QUEUED) -> JobRecord:
    return JobRecord(
        job_id="j-1", owner="user-1", kind=JobKind.TXT2IMG, params=params(), status=status
    )


def test_a_failed_attempt_backs_off_then_gives_up_on_the_last_delivery() -> None:
    boom = RuntimeError("boom")
    assert POLICY.after_error(1, boom) == RetryLater(2, boom)
    assert POLICY.after_error(2, boom) == RetryLater(4, boom)
    outcome = POLICY.after_error(3, boom)
    assert isinstance(outcome, GaveUp) and outcome.cause is boom
    assert outcome.error.code == ErrorCode.RETRIES_EXHAUSTED.value
    # The owner reads the error class, never the internal message text (finding 5).
    assert outcome.error.message == "gave up after 3 attempts; last error: RuntimeError"


def test_raw_exception_text_never_reaches_the_users_record() -> None:
    """Finding 5: ARNs and account ids in an AWS error stay in the logs."""
    denied = ClientError(
        {
            "Error": {
                "Code": "AccessDenied",
                "Message": "User: arn:aws:sts::123456789012:assumed-role/sdfleet-prod-worker-role/"
                "i-0abc is not authorized to perform: s3:PutObject on resource: "
                "arn:aws:s3:::sdfleet-prod-data-123456789012/users/x/outputs/j/00.png",
            }
        },
        "PutObject",
    )
    for cause in (denied, RuntimeError("table arn:aws:dynamodb:us-east-1:123456789012:table/t")):
        outcome = POLICY.after_error(3, cause)
        assert isinstance(outcome, GaveUp)
        assert "arn:" not in outcome.error.message and "123456789012" not in outcome.error.message
    gave_up = POLICY.after_error(3, denied)
    assert isinstance(gave_up, GaveUp)
    assert gave_up.error.message.endswith("PutObject failed: AccessDenied")
    assert scrub("in 123456789012 as arn:aws:iam::123456789012:role/r") == "in <account> as <arn>"


def test_the_backoff_is_capped_by_the_visibility_timeout() -> None:
    policy = SettlePolicy(max_receive_count=50, visibility_timeout_seconds=10, lease_seconds=5)
    outcome = policy.after_error(20, RuntimeError())
    assert isinstance(outcome, RetryLater) and outcome.delay_seconds == 10


def test_a_long_last_error_is_shortened() -> None:
    # Only text written for the user is shown (an internal error shows just its class).
    outcome = POLICY.after_error(9, InvalidJobInput(ErrorCode.INVALID_INPUT.value, "x" * 5000))
    assert isinstance(outcome, GaveUp)
    assert outcome.error.message.endswith("...")
    assert len(outcome.error.message) < MAX_ERROR_CHARS + 60


def test_invalid_input_fails_at_once() -> None:
    exc = InvalidInputImage(ErrorCode.INVALID_INPUT.value, "input image: is empty (0 bytes)")
    assert POLICY.after_invalid_input(exc) == Failed(
        JobError(code="invalid_input", message="input image: is empty (0 bytes)")
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (lease(), None),
        (lease(cancel=True), Cancelled()),
        (lease(lost=True), Dropped()),
        (lease(lost=True, cancel=True), Dropped()),
    ],
)
def test_before_completion_only_a_live_uncancelled_lease_finishes(
    state: JobLease, expected: object
) -> None:
    assert POLICY.before_completion(state) == expected


def test_a_failed_call_is_settled_by_its_cause() -> None:
    cancelled = GenerationCancelled("all cancelled")
    assert POLICY.after_failed_call(cancelled, 2, 1, lease(cancel=True)) == Cancelled()
    assert POLICY.after_failed_call(cancelled, 2, 1, lease(lost=True)) == Dropped()
    invalid = InvalidJobInput("invalid_input", "prompt: too long")
    # Pinned on the one job of the call: it fails; in a batch nobody knows whose it is.
    assert POLICY.after_failed_call(invalid, 1, 1, lease()) == Failed(
        JobError(code="invalid_input", message="prompt: too long")
    )
    assert isinstance(POLICY.after_failed_call(invalid, 2, 1, lease()), RetryLater)
    oom = RuntimeError("CUDA out of memory")
    assert POLICY.after_failed_call(oom, 1, 1, lease()) == RetryLater(2, oom)
    assert isinstance(POLICY.after_failed_call(oom, 1, 3, lease()), GaveUp)


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_a_terminal_job_is_not_looked_at_again(status: str) -> None:
    assert isinstance(POLICY.not_claimable(status), Discarded)


@pytest.mark.parametrize("status", ["running", "queued", None])
def test_a_job_held_elsewhere_is_looked_at_once_its_lease_could_have_lapsed(
    status: str | None,
) -> None:
    assert POLICY.not_claimable(status) == Deferred(60)
    short_visibility = SettlePolicy(
        max_receive_count=3, visibility_timeout_seconds=30, lease_seconds=60
    )
    assert short_visibility.not_claimable(status) == Deferred(30)


def test_a_rejection_fails_only_a_record_that_can_still_change() -> None:
    error = JobError(code="invalid_input", message="prompt: missing")
    queued = POLICY.rejected(Intake(Action.DELETE, record=record(), error=error))
    assert queued.fail_record and not queued.dead_letter and queued.error == error
    done = POLICY.rejected(Intake(Action.DELETE, record=record(JobStatus.SUCCEEDED), error=error))
    assert not done.fail_record
    garbage = POLICY.rejected(Intake(Action.DEAD_LETTER, error=error))
    assert garbage.dead_letter and not garbage.fail_record and garbage.record is None
    skipped = POLICY.rejected(Intake(Action.DELETE, note="record deleted before the job ran"))
    assert not skipped.fail_record and skipped.note == "record deleted before the job ran"


def test_short_error_names_the_class_and_stops_at_the_limit() -> None:
    assert short_error(ValueError("boom")) == "ValueError: boom"
    fits = "x" * (MAX_ERROR_CHARS - len("ValueError: "))
    assert short_error(ValueError(fits)) == f"ValueError: {fits}"
    cut = short_error(ValueError(fits + "y"))
    assert len(cut) == MAX_ERROR_CHARS
    assert cut == f"ValueError: {fits}"[: MAX_ERROR_CHARS - 3] + "..."


def test_a_public_error_is_cut_at_exactly_the_limit() -> None:
    fits = "x" * MAX_ERROR_CHARS
    assert public_error(InvalidJobInput("invalid_input", fits)) == fits
    cut = public_error(InvalidJobInput("invalid_input", fits + "y"))
    assert cut == "x" * (MAX_ERROR_CHARS - 3) + "..."


@pytest.mark.parametrize("response", [{}, {"Error": {"Message": "no code"}}])
def test_an_aws_error_without_a_code_reads_unknown(response: dict[str, Any]) -> None:
    error = ClientError(response, "ReceiveMessage")  # type: ignore[arg-type]
    assert public_error(error) == "ReceiveMessage failed: unknown"


def test_a_retry_keeps_the_failed_attempts_error_for_the_log() -> None:
    cause = RuntimeError("CUDA error: device-side assert")
    retry = POLICY.after_error(1, cause)
    assert isinstance(retry, RetryLater) and retry.cause is cause
    batch_wide = POLICY.after_failed_call(cause, jobs_in_call=2, receive_count=1, lease=lease())
    assert isinstance(batch_wide, RetryLater) and batch_wide.cause is cause


def test_a_terminal_jobs_message_is_discarded_with_its_status() -> None:
    assert POLICY.not_claimable("succeeded") == Discarded("job is succeeded")
    assert POLICY.not_claimable("cancelled") == Discarded("job is cancelled")
