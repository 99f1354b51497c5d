"""The claim stage: one conditional write per job makes this worker its only runner.

Who may finish a job is decided by its DynamoDB lease, never by the SQS receipt handle. A
refused claim is settled by the policy (terminal: delete; live lease elsewhere: look again
later); a missing record goes back to intake (a batch message naming its own ``job_id``).
"""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger

from sdfleet.errors import JobNotBound, JobNotClaimable, JobNotFound
from sdfleet.records import ErrorCode, JobError
from worker.accept import Acceptor
from worker.gateways import JobGateway
from worker.intake import Action, Intake, input_problem
from worker.jobs import Accepted, Running
from worker.lease_keeper import LeaseKeeper
from worker.retry import transient_retry
from worker.settle import Settler
from worker.settle_policy import Discarded

logger = Logger(service="sdfleet-worker", child=True)


class Claimer:
    def __init__(
        self,
        jobs: JobGateway,
        acceptor: Acceptor,
        settler: Settler,
        keeper: LeaseKeeper,
        *,
        worker_id: str,
        lease_seconds: float,
    ) -> None:
        self._jobs = jobs
        self._acceptor = acceptor
        self._settler = settler
        self._keeper = keeper
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds

    def claim_group(self, group: list[Accepted], received_at: float) -> list[Running]:
        """The group's claimable jobs, leased to this worker; the rest are settled."""
        return [r for r in (self.claim(a, received_at) for a in group) if r is not None]

    def claim(self, accepted: Accepted, received_at: float) -> Running | None:
        message = accepted.message
        claim = transient_retry(self._jobs.claim)
        try:
            try:
                claimed = claim(
                    accepted.job_id,
                    self._worker_id,
                    self._lease_seconds,
                    lane=message.lane,
                    owner=accepted.owner,
                )
            except JobNotFound:
                again = self._acceptor.accept_missing(message)
                if again is None:
                    return None
                claimed = claim(
                    again.job_id,
                    self._worker_id,
                    self._lease_seconds,
                    lane=message.lane,
                    owner=again.owner,
                )
        except JobNotBound as exc:
            # Another lane's or another tenant's record: refuse the message, touch nothing.
            error = JobError(code=ErrorCode.FOREIGN_JOB.value, message=str(exc))
            refused = Intake(Action.DEAD_LETTER, error=error)
            self._settler.apply(message, self._settler.policy.rejected(refused), None)
            logger.warning("message names a foreign job", extra={"job_id": accepted.job_id})
            return None
        except JobNotClaimable as exc:
            status = exc.current_status
            self._settler.apply(message, self._settler.policy.not_claimable(status), None)
            logger.info("job not claimable", extra={"job_id": accepted.job_id, "status": status})
            return None
        except JobNotFound:
            self._settler.apply(message, Discarded("record deleted"), None)
            return None
        except Exception as exc:
            self._settler.retry(message, None, exc)
            return None
        lease = self._keeper.hold_job(claimed.job_id)
        running = Running(message, claimed, lease, time.perf_counter(), received_at)
        logger.info(
            "job claimed",
            extra={"job_id": claimed.job_id, "attempt": claimed.attempts, "lane": message.lane},
        )
        problem = input_problem(claimed)
        if problem is not None:
            self._settler.apply(message, self._settler.policy.bad_input(problem), running)
            return None
        return running
