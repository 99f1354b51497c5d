"""Draining: SIGTERM, spot interruption notices and ASG termination, all handled the same way.

The first SIGTERM (or SIGINT) asks the worker to drain: stop receiving, finish the batch that
is generating, return prefetched messages (visibility 0) and exit 0. A second one exits at
once (the held messages come back after their visibility timeout, the leases expire). A
spot ``instance-action`` notice or a target lifecycle state of ``Terminated`` (polled from the
instance metadata service every ``metadata_poll_seconds``) drains the same way; after a
lifecycle drain the worker completes the lifecycle action so the instance goes without waiting
for the hook's timeout. Until then it records a hook heartbeat every ``HOOK_HEARTBEAT_SECONDS``,
so a job in hand longer than the hook's timeout (a training) is finished, not killed with the
instance when the timeout runs out.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from enum import StrEnum
from types import FrameType
from typing import TYPE_CHECKING, Final

from aws_lambda_powertools import Logger

from worker.metadata import LEAVING_STATES, WARMED_PREFIX, InstanceMetadata, MetadataUnavailable

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient

#: Exit status after a second SIGTERM (128 + SIGTERM, what a shell would report).
FORCED_EXIT_STATUS: Final = 128 + signal.SIGTERM
#: Seconds between hook heartbeats while draining for a lifecycle termination: under the
#: shortest hook timeout Terraform allows (``lifecycle_hook_timeout_seconds`` >= 30).
HOOK_HEARTBEAT_SECONDS: Final = 20.0

logger = Logger(service="sdfleet-worker", child=True)


class DrainReason(StrEnum):
    SIGNAL = "signal"
    SPOT = "spot_interruption"
    LIFECYCLE = "lifecycle_terminating"


class Drain:
    """A thread-safe "please stop" flag that remembers why and when."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: DrainReason | None = None
        self.detail: str = ""

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, reason: DrainReason, detail: str = "") -> bool:
        """True the first time; later requests keep the first reason."""
        with self._lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self.detail = detail
            self._event.set()
        logger.info("draining", extra={"reason": reason.value, "detail": detail})
        return True

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


