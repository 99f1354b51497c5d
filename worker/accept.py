"""The intake stage as the loop runs it: each delivery becomes an :class:`Accepted` job to
claim, or is settled at once with intake's reason (:mod:`worker.intake` decides)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from sdfleet.messages import JobMessage
from worker.intake import Action, Intake, MessageIntake
from worker.jobs import Accepted
from worker.lanes import ReceivedMessage
from worker.retry import transient_retry
from worker.settle import Settler

logger = Logger(service="sdfleet-worker", child=True)


class Acceptor:
    def __init__(self, intake: MessageIntake, settler: Settler) -> None:
        self._intake = intake
        self._settler = settler

    def accept_all(self, messages: list[ReceivedMessage]) -> list[Accepted]:
        """The runnable deliveries, in order; every other one is settled here."""
        runnable: list[Accepted] = []
        for message in messages:
            try:
                accepted = self.accept(message)
            except Exception as exc:
                self._settler.retry(message, None, exc)
                continue
            if accepted is not None:
                runnable.append(accepted)
        return runnable

    def accept(self, message: ReceivedMessage) -> Accepted | None:
        """What to claim, or None when the message was dealt with here."""
        return self._act_on(message, transient_retry(self._intake.resolve)(message))

    def accept_missing(self, message: ReceivedMessage) -> Accepted | None:
        """The claim found no record for the message's ``job_id`` (a batch message naming its
        own id, or a deleted job): intake decides again."""
        parsed = JobMessage.from_body(message.body)
        return self._act_on(message, transient_retry(self._intake.resolve_missing)(message, parsed))

    def _act_on(self, message: ReceivedMessage, intake: Intake) -> Accepted | None:
        if intake.action is Action.RUN and intake.job_id and intake.parsed:
            return Accepted(
                message, intake.job_id, intake.parsed.kind, intake.parsed.params, intake.owner
            )
        self._settler.apply(message, self._settler.policy.rejected(intake), None)
        return None
