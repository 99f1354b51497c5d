"""``submit --wait --events-queue-url``: following a batch through its job events on SQS.

The queue is fed by an EventBridge rule on the job events bus (as in
``terraform/examples/events-to-tenant-queue``). Each message is an EventBridge event whose
``detail`` is a job event v1 (a rule with ``InputPath: $.detail`` delivers the bare event; both
are read). Events of the submitted jobs are taken in and deleted; anything else is left in the
queue for whoever it belongs to: hidden a minute at a time while the wait lasts (so each
receive sees new messages), made visible again when it ends. Each receive counts towards a
redrive policy: give the wait a queue of its own (or one fed by a rule for its tenant only).

The events decide when the wait is over, and the final events (status, error, output keys,
timings) make the summary, so a submitter whose role may not read the jobs table (see
docs/operations.md: records ``b-<MessageId>`` lie outside a tenant's ``LeadingKeys``) can
still follow its batch. Where the events stop coming (no rule, a wrong queue, a rule that
does not match), the records show it: when the queue has been quiet for ``quiet_seconds``,
one read of the records checks whether a job finished more than ``quiet_seconds`` ago without
its final event. If so, the follower says why and hands over to polling for the rest of the
wait (where the table cannot be read, the check is skipped and the wait goes on).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError
from pydantic import ValidationError

from sdfleet.events import EVENT_SOURCE, SEQUENCE, JobEvent
from sdfleet.records import JobError, JobRecord, JobStatus
from sdfleet_cli.local.waiting import JobWatcher

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

#: Seconds without an event of ours before the records are read to check that events flow.
DEFAULT_QUIET_SECONDS: Final = 30.0
#: SQS long-poll limit.
MAX_WAIT_SECONDS: Final = 20
RECEIVE_MAX_MESSAGES: Final = 10
#: How long a message that is not ours stays hidden before a receive may see it again.
OTHERS_HIDDEN_SECONDS: Final = 60

StatusUpdate = Callable[[Mapping[str, JobStatus]], None]


def job_event_of(body: str) -> JobEvent | None:
    """The job event in an SQS message body, or None for anything else."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    if "detail" in data:
        if data.get("source") != EVENT_SOURCE:
            return None
        data = data["detail"]
    try:
        return JobEvent.model_validate(data)
    except ValidationError:
        return None


def _finished_at(record: JobRecord) -> datetime:
    return record.finished_at or record.started_at or record.created_at


@dataclass(frozen=True)
class JobOutcome:
    """What the summary shows of a job, from its latest event (a record has the same fields)."""

    job_id: str
    status: JobStatus
    error: JobError | None
    outputs: list[str]
    total_seconds: float | None

    @classmethod
    def of_event(cls, event: JobEvent) -> JobOutcome:
        return cls(
            job_id=event.job_id,
            status=event.status,
            error=event.error,
            outputs=list(event.output_keys),
            total_seconds=event.total_seconds,
        )


@dataclass
class FollowResult:
    #: Per job: its latest event, or its record after a fall-back to polling.
    outcomes: Mapping[str, JobOutcome | JobRecord]
    #: Why the follower switched to polling; None when the events carried the whole wait.
    fell_back: str | None = None
    #: Messages of the submitted jobs taken from the queue (and deleted).
    consumed: int = 0


