"""How every delivery ends, decided in one place: the settle policy.

In the spirit of dramatiq's ``Retries`` middleware, the decision is a pure function of what
happened (an exception, a receive count, a lease's state, an intake verdict); nothing here
calls AWS. :class:`worker.settle.Settler` applies the outcome it returns.

Outcomes:

========================  ==============================================================
:class:`Succeeded`        the record is finished: count it, delete the message
:class:`Failed`           fail the record (lease-conditional), delete the message
:class:`Cancelled`        mark the record cancelled (cancel was requested), delete
:class:`Dropped`          the lease was lost: the new holder owns job and message; touch
                          nothing
:class:`RetryLater`       release the lease now, message visible again after a backoff
:class:`GaveUp`           last delivery: fail the record (``retries_exhausted``), message
                          visible at once so the redrive policy moves it to the DLQ
:class:`Rejected`         intake refused it: fail its record if one can carry the reason,
                          then move the message to the lane's DLQ or delete it
:class:`Discarded`        nothing to run (terminal or deleted job): delete the message
:class:`Deferred`         another worker holds a live lease: look again later
:class:`Returned`         received but never started (drain): visible again at once
========================  ==============================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from botocore.exceptions import ClientError

from sdfleet.records import ErrorCode, JobError, JobRecord, JobStatus
from worker.errors import GenerationCancelled, InvalidJobInput
from worker.intake import Action, Intake
from worker.lease_keeper import JobLease
from worker.retry import redelivery_delay

#: Error text stored on a record or attached to a dead-lettered message.
MAX_ERROR_CHARS: Final = 1000


@dataclass(frozen=True)
class Succeeded:
    outputs: tuple[str, ...]
    total_seconds: float
    latency_seconds: float


@dataclass(frozen=True)
class Failed:
    error: JobError


@dataclass(frozen=True)
class Cancelled:
    pass


@dataclass(frozen=True)
class Dropped:
    pass


@dataclass(frozen=True)
class RetryLater:
    delay_seconds: int
    #: The failed attempt's error (logged with its traceback).
    cause: BaseException = field(compare=False)


@dataclass(frozen=True)
class GaveUp:
    error: JobError
    cause: BaseException = field(compare=False)


@dataclass(frozen=True)
class Rejected:
    error: JobError | None
    record: JobRecord | None
    #: Fail ``record`` with ``error`` first (there is both, and the record is not terminal).
    fail_record: bool
    dead_letter: bool
    note: str = ""


@dataclass(frozen=True)
class Discarded:
    note: str = ""


@dataclass(frozen=True)
class Deferred:
    delay_seconds: int


@dataclass(frozen=True)
class Returned:
    pass


#: What becomes of one delivery (and its job, if claimed).
Outcome = (
    Succeeded
    | Failed
    | Cancelled
    | Dropped
    | RetryLater
    | GaveUp
    | Rejected
    | Discarded
    | Deferred
    | Returned
)


def short_error(exc: BaseException) -> str:
    """The full error, for logs only (it may name ARNs, account ids, bucket keys)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


_ARN = re.compile(r"arn:aws[a-zA-Z-]*:[^\s'\"]*")
_ACCOUNT_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")


def scrub(text: str) -> str:
    """Removes ARNs and 12-digit account ids."""
    return _ACCOUNT_ID.sub("<account>", _ARN.sub("<arn>", text))


def public_error(exc: BaseException) -> str:
    """What a job's owner may read about an internal error: its class and, for AWS errors, the
    operation and error code; never the message text, which names ARNs, account ids, buckets.
    Errors about the user's own input are already written for them (InvalidJobInput)."""
    if isinstance(exc, InvalidJobInput):
        text = str(exc)
    elif isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        text = f"{exc.operation_name} failed: {error.get('Code', 'unknown')}"
    elif "out of memory" in str(exc).lower():
        text = f"{type(exc).__name__} (out of GPU memory)"
    else:
        text = type(exc).__name__
    text = scrub(text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


@dataclass(frozen=True)
class SettlePolicy:
    max_receive_count: int
    visibility_timeout_seconds: int
    lease_seconds: int

    def after_error(self, receive_count: int, exc: BaseException) -> RetryLater | GaveUp:
        """A failed attempt: back to the queue with a backoff, or, on the last delivery,
        failed for good."""
        if receive_count >= self.max_receive_count:
            return GaveUp(
                JobError(
                    code=ErrorCode.RETRIES_EXHAUSTED.value,
                    message=f"gave up after {receive_count} attempts; "
                    f"last error: {public_error(exc)}",
                ),
                exc,
            )
        return RetryLater(redelivery_delay(receive_count, self.visibility_timeout_seconds), exc)

    def bad_input(self, error: JobError) -> Failed:
        """The job can never succeed as given: fail it at once, no retry."""
        return Failed(error)

    def after_invalid_input(self, exc: InvalidJobInput) -> Failed:
        return self.bad_input(JobError(code=exc.code, message=str(exc)))

    def stopped(self, lease: JobLease) -> Cancelled | Dropped:
        """The pipeline stopped (or finished) for a job that was cancelled or taken over."""
        return Dropped() if lease.lost else Cancelled()

    def before_completion(self, lease: JobLease) -> Cancelled | Dropped | None:
        """A call returned images: None to upload and finish them, else why not."""
        if lease.lost or lease.cancel_requested:
            return self.stopped(lease)
        return None

    def after_failed_call(
        self, exc: BaseException, jobs_in_call: int, receive_count: int, lease: JobLease
    ) -> Outcome:
        """A pipeline call raised; the outcome for one of its ``jobs_in_call`` jobs."""
        if isinstance(exc, GenerationCancelled):
            return self.stopped(lease)
        if isinstance(exc, InvalidJobInput) and jobs_in_call == 1:
            return self.after_invalid_input(exc)
        # A batch-wide error (or one we cannot pin on a job): every job tries again.
        return self.after_error(receive_count, exc)

    def not_claimable(self, status: str | None) -> Discarded | Deferred:
        """The claim was refused: a terminal job's message is done; otherwise another worker
        holds a live lease, so never run it and look again once that lease could have lapsed
        (its holder died); by then the job is usually finished."""
        if status is not None and JobStatus(status).is_terminal:
            return Discarded(f"job is {status}")
        return Deferred(min(self.lease_seconds, self.visibility_timeout_seconds))

    def rejected(self, intake: Intake) -> Rejected:
        """Intake decided the delivery never runs (``intake.action`` is not RUN)."""
        record, error = intake.record, intake.error
        return Rejected(
            error=error,
            record=record,
            fail_record=error is not None and record is not None and not record.status.is_terminal,
            dead_letter=intake.action is Action.DEAD_LETTER,
            note=intake.note,
        )
