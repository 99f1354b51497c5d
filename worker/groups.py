"""The groups of one receive, in order: claim, split by record, run; and the next receive
fetched ahead while the last call of this one finishes (:mod:`worker.receive_ahead`).

A receive's deliveries go through intake (:mod:`worker.accept`) and batching
(:mod:`worker.batching`) into groups. A group is a :class:`PendingGroup` (claimed when its
turn comes) or, for the first group of a receive fetched ahead, a :class:`ClaimedGroup`. A
drain hands back every group that has not started.
"""

from __future__ import annotations

import time
from typing import Protocol

from aws_lambda_powertools import Logger

from sdfleet.requests import JobKind
from worker.accept import Acceptor
from worker.batching import group_by_shape, split_by_record
from worker.claim import Claimer
from worker.jobs import Accepted, ClaimedGroup, Fetched, Group, PendingGroup, Running
from worker.lanes import ReceivedMessage
from worker.lease_keeper import LeaseKeeper
from worker.lifecycle import Drain
from worker.pipeline_call import CallRunner
from worker.receive_ahead import ReceiveAhead
from worker.settle import Settler
from worker.settle_policy import Returned

logger = Logger(service="sdfleet-worker", child=True)


class Trainer(Protocol):
    """Runs one claimed training to its end (:class:`worker.train_run.TrainingRunner`)."""

    def run(self, running: Running) -> None: ...


class Receiver(Protocol):
    """Receives from the lanes (:class:`worker.lanes.LanePoller`)."""

    def poll(
        self, *, long_poll: bool = True, limit: int | None = None
    ) -> list[ReceivedMessage]: ...


class GroupRunner:
    def __init__(
        self,
        *,
        poller: Receiver,
        acceptor: Acceptor,
        claimer: Claimer,
        runner: CallRunner,
        settler: Settler,
        keeper: LeaseKeeper,
        drain: Drain,
        max_batch_size: int,
        receive_ahead_seconds: float,
        trainer: Trainer | None = None,
    ) -> None:
        self._poller = poller
        self._acceptor = acceptor
        self._claimer = claimer
        self._runner = runner
        self._trainer = trainer
        self._settler = settler
        self._keeper = keeper
        self._drain = drain
        self._max_images = max_batch_size
        self.ahead = ReceiveAhead(self.fetch_ahead, receive_ahead_seconds)

    def groups_of(self, messages: list[ReceivedMessage]) -> list[list[Accepted]]:
        """Intake, then batching: the runnable deliveries in same-shape groups."""
        accepted = self._acceptor.accept_all(messages)
        return group_by_shape(accepted, self._runner.generator.batch_key, self._max_images)

    def execute(self, groups: list[Group], received_at: float) -> None:
        for index, group in enumerate(groups):
            if self._drain.requested:
                # Received but not started: straight back to the queue.
                self.hand_back(group)
                continue
            try:
                self._run_group(group, received_at, last=index == len(groups) - 1)
            except Exception:
                # Each stage settles its own jobs' errors; this is a last line of defence.
                logger.exception("unexpected error around a group")
                for accepted in group.accepted:
                    self._keeper.release_message(accepted.message)
                    self._keeper.release_job(accepted.job_id)

    def _run_group(self, group: Group, received_at: float, *, last: bool) -> None:
        if isinstance(group, ClaimedGroup):
            claimed = group.claimed
            # Claimed ahead, during the previous call: the job's time starts now.
            now = time.perf_counter()
            for running in claimed:
                running.claimed_at = now
        else:
            claimed = self._claimer.claim_group(group.accepted, received_at)
        calls = split_by_record(claimed, self._runner.generator.batch_key)
        for index, runs in enumerate(calls):
            if runs[0].record.kind is JobKind.TRAIN:
                # split_by_record gives a training a call of its own.
                self._train(runs[0])
                continue
            # The last call of a receive starts the next receive shortly before it ends.
            receive_ahead = last and index == len(calls) - 1
            self._runner.run(runs, self.ahead if receive_ahead else None)

    def _train(self, running: Running) -> None:
        if self._trainer is None:
            self._settler.retry(
                running.message, running, RuntimeError("this worker cannot run trainings")
            )
            return
        self._trainer.run(running)

    def hand_back(self, group: Group) -> None:
        """Returns a group that never started: its claims expire at once (the next delivery
        claims without waiting for the lease) and its messages are visible again."""
        if isinstance(group, ClaimedGroup):
            for running in group.claimed:
                self._settler.expire_unstarted(running)
        for accepted in group.accepted:
            self._settler.apply(accepted.message, Returned(), None)

    # -- receiving ahead -------------------------------------------------------------------
    def fetch_ahead(self) -> Fetched:
        """Runs on the receive-ahead thread while the last call of a receive finishes: the
        next receive, its intake, and the claims of its first group (the next call)."""
        if self._drain.requested:
            return Fetched(0)
        messages = self._poller.poll(long_poll=False)
        if not messages:
            return Fetched(0)
        self._keeper.hold_messages(messages)
        received_at = time.perf_counter()
        try:
            groups = self.groups_of(messages)
            first = self._claimer.claim_group(groups[0], received_at) if groups else []
        except Exception:
            # Intake and claims settle their own errors; never leave a message held forever.
            logger.exception("unexpected error receiving ahead")
            for message in messages:
                self._settler.apply(message, Returned(), None)
            return Fetched(0)
        if not groups:
            return Fetched(len(messages))
        rest: list[Group] = [PendingGroup(group) for group in groups[1:]]
        return Fetched(len(messages), [ClaimedGroup(groups[0], first), *rest])

    def release_fetched(self) -> None:
        """Hands back whatever was received ahead and never started (drain, tests)."""
        fetched = self.ahead.take()
        if fetched is None:
            return
        for group in fetched.groups:
            self.hand_back(group)