class EventFollower:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        watcher: JobWatcher,
        *,
        quiet_seconds: float = DEFAULT_QUIET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if quiet_seconds <= 0:
            raise ValueError(f"quiet_seconds: must be > 0 (got {quiet_seconds})")
        self._sqs = sqs
        self.queue_url = queue_url
        self._watcher = watcher
        self._quiet_seconds = quiet_seconds
        self._clock = clock
        #: MessageId -> latest receipt handle of each message that is not ours.
        self._hidden: dict[str, str] = {}

    def wait(
        self,
        job_ids: Sequence[str],
        timeout: float,
        on_update: StatusUpdate | None = None,
        on_fallback: Callable[[str], None] | None = None,
    ) -> FollowResult:
        """Until every job's final event arrived or ``timeout`` passed (or, after a fall-back,
        polling until the same deadline)."""
        self._hidden = {}
        try:
            return self._follow(list(job_ids), timeout, on_update, on_fallback)
        finally:
            self._release_hidden()

    def _follow(
        self,
        job_ids: list[str],
        timeout: float,
        on_update: StatusUpdate | None,
        on_fallback: Callable[[str], None] | None,
    ) -> FollowResult:
        wanted = set(job_ids)
        latest: dict[str, JobEvent] = {}
        consumed = 0
        deadline = self._clock() + timeout
        last_event = self._clock()
        if on_update is not None:
            on_update({})
        while not self._all_final(wanted, latest):
            now = self._clock()
            if now >= deadline:
                break
            if now - last_event >= self._quiet_seconds:
                reason = self._missed(wanted, latest)
                if reason is not None:
                    if on_fallback is not None:
                        on_fallback(reason)
                    records = self._watcher.wait(
                        job_ids,
                        max(0.0, deadline - self._clock()),
                        on_update=_as_status_update(on_update),
                    )
                    return FollowResult(records, fell_back=reason, consumed=consumed)
                last_event = self._clock()
            wait = min(deadline - now, self._quiet_seconds - (now - last_event))
            wait_seconds = max(0, min(MAX_WAIT_SECONDS, math.ceil(wait)))
            taken = self._receive(wanted, latest, wait_seconds)
            if taken:
                consumed += taken
                last_event = self._clock()
                if on_update is not None:
                    on_update({job_id: event.status for job_id, event in latest.items()})
        if self._all_final(wanted, latest):
            # Stragglers of ours (SQS does not keep order: a job's running event may come after
            # its final one): take what is already there, without waiting.
            while taken := self._receive(wanted, latest, wait_seconds=0):
                consumed += taken
        outcomes = {job_id: JobOutcome.of_event(event) for job_id, event in latest.items()}
        return FollowResult(outcomes, consumed=consumed)

    @staticmethod
    def _all_final(wanted: set[str], latest: Mapping[str, JobEvent]) -> bool:
        return all(job_id in latest and latest[job_id].status.is_terminal for job_id in wanted)

    def _receive(self, wanted: set[str], latest: dict[str, JobEvent], wait_seconds: int) -> int:
        """One receive; returns how many events of ``wanted`` it took (and deleted)."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=RECEIVE_MAX_MESSAGES,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=OTHERS_HIDDEN_SECONDS,
        ).get("Messages", [])
        ours: list[MessageTypeDef] = []
        for message in messages:
            event = job_event_of(message.get("Body", ""))
            if event is None or event.job_id not in wanted:
                self._hidden[message["MessageId"]] = message["ReceiptHandle"]
                continue
            ours.append(message)
            known = latest.get(event.job_id)
            if known is None or SEQUENCE[event.status] > SEQUENCE[known.status]:
                latest[event.job_id] = event
        if ours:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(ours)
                ],
            )
        return len(ours)

    def _release_hidden(self) -> None:
        """Makes the messages that are not ours visible again (a handle that expired meanwhile
        fails harmlessly: that message is visible already)."""
        handles = list(self._hidden.values())
        self._hidden = {}
        for start in range(0, len(handles), RECEIVE_MAX_MESSAGES):
            chunk = handles[start : start + RECEIVE_MAX_MESSAGES]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for n, handle in enumerate(chunk)
                ],
            )

    def _missed(self, wanted: set[str], latest: Mapping[str, JobEvent]) -> str | None:
        """Why the events seem not to reach the queue, or None while the records agree (or
        cannot be read)."""
        pending = sorted(
            job_id
            for job_id in wanted
            if job_id not in latest or not latest[job_id].status.is_terminal
        )
        try:
            records = self._watcher.fetch(pending)
        except ClientError:
            return None
        now = datetime.now(UTC)
        for job_id in pending:
            record = records.get(job_id)
            if record is None or not record.status.is_terminal:
                continue
            age = (now - _finished_at(record)).total_seconds()
            if age >= self._quiet_seconds:
                return (
                    f"job {job_id} is {record.status.value} since {age:.0f}s but its event has "
                    f"not reached {self.queue_url}"
                )
        return None


def _as_status_update(
    on_update: StatusUpdate | None,
) -> Callable[[dict[str, JobRecord]], None] | None:
    if on_update is None:
        return None
    update = on_update

    def forward(records: dict[str, JobRecord]) -> None:
        update({job_id: record.status for job_id, record in records.items()})

    return forward
