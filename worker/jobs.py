"""The values handed from stage to stage: a delivery accepted for a job, a claimed job, and a
group of same-shape deliveries before and after its claims (see docs/worker.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sdfleet.records import JobRecord
from sdfleet.requests import JobKind, JobParams
from sdfleet.training import TrainParams
from worker.lanes import ReceivedMessage
from worker.lease_keeper import JobLease


@dataclass(frozen=True)
class Accepted:
    """A delivery that names a job to claim (its params group it with others of its shape)."""

    message: ReceivedMessage
    job_id: str
    kind: JobKind
    params: JobParams | TrainParams
    #: The owner the record must have (a batch sender's tenant); None: any (interactive).
    owner: str | None = None


@dataclass
class Running:
    """One claimed job while its group runs."""

    message: ReceivedMessage
    record: JobRecord
    lease: JobLease
    claimed_at: float
    received_at: float


@dataclass(frozen=True)
class PendingGroup:
    """Same-shape deliveries whose jobs are claimed when the group's turn comes."""

    accepted: list[Accepted]


@dataclass(frozen=True)
class ClaimedGroup:
    """Same-shape deliveries whose jobs were claimed ahead, during the previous call.

    ``claimed`` holds the jobs that were claimable; the other deliveries were settled when
    their claim failed."""

    accepted: list[Accepted]
    claimed: list[Running]


#: A group as the loop receives it: waiting for its claims, or claimed ahead.
Group = PendingGroup | ClaimedGroup


@dataclass(frozen=True)
class Fetched:
    """What a receive-ahead brought: the deliveries' groups, the first one claimed."""

    messages: int
    groups: list[Group] = field(default_factory=list)
