"""The shared exception hierarchy. Components derive their own from :class:`SdfleetError`."""


class SdfleetError(Exception):
    """Base of every error sdfleet raises on purpose."""


class ConfigurationError(SdfleetError):
    """A setting is missing or inconsistent."""


class JobStoreError(SdfleetError):
    """Base of the job store's errors."""


class JobNotFound(JobStoreError):
    """No record with that id (or not visible to that owner)."""


class JobAlreadyExists(JobStoreError):
    """A record with that id exists already."""


class TransitionRejected(JobStoreError):
    """A conditional write failed: the job was not in a state that allows the transition."""

    def __init__(self, job_id: str, transition: str, current_status: str | None) -> None:
        self.job_id = job_id
        self.transition = transition
        self.current_status = current_status
        super().__init__(
            f"job {job_id!r}: cannot {transition} (current status: {current_status or 'unknown'})"
        )


class ActiveJobLimit(JobStoreError):
    """The owner's queued and running jobs already reach ``limit`` (``what``: ``jobs`` or
    ``cost units``), as the atomic counters on their user item say."""

    def __init__(self, owner: str, active: int, limit: int, what: str = "jobs") -> None:
        self.owner, self.active, self.limit, self.what = owner, active, limit, what
        super().__init__(f"owner {owner!r} has {active} active {what}; the limit is {limit}")


class JobNotBound(JobStoreError):
    """The record exists but was not created for this lane or this sender's tenant: a message
    naming it is refused and the record is left alone."""


class OwnerDataDeleted(TransitionRejected):
    """The job's owner asked to delete all their data after the job was created: nothing of
    the job may be written any more (the purge removes the rest)."""


class JobNotClaimable(TransitionRejected):
    """The job is not queued (or its running lease has not expired): another worker has it."""


class LeaseLost(TransitionRejected):
    """This worker no longer holds the job's lease; it must not write a result."""


class CancelRequested(TransitionRejected):
    """The owner asked to cancel the job before its result was committed: cancel wins."""
