"""One worker process per InService instance of the emulated Auto Scaling group.

The emulator's ASG creates instances as soon as the desired capacity rises and removes them
when the scaler terminates one, but nothing runs on them. This manager plays the instances:
it starts ``python -m worker`` with the instance's id for each new instance and SIGTERMs the
worker of each instance that went away (the worker drains and exits, as on a real instance
whose ASG lifecycle moved it to Terminating). A worker that crashes while its instance is in
service is restarted after a pause, like systemd's ``Restart=on-failure`` on the AMI.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from sdfleet import env
from sdfleet_cli.local.processes import ChildProcess

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient

#: Lifecycle states of an instance that should be running a worker.
RUNNING_STATES: Final = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})
RECONCILE_SECONDS: Final = 1.0
#: A draining worker finishes its current batch; after this it is killed.
DRAIN_TIMEOUT_SECONDS: Final = 120.0
#: Pause before restarting a worker that exited on its own (systemd RestartSec).
RESTART_DELAY_SECONDS: Final = 5.0
WORKER_COMMAND: Final = (sys.executable, "-m", "worker")

logger = logging.getLogger(__name__)


@dataclass
class WorkerSlot:
    instance_id: str
    process: ChildProcess
    started_at: float
    stopping_since: float | None = None
    exited_at: float | None = None
    restarts: int = 0


class WorkerFleet:
    def __init__(
        self,
        autoscaling: AutoScalingClient,
        asg_name: str,
        worker_env: Mapping[str, str],
        logs_dir: Path,
        command: Sequence[str] = WORKER_COMMAND,
        drain_timeout: float = DRAIN_TIMEOUT_SECONDS,
        restart_delay: float = RESTART_DELAY_SECONDS,
    ) -> None:
        self._autoscaling = autoscaling
        self.asg_name = asg_name
        self._env = dict(worker_env)
        self._logs_dir = logs_dir
        self._command = list(command)
        self._drain_timeout = drain_timeout
        self._restart_delay = restart_delay
        self._slots: dict[str, WorkerSlot] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-fleet", daemon=True)
        #: (time, running workers) each time the count changes: scale-out/in made visible.
        self.history: list[tuple[float, int]] = []

    def instances(self) -> set[str]:
        groups = self._autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.asg_name]
        )["AutoScalingGroups"]
        if not groups:
            return set()
        return {
            instance["InstanceId"]
            for instance in groups[0].get("Instances", [])
            if instance["LifecycleState"] in RUNNING_STATES
        }

    def _spawn(self, instance_id: str) -> ChildProcess:
        process = ChildProcess(
            f"worker-{instance_id}",
            self._command,
            self._logs_dir / f"worker-{instance_id}.log",
            env={**self._env, env.INSTANCE_ID: instance_id, env.WORKER_ID: instance_id},
        )
        process.start()
        logger.info("worker started for %s (pid %s)", instance_id, process.pid)
        return process

    def reconcile(self) -> None:
        """Starts, stops, restarts and reaps workers to match the group's instances."""
        wanted = self.instances()
        now = time.monotonic()
        with self._lock:
            for instance_id in sorted(wanted - self._slots.keys()):
                self._slots[instance_id] = WorkerSlot(instance_id, self._spawn(instance_id), now)
            for instance_id, slot in list(self._slots.items()):
                status = slot.process.poll()
                if instance_id not in wanted and slot.stopping_since is None and status is None:
                    logger.info("instance %s left the group: draining its worker", instance_id)
                    slot.process.signal(signal.SIGTERM)
                    slot.stopping_since = now
                if status is not None:
                    self._exited(slot, status, instance_id in wanted, now)
                elif slot.stopping_since and now - slot.stopping_since > self._drain_timeout:
                    logger.warning("worker %s did not drain in time: killing it", instance_id)
                    slot.process.kill()
            self._record_count()

    def _exited(self, slot: WorkerSlot, status: int, wanted: bool, now: float) -> None:
        if slot.exited_at is None:
            slot.exited_at = now
            slot.process.close()
            logger.info("worker %s exited with status %s", slot.instance_id, status)
        if not wanted or slot.stopping_since is not None:
            del self._slots[slot.instance_id]
        elif now - slot.exited_at >= self._restart_delay:
            slot.restarts += 1
            logger.warning("restarting the worker of %s (#%s)", slot.instance_id, slot.restarts)
            slot.process = self._spawn(slot.instance_id)
            slot.started_at, slot.exited_at = now, None

    def _record_count(self) -> None:
        count = sum(1 for slot in self._slots.values() if slot.process.running())
        if not self.history or self.history[-1][1] != count:
            self.history.append((time.time(), count))
            logger.info("workers running: %s", count)

    def running_workers(self) -> dict[str, int | None]:
        """Instance id -> pid of every worker process alive now."""
        with self._lock:
            return {
                iid: slot.process.pid for iid, slot in self._slots.items() if slot.process.running()
            }

    def _run(self) -> None:
        while not self._stop.wait(RECONCILE_SECONDS):
            try:
                self.reconcile()
            except (BotoCoreError, ClientError) as exc:
                logger.warning("could not read the Auto Scaling group: %s", exc)
            except Exception:
                logger.exception("worker fleet reconcile failed")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = DRAIN_TIMEOUT_SECONDS) -> None:
        """Drains every worker (SIGTERM), waits up to ``timeout``, kills what is left."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self._lock:
            slots = list(self._slots.values())
            for slot in slots:
                slot.process.signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for slot in slots:
                slot.process.wait(max(0.0, deadline - time.monotonic()))
                slot.process.kill()
                slot.process.wait(5)
                slot.process.close()
            self._slots.clear()
            self._record_count()