def install_signal_handlers(drain: Drain) -> None:
    """First SIGTERM/SIGINT drains, a second exits at once. Main thread only."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if not drain.request(DrainReason.SIGNAL, signal.Signals(signum).name):
            logger.warning("second signal: exiting now", extra={"signal": signum})
            os._exit(FORCED_EXIT_STATUS)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


class TerminationWatcher:
    """Polls IMDS for a spot notice or a leaving lifecycle state; requests a drain on either."""

    def __init__(
        self,
        metadata: InstanceMetadata,
        drain: Drain,
        poll_seconds: float,
        *,
        hook_heartbeat: Callable[[], None] | None = None,
        hook_heartbeat_seconds: float = HOOK_HEARTBEAT_SECONDS,
    ) -> None:
        self._metadata = metadata
        self._drain = drain
        self._poll = poll_seconds
        self._hook_heartbeat = hook_heartbeat
        self._hook_heartbeat_seconds = hook_heartbeat_seconds
        self._stop = threading.Event()
        self._warned = False
        self.lifecycle_state: str | None = None
        self._thread = threading.Thread(target=self._run, name="imds-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        """One poll (public so tests can drive it)."""
        notice = self._metadata.spot_notice()
        if notice is not None:
            self._drain.request(DrainReason.SPOT, f"{notice.action} at {notice.time}")
            return
        state = self._metadata.target_lifecycle_state()
        self.lifecycle_state = state
        if state in LEAVING_STATES:
            self._drain.request(DrainReason.LIFECYCLE, state or "")

    def _run(self) -> None:
        while not self._stop.is_set() and not self._drain.requested:
            try:
                self.check()
            except MetadataUnavailable as exc:
                if not self._warned:
                    logger.warning("metadata service unavailable", extra={"error": str(exc)})
                    self._warned = True
            except Exception:
                logger.exception("metadata poll failed")
            self._stop.wait(self._poll)
        if self._drain.reason is DrainReason.LIFECYCLE and self._hook_heartbeat is not None:
            self._hold_the_hook(self._hook_heartbeat)

    def _hold_the_hook(self, heartbeat: Callable[[], None]) -> None:
        """Heartbeats the terminating hook until the worker stops (it then completes it)."""
        failed = False
        while not self._stop.wait(self._hook_heartbeat_seconds):
            try:
                heartbeat()
            except Exception as exc:
                # No pending action (no hook, or it already ended): nothing to hold. Once.
                if not failed:
                    logger.warning("lifecycle hook heartbeat failed", extra={"error": str(exc)})
                failed = True


def complete_lifecycle_action(
    autoscaling: AutoScalingClient, *, hook_name: str, asg_name: str, instance_id: str
) -> None:
    autoscaling.complete_lifecycle_action(
        LifecycleHookName=hook_name,
        AutoScalingGroupName=asg_name,
        InstanceId=instance_id,
        LifecycleActionResult="CONTINUE",
    )
    logger.info("lifecycle action completed", extra={"hook": hook_name, "asg": asg_name})


def record_lifecycle_heartbeat(
    autoscaling: AutoScalingClient, *, hook_name: str, asg_name: str, instance_id: str
) -> None:
    autoscaling.record_lifecycle_action_heartbeat(
        LifecycleHookName=hook_name, AutoScalingGroupName=asg_name, InstanceId=instance_id
    )


class LaunchGate:
    """Holds a worker that is loaded and warm until its instance is in service.

    With a warm pool the same instance boots twice: into the pool (target lifecycle state
    ``Warmed:*``), where it must fill its model cache and then be stopped without ever
    claiming a job, and later into service. The ASG's launching lifecycle hook holds each
    transition until the worker completes it, which it does only once the model is loaded and
    warm (so a worker that cannot load never enters the pool or the group: the hook times out
    with ABANDON and the ASG replaces the instance). Outside an ASG (no IMDS, no hook) the
    gate opens at once.
    """

    def __init__(
        self,
        metadata: InstanceMetadata | None,
        drain: Drain,
        *,
        complete: Callable[[], None] | None,
        poll_seconds: float,
        on_warmed: Callable[[], object] | None = None,
    ) -> None:
        self._metadata = metadata
        self._drain = drain
        self._complete = complete
        self._poll = poll_seconds
        #: Called once, when the instance is first seen headed for the warm pool (loaded and
        #: warm; the start timer records the launch into the pool then, before the stop).
        self._on_warmed = on_warmed
        self.states_seen: list[str | None] = []

    def _state(self) -> str | None:
        if self._metadata is None:
            return None
        try:
            return self._metadata.target_lifecycle_state()
        except MetadataUnavailable as exc:
            logger.info(
                "no lifecycle state from metadata: not in an ASG", extra={"error": str(exc)}
            )
            return None

    def _complete_once(self, completed_for: str | None, state: str | None) -> str | None:
        if self._complete is None or completed_for == state:
            return completed_for
        try:
            self._complete()
        except Exception as exc:
            # No pending action (the hook was not configured, or already timed out).
            logger.info("launch hook not completed", extra={"state": state, "error": str(exc)})
        return state

    def wait_until_in_service(self) -> bool:
        """True once the instance may claim jobs; False if a drain came first."""
        completed_for: str | None = "(none)"
        while not self._drain.requested:
            state = self._state()
            if not self.states_seen or self.states_seen[-1] != state:
                self.states_seen.append(state)
                logger.info("target lifecycle state", extra={"state": state})
            completed_for = self._complete_once(completed_for, state)
            if state is None or not state.startswith(WARMED_PREFIX):
                return True
            if self._on_warmed is not None:
                self._on_warmed()
                self._on_warmed = None
            # Warmed: model cached, hook completed; the ASG stops (or keeps) this instance.
            # SIGTERM at the stop drains; a move into service shows as a new target state.
            self._drain.wait(self._poll)
        return False
