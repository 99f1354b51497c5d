"""A discrete-event simulator of the fleet: SQS lanes, an ASG, GPU workers, spot, billing.

What it models, and how:

* **Arrivals** come from a :class:`~autoscaler.simulator.traces.Trace` (fixed jobs).
* **SQS**: three lanes, drained interactive first, then training, then batch. A training
  occupies its worker for its whole run and does not count towards the worker's per-job time
  (as :mod:`worker.settle` keeps it out of the heartbeat's seconds per job, which is the
  deployed heartbeat's: the mean of the last ``RECENT_JOBS_KEPT`` image jobs). A received
  message is in flight until deleted; a worker renews its visibility every
  ``heartbeat_seconds``. If the worker dies, the message reappears when its last visibility
  extension runs out; after ``max_receives`` receives it goes to the DLQ (a lost job).
  ``GetQueueAttributes`` answers with the counts as they were up to
  ``sqs_count_lag_seconds`` earlier, each off by up to ``sqs_count_error`` (a share), as
  SQS's approximate counts are.
* **Instances**: the ASG acts ``asg_reaction_seconds`` after a change; boot time and model
  load time are lognormal draws, or a measured start drawn from ``launch_samples`` (the
  fleet's own, from ``sdfleet starts``); billing is per second from launch until the instance is
  gone, with a 60 s minimum. An idle worker takes the next visible message at once; when
  several are idle, a random one gets it (SQS gives no order among long pollers).
* **Termination**: with a drain hook, a terminated instance waits in ``Terminating:Wait``;
  its worker notices within ``metadata_poll_seconds`` (until then it may still take a job:
  the race a stale idle heartbeat invites), finishes the job in hand, completes the
  lifecycle action, then shuts down for ``termination_seconds``, billed. While it finishes a
  job in hand it records hook heartbeats (as the deployed worker does every
  ``HOOK_HEARTBEAT_SECONDS``), so the hook waits for the job, up to AWS's cap of 100 times
  the timeout or 48 hours. Without a hook, or when the hook times out (the worker has not
  noticed it, or the cap is reached), it is killed; a worker killed with a job in hand is counted
  (``busy_killed``) and its message reappears after the visibility timeout.
* **Heartbeats**: a worker's status record reaches DynamoDB up to
  ``heartbeat_write_delay_seconds`` after its state changes and is rewritten every
  ``heartbeat_refresh_seconds``; scalers see it with its age.
* **Warm pool** (``warm_pool_min_size`` / ``warm_pool_max_prepared``, as Terraform's
  ``warm_pool`` block: ``pool_state = "Stopped"``, ``max_group_prepared_capacity = max_size``,
  no reuse on scale-in): the pool holds max(min size, max prepared - desired) instances. A
  pool instance is launched, boots and loads the model (billed, on-demand), then stops:
  only its EBS volume is billed (``stopped_hourly_price``). A scale-out takes stopped pool
  instances first: each resumes in a lognormal ``warm_resume_median_seconds`` and loads the
  model from its root volume in ``warm_load_median_seconds`` (billing restarts, with its 60 s
  minimum); the ASG refills the pool behind it. The pool starts full (prepared before the
  run). AWS allows a warm pool only for an on-demand fleet, so it needs ``spot_percentage``
  0. Pool instances are not in ``DescribeAutoScalingGroups``' list: scalers do not see them.
* **Spot**: the ASG mix follows the on-demand base and spot percentage as AWS does (the
  on-demand share of the instances above the base rounded up, see
  :func:`on_demand_instances_wanted`); in a trace's spot
  windows each spot instance gets a 2-minute notice at the window's rate, stops taking work,
  and is killed when the notice runs out (the ASG replaces it).
* **Scalers** see only a :class:`~autoscaler.simulator.cloud.CloudObservation` and act only
  through :data:`~autoscaler.simulator.cloud.Action` values (see ``cloud.py``).

:class:`FleetEnvironment`'s defaults are an ideal world (no lags, no hook); :func:`aws_world`
is the world as slow as AWS that the benchmark and ``sdfleet simulate`` use.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, Protocol

from autoscaler.simulator.cloud import (
    Action,
    AsgInstance,
    AsgSetup,
    CloudObservation,
    Lifecycle,
    QueueCounts,
    SetDesiredCapacity,
    SetProtection,
    TerminateInstance,
    WorkerBeat,
)
from autoscaler.simulator.traces import LANES, TRAINING, Trace
from sdfleet.heartbeats import RECENT_JOBS_KEPT, WorkerState, job_pace
from sdfleet.messages import Lane

MIN_BILLED_SECONDS: Final = 60.0
#: How long heartbeats may keep an instance in a lifecycle wait state: "48 hours or 100 times
#: the heartbeat timeout, whichever is smaller" (EC2 Auto Scaling User Guide, lifecycle hooks).
HOOK_MAX_WAIT_SECONDS: Final = 48 * 3600.0
HOOK_MAX_TIMEOUTS: Final = 100
SPOT_NOTICE_SECONDS: Final = 120.0
#: After the trace ends, the run continues while jobs remain, at most this long.
MAX_OVERRUN_SECONDS: Final = 24 * 3600.0

_ARRIVAL, _READY, _DONE, _TICK, _NOTICE, _KILL, _REAPPEAR = range(7)
_RECONCILE, _HOOK_NOTICED, _HOOK_TIMEOUT, _GONE = range(7, 11)
#: A stopped instance's 100 GB gp3 root volume (terraform's ``root_volume_size_gb``) at
#: $0.08 per GB-month (us-east-1), per hour of a 730-hour month.
GP3_ROOT_VOLUME_HOURLY_PRICE: Final = 100 * 0.08 / 730


@dataclass(frozen=True)
class FleetEnvironment:
    """The world the fleet runs in (not the policy's knobs). Defaults: an ideal world."""

    boot_median_seconds: float = 75.0
    boot_sigma: float = 0.25
    model_load_median_seconds: float = 20.0
    model_load_sigma: float = 0.2
    visibility_timeout_seconds: float = 120.0
    heartbeat_seconds: float = 30.0
    max_receives: int = 3
    on_demand_base_capacity: int = 0
    spot_percentage: int = 70
    on_demand_hourly_price: float = 1.006
    spot_hourly_price: float = 0.3428
    #: The Lambda's samples are spread over this much of each minute (the handler: 48 s).
    sampling_window_seconds: float = 60.0
    #: ``GetQueueAttributes`` returns counts up to this old (uniform draw per read)...
    sqs_count_lag_seconds: float = 0.0
    #: ... each off by up to this share (uniform, rounded).
    sqs_count_error: float = 0.0
    #: Seconds from a capacity change to the ASG launching or terminating.
    asg_reaction_seconds: float = 0.0
    #: Shutting down after the lifecycle action completes (billed until gone).
    termination_seconds: float = 0.0
    #: How often the worker polls IMDS for a leaving lifecycle state or a spot notice.
    metadata_poll_seconds: float = 0.0
    #: The drain hook's heartbeat timeout (``lifecycle_hook_timeout_seconds``).
    lifecycle_hook_timeout_seconds: float = 600.0
    heartbeat_write_delay_seconds: float = 0.0
    heartbeat_refresh_seconds: float = 30.0
    #: Warm pool (off when both are 0): ``warm_pool_min_size``, and the prepared capacity
    #: (in service + pool) the pool tops up to (Terraform: ``max_size``).
    warm_pool_min_size: int = 0
    warm_pool_max_prepared: int = 0
    #: Starting a stopped pool instance: EC2 start to systemd (docs/worker-install.md: ~25 s)...
    warm_resume_median_seconds: float = 25.0
    #: ... then the worker: imports, model from the root-volume cache, load, warm-up (~25 s).
    warm_load_median_seconds: float = 25.0
    #: What a stopped instance costs: its EBS volume only.
    stopped_hourly_price: float = GP3_ROOT_VOLUME_HOURLY_PRICE
    #: Measured starts (``sdfleet starts``, :mod:`autoscaler.simulator.start_samples`):
    #: ``(boot, load)`` pairs that a launch into service, a warm-pool resume and a launch into
    #: the pool draw from (uniformly, with replacement) instead of the lognormals above; a
    #: path without samples keeps its lognormals (a launch into the pool falls back to the
    #: launch samples).
    launch_samples: tuple[tuple[float, float], ...] = ()
    resume_samples: tuple[tuple[float, float], ...] = ()
    pool_launch_samples: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("warm_pool_min_size", "warm_pool_max_prepared", "on_demand_base_capacity"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0 (got {getattr(self, name)})")
        if not 0 <= self.spot_percentage <= 100:
            raise ValueError(f"spot_percentage: must be 0 to 100 (got {self.spot_percentage})")
        if self.warm_pool and self.spot_percentage > 0:
            raise ValueError(
                "warm_pool_min_size: a warm pool needs an on-demand-only fleet, spot_percentage "
                f"0 (got {self.spot_percentage}): AWS has no warm pools with spot instances"
            )

    @property
    def warm_pool(self) -> bool:
        return self.warm_pool_min_size > 0 or self.warm_pool_max_prepared > 0

    @property
    def warmup_seconds(self) -> float:
        """Median time from launch to a worker taking jobs."""
        if self.launch_samples:
            return statistics.median(boot + load for boot, load in self.launch_samples)
        return self.boot_median_seconds + self.model_load_median_seconds

    def with_warmup(self, seconds: float) -> FleetEnvironment:
        """This world with boot + model load taking ``seconds`` (the model load kept)."""
        load = min(self.model_load_median_seconds, seconds)
        return replace(self, boot_median_seconds=seconds - load, model_load_median_seconds=load)


def on_demand_instances_wanted(size: int, base_capacity: int, spot_percentage: int) -> int:
    """How many of a mixed instances group's ``size`` instances AWS makes on-demand.

    The on-demand base first, then the on-demand percentage (``100 - spot_percentage``) of
    the instances above it, rounded up: "Amazon EC2 Auto Scaling converts the percentage to
    the equivalent number of instances. If the result creates a fractional number, it rounds
    up to the next integer in favor of On-Demand Instances." (EC2 Auto Scaling User Guide,
    mixed instances groups, scaling behavior). So with 70% spot, a group of 1 to 3 has 1
    on-demand instance. Integer arithmetic: no float rounding at the boundaries.
    """
    above_base = max(0, size - base_capacity)
    on_demand_percentage = 100 - spot_percentage
    return min(size, base_capacity) + (above_base * on_demand_percentage + 99) // 100


def aws_world(base: FleetEnvironment | None = None) -> FleetEnvironment:
    """``base`` made as slow as AWS is.

    Sampling over 48 s of each minute (the handler's window); SQS counts up to 10 s old and
    5% off (AWS documents them as approximate and eventually consistent); the ASG acts 10 s
    after a change; shutting down takes 30 s, billed; the worker polls IMDS every 5 s and
    writes a state change within 1 s. These are assumptions, stated in docs/scaling.md.
    """
    from autoscaler.policy import SAMPLING_WINDOW_SECONDS

    return replace(
        base or FleetEnvironment(),
        sampling_window_seconds=SAMPLING_WINDOW_SECONDS,
        sqs_count_lag_seconds=10.0,
        sqs_count_error=0.05,
        asg_reaction_seconds=10.0,
        termination_seconds=30.0,
        metadata_poll_seconds=5.0,
        heartbeat_write_delay_seconds=1.0,
    )


class SimState(StrEnum):
    """A simulated instance's life: launched, then a worker, then leaving, then gone."""

    PENDING = "pending"  # booting or loading the model
    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"  # interrupted or terminating: finishes the job in hand, takes none
    GONE = "gone"


_BEAT_STATE: Final = {
    SimState.IDLE: WorkerState.IDLE,
    SimState.BUSY: WorkerState.BUSY,
    SimState.DRAINING: WorkerState.DRAINING,
}


@dataclass
class SimJob:
    index: int
    arrival: float
    lane: Lane
    service: float
    receives: int = 0
    start: float | None = None
    done: float | None = None
    lost: bool = False
    run: int = 0


@dataclass(frozen=True)
class _Beat:
    """A status record as written: visible to readers from ``written``."""

    written: float
    state: WorkerState
    idle_since: float | None
    #: The image jobs' durations the record keeps; its pace derives from them.
    recent_job_seconds: tuple[float, ...] = ()


@dataclass
class SimInstance:
    instance_id: str
    launched: float
    spot: bool
    booted: float
    ready: float
    state: SimState = SimState.PENDING
    lifecycle: Lifecycle = Lifecycle.PENDING
    protected: bool = False
    job: SimJob | None = None
    job_started: float = 0.0
    idle_since: float | None = None
    ended: float | None = None
    busy_seconds: float = 0.0
    jobs_done: int = 0
    killed_busy: bool = False
    hook_pending: bool = False  # terminated through the hook, not yet noticed by the worker
    #: When the termination's hook wait began (its heartbeats cannot extend it past the cap).
    hook_started: float = 0.0
    #: The image jobs' durations the worker's heartbeat keeps (``RECENT_JOBS_KEPT``).
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_JOBS_KEPT))
    beats: list[_Beat] = field(default_factory=list)

    @property
    def seconds_per_job(self) -> float | None:
        return job_pace(self.recent)


@dataclass
class PoolInstance:
    """A warm pool instance: warming (billed, running) until ``warmed``, then stopped."""

    started: float
    warmed: float
    taken: bool = False

    def billed_seconds(self, at: float) -> float:
        """Running seconds (the warm-up, with EC2's 60 s minimum) up to ``at``; none for an
        instance prepared before the run."""
        if self.warmed <= self.started:
            return 0.0
        return max(MIN_BILLED_SECONDS, min(at, self.warmed) - self.started)

    def stopped_seconds(self, at: float) -> float:
        return max(0.0, at - self.warmed)


class Scaler(Protocol):
    """A policy under test: sees observations, answers with actions, nothing else.

    It ticks at ``k * period + offset`` for every offset in ``offsets``.
    """

    @property
    def name(self) -> str: ...

    @property
    def period(self) -> float: ...

    @property
    def offsets(self) -> tuple[float, ...]: ...

    @property
    def asg(self) -> AsgSetup: ...

    def start(self) -> Sequence[Action]: ...

    def tick(self, observation: CloudObservation) -> Sequence[Action]: ...


@dataclass
class Sample:
    time: float
    visible: int
    capacity: int
    busy: int


@dataclass
class RunResult:
    policy: str
    trace: str
    jobs: list[SimJob]
    instances: list[SimInstance]
    end: float
    environment: FleetEnvironment
    samples: list[Sample]
    #: Warm pool: running seconds of pool instances warming up (on-demand, GPU time), and
    #: stopped seconds (EBS only).
    pool_billed_seconds: float = 0.0
    pool_stopped_seconds: float = 0.0
    pool_launches: int = 0

    @property
    def waits(self) -> list[float]:
        return sorted(j.start - j.arrival for j in self.jobs if j.start is not None and j.done)

    def lane_waits(self, lane: Lane) -> list[float]:
        return sorted(
            j.start - j.arrival
            for j in self.jobs
            if j.lane is lane and j.start is not None and j.done is not None
        )


class Fleet:
    """The simulated world. Scalers never get a reference to it (see ``cloud.py``)."""

    def __init__(
        self,
        trace: Trace,
        environment: FleetEnvironment,
        seed: int,
        asg: AsgSetup | None = None,
    ) -> None:
        self.trace = trace
        self.env = environment
        self.asg = asg or AsgSetup()
        self.rng = random.Random(seed)
        self.dispatch_rng = random.Random(seed + 7919)
        self.read_rng = random.Random(seed + 104_729)
        self.now = 0.0
        self.jobs = [SimJob(n, j.arrival, j.lane, j.service) for n, j in enumerate(trace.jobs)]
        self.lanes: dict[Lane, deque[SimJob]] = {lane: deque() for lane in LANES}
        self.in_flight_by_lane: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self.instances: dict[str, SimInstance] = {}
        self.retired: list[SimInstance] = []
        self.idle: list[SimInstance] = []
        self.desired = 0
        self.finished = 0
        self._events: list[tuple[float, int, int, object]] = []
        self._seq = 0
        self._serial = 0
        self._reconcile_pending = False
        self._count_times: list[float] = []
        #: Per logged time: visible then in-flight counts, each in ``LANES`` order.
        self._count_values: list[tuple[int, ...]] = []
        self.samples: list[Sample] = []
        self.pool: list[PoolInstance] = []
        self.pool_billed_seconds = 0.0
        self.pool_stopped_seconds = 0.0
        self.pool_launches = 0

    # ---- world figures (for the engine, tests and reports; never given to a scaler) ------
    @property
    def visible(self) -> int:
        return sum(len(queue) for queue in self.lanes.values())

    def visible_in(self, lane: Lane) -> int:
        return len(self.lanes[lane])

    @property
    def busy(self) -> int:
        return sum(1 for i in self.instances.values() if i.job is not None)

    @property
    def in_flight(self) -> int:
        return sum(self.in_flight_by_lane.values())

    @property
    def live(self) -> list[SimInstance]:
        return list(self.instances.values())

    def _active(self) -> list[SimInstance]:
        return [
            i
            for i in self.instances.values()
            if i.lifecycle in (Lifecycle.PENDING, Lifecycle.IN_SERVICE)
        ]

    # ---- the observation: what the deployed scaler's AWS calls return ---------------------
    def observe(self) -> CloudObservation:
        return CloudObservation(
            now=self.now,
            desired_capacity=self.desired,
            queues=self._queue_counts(),
            instances=tuple(
                AsgInstance(i.instance_id, i.lifecycle, i.protected, i.launched, i.spot)
                for i in sorted(self.instances.values(), key=lambda i: i.instance_id)
            ),
            heartbeats=tuple(
                beat for i in self.instances.values() if (beat := self._beat_of(i)) is not None
            ),
        )

    def _log_counts(self) -> None:
        if self.env.sqs_count_lag_seconds <= 0:
            return
        value = self._counts()
        if self._count_times and self._count_times[-1] == self.now:
            self._count_values[-1] = value
        else:
            self._count_times.append(self.now)
            self._count_values.append(value)
        if len(self._count_times) > 20_000:
            keep = bisect.bisect_left(
                self._count_times, self.now - 2 * self.env.sqs_count_lag_seconds
            )
            del self._count_times[:keep]
            del self._count_values[:keep]

    def _counts(self) -> tuple[int, ...]:
        visible = tuple(len(self.lanes[lane]) for lane in LANES)
        return visible + tuple(self.in_flight_by_lane[lane] for lane in LANES)

    def _queue_counts(self) -> dict[Lane, QueueCounts]:
        env = self.env
        if env.sqs_count_lag_seconds <= 0:
            values = self._counts()
        else:
            at = self.now - self.read_rng.uniform(0.0, env.sqs_count_lag_seconds)
            index = bisect.bisect_right(self._count_times, at) - 1
            values = self._count_values[index] if index >= 0 else (0,) * (2 * len(LANES))

        def noisy(count: int) -> int:
            if env.sqs_count_error <= 0 or count == 0:
                return count
            error = self.read_rng.uniform(-env.sqs_count_error, env.sqs_count_error)
            return max(0, round(count * (1 + error)))

        lanes = len(LANES)
        return {
            lane: QueueCounts(noisy(values[n]), noisy(values[lanes + n]))
            for n, lane in enumerate(LANES)
        }

    def _beat_of(self, instance: SimInstance) -> WorkerBeat | None:
        visible = [b for b in instance.beats if b.written <= self.now]
        if not visible:
            return None
        beat = visible[-1]
        refresh = self.env.heartbeat_refresh_seconds
        age = (self.now - beat.written) % refresh if refresh > 0 else self.now - beat.written
        return WorkerBeat(
            instance.instance_id, beat.state, beat.idle_since, age, beat.recent_job_seconds
        )

    def _write_beat(self, instance: SimInstance) -> None:
        state = _BEAT_STATE.get(instance.state)
        if state is None:
            return
        delay = self.env.heartbeat_write_delay_seconds
        written = self.now + (self.rng.uniform(0.0, delay) if delay > 0 else 0.0)
        if instance.beats:
            written = max(written, instance.beats[-1].written)
        beat = _Beat(written, state, instance.idle_since, tuple(instance.recent))
        current = next((b for b in reversed(instance.beats) if b.written <= self.now), None)
        later = [b for b in instance.beats if b.written > self.now]
        instance.beats = [*([current] if current else []), *later, beat]

    # ---- what an action does ---------------------------------------------------------------
    def apply(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, SetDesiredCapacity):
                self.set_desired(action.capacity)
            elif isinstance(action, TerminateInstance):
                self.terminate(action.instance_id, action.decrement_desired)
            elif isinstance(action, SetProtection):
                instance = self.instances.get(action.instance_id)
                if instance is not None:
                    instance.protected = action.protected

    def set_desired(self, capacity: int) -> None:
        """``SetDesiredCapacity``: the ASG reconciles after its reaction time."""
        self.desired = max(0, capacity)
        if self.env.asg_reaction_seconds <= 0:
            self._reconcile()
        elif not self._reconcile_pending:
            self._reconcile_pending = True
            self._push(self.now + self.env.asg_reaction_seconds, _RECONCILE, None)

    def terminate(self, instance_id: str, decrement: bool = True) -> None:
        """``TerminateInstanceInAutoScalingGroup``; protection does not stop it."""
        instance = self.instances.get(instance_id)
        if instance is None or instance.lifecycle not in (Lifecycle.PENDING, Lifecycle.IN_SERVICE):
            return
        if decrement:
            self.desired = max(0, self.desired - 1)
        self._begin_termination(instance)
        if not decrement:
            self.set_desired(self.desired)  # the ASG replaces it
        else:
            self._refill_pool()

    def prewarm(self, count: int) -> None:
        """Instances that are already running when the run starts (a static fleet)."""
        for _ in range(count):
            instance = self._launch((0.0, 0.0))
            instance.lifecycle = Lifecycle.IN_SERVICE
            instance.state = SimState.IDLE
            instance.idle_since = 0.0
            self.idle.append(instance)
            self._write_beat(instance)
        self.desired = count

    def _reconcile(self) -> None:
        """The ASG's own reconciliation: launch, or terminate its newest unprotected ones."""
        self._reconcile_pending = False
        active = self._active()
        if len(active) < self.desired:
            for _ in range(self.desired - len(active)):
                if not self._resume_from_pool():
                    self._launch()
        elif len(active) > self.desired:
            unprotected = [i for i in active if not i.protected]
            surplus = len(active) - self.desired
            for instance in sorted(unprotected, key=lambda i: i.launched, reverse=True)[:surplus]:
                self._begin_termination(instance)
        self._refill_pool()

    # ---- the warm pool ---------------------------------------------------------------------
    def _pool_target(self) -> int:
        """AWS's warm pool size: max prepared capacity less desired, at least the min size."""
        return max(self.env.warm_pool_min_size, self.env.warm_pool_max_prepared - self.desired)

    def fill_pool(self) -> None:
        """The pool as prepared before the run: full, every instance already stopped."""
        if not self.env.warm_pool:
            return
        for _ in range(self._pool_target()):
            self.pool.append(PoolInstance(started=self.now, warmed=self.now))

    def _refill_pool(self) -> None:
        if not self.env.warm_pool:
            return
        missing = self._pool_target() - len(self.pool)
        for _ in range(missing):
            # Launched into the pool: boots and loads the model (the launch hook), then stops.
            warm_up = sum(
                self._start_times(
                    self.env.pool_launch_samples or self.env.launch_samples,
                    self.env.boot_median_seconds,
                    self.env.model_load_median_seconds,
                )
            )
            member = PoolInstance(started=self.now, warmed=self.now + warm_up)
            self.pool.append(member)
            self.pool_launches += 1
        if missing < 0:
            # Too many prepared: the ASG terminates the surplus (stopped ones first).
            for member in sorted(self.pool, key=lambda m: m.warmed > self.now)[:-missing]:
                self._leave_pool(member)

    def _leave_pool(self, member: PoolInstance) -> None:
        self.pool.remove(member)
        self.pool_billed_seconds += member.billed_seconds(self.now)
        self.pool_stopped_seconds += member.stopped_seconds(self.now)

    def _resume_from_pool(self) -> bool:
        """Starts a stopped pool instance into the group; False when none is stopped."""
        stopped = [m for m in self.pool if m.warmed <= self.now]
        if not stopped:
            return False
        self._leave_pool(stopped[0])
        self._launch(
            self._start_times(
                self.env.resume_samples,
                self.env.warm_resume_median_seconds,
                self.env.warm_load_median_seconds,
            )
        )
        return True

    def _begin_termination(self, instance: SimInstance) -> None:
        if not self.asg.drain_hook:
            self._kill(instance)
            return
        instance.lifecycle = Lifecycle.TERMINATING_WAIT
        instance.hook_pending = True
        instance.hook_started = self.now
        noticed = max(self.now, instance.ready) + self.rng.uniform(
            0.0, self.env.metadata_poll_seconds
        )
        self._push(noticed, _HOOK_NOTICED, instance)
        timeout = max(self.now, instance.ready) + self.env.lifecycle_hook_timeout_seconds
        self._push(timeout, _HOOK_TIMEOUT, instance)

    def _on_hook_timeout(self, instance: SimInstance) -> None:
        if instance.state is SimState.GONE or instance.lifecycle is Lifecycle.TERMINATING:
            return
        timeout = self.env.lifecycle_hook_timeout_seconds
        cap = instance.hook_started + min(HOOK_MAX_WAIT_SECONDS, HOOK_MAX_TIMEOUTS * timeout)
        heartbeating = instance.state is SimState.DRAINING and instance.job is not None
        if heartbeating and self.now < cap:
            # The worker's heartbeats (every 20 s, well inside any timeout) restarted the
            # timeout: it runs out next a full timeout after the last one, or at the cap.
            self._push(min(self.now + timeout, cap), _HOOK_TIMEOUT, instance)
            return
        self._kill(instance)

    def _on_hook_noticed(self, instance: SimInstance) -> None:
        if instance.state is SimState.GONE or not instance.hook_pending:
            return
        instance.hook_pending = False
        self._drain(instance)
        if instance.job is None:
            self._shut_down(instance)

    def _drain(self, instance: SimInstance) -> None:
        if instance.state is SimState.IDLE:
            self.idle.remove(instance)
        instance.state = SimState.DRAINING
        self._write_beat(instance)

    def _shut_down(self, instance: SimInstance) -> None:
        """The lifecycle action completes: shutting down, billed until gone."""
        if instance.lifecycle is Lifecycle.TERMINATING or instance.state is SimState.GONE:
            return
        instance.lifecycle = Lifecycle.TERMINATING
        if self.env.termination_seconds <= 0:
            self._retire(instance, self.now)
        else:
            self._push(self.now + self.env.termination_seconds, _GONE, instance)

    # ---- the event loop ------------------------------------------------------------------
    def _push(self, time: float, kind: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._events, (time, self._seq, kind, payload))

    def run(self, scaler: Scaler) -> RunResult:
        self.asg = scaler.asg
        for job in self.jobs:
            self._push(job.arrival, _ARRIVAL, job)
        if scaler.asg.prewarmed:
            self.prewarm(scaler.asg.prewarmed)
        self.fill_pool()
        self.apply(scaler.start())
        for offset in scaler.offsets:
            self._push(offset, _TICK, (offset, scaler.period))
        horizon = self.trace.duration
        total = len(self.jobs)
        while self._events:
            time, _, kind, payload = heapq.heappop(self._events)
            if kind == _TICK and (time > horizon and self.finished >= total):
                break
            if time > horizon + MAX_OVERRUN_SECONDS:
                break
            self.now = time
            self._dispatch(kind, payload, scaler)
        end = max(self.now, horizon)
        self.now = end
        for instance in list(self.instances.values()):
            self._retire(instance, end)
        for member in list(self.pool):
            self._leave_pool(member)
        return RunResult(
            scaler.name,
            self.trace.name,
            self.jobs,
            self.retired,
            end,
            self.env,
            self.samples,
            self.pool_billed_seconds,
            self.pool_stopped_seconds,
            self.pool_launches,
        )

    def _dispatch(self, kind: int, payload: object, scaler: Scaler) -> None:
        if kind == _ARRIVAL:
            self._enqueue(payload)  # type: ignore[arg-type]
        elif kind == _READY:
            self._on_ready(payload)  # type: ignore[arg-type]
        elif kind == _DONE:
            self._on_done(payload)  # type: ignore[arg-type]
        elif kind == _TICK:
            self.samples.append(Sample(self.now, self.visible, len(self.instances), self.busy))
            self.apply(scaler.tick(self.observe()))
            assert isinstance(payload, tuple)
            self._push(self.now + float(payload[1]), _TICK, payload)
        elif kind == _NOTICE:
            self._on_notice(payload)  # type: ignore[arg-type]
        elif kind == _KILL:
            instance = payload
            assert isinstance(instance, SimInstance)
            if instance.state is not SimState.GONE:
                self._kill(instance)
                self.set_desired(self.desired)  # the ASG replaces it
        elif kind == _REAPPEAR:
            job = payload
            assert isinstance(job, SimJob)
            self.in_flight_by_lane[job.lane] -= 1
            self._enqueue(job)
        elif kind == _RECONCILE:
            self._reconcile()
        elif kind == _HOOK_NOTICED:
            self._on_hook_noticed(payload)  # type: ignore[arg-type]
        elif kind == _HOOK_TIMEOUT:
            self._on_hook_timeout(payload)  # type: ignore[arg-type]
        elif kind == _GONE:
            instance = payload
            assert isinstance(instance, SimInstance)
            self._retire(instance, self.now)

    # ---- internals -----------------------------------------------------------------------
    def _draw(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma)) if median > 0 else 0.0

    def _start_times(
        self, samples: tuple[tuple[float, float], ...], boot_median: float, load_median: float
    ) -> tuple[float, float]:
        """One start's boot and model load: a measured pair of its path when there are
        samples, else lognormal draws around the medians."""
        if samples:
            return self.rng.choice(samples)
        return (
            self._draw(boot_median, self.env.boot_sigma),
            self._draw(load_median, self.env.model_load_sigma),
        )

    def _launch(self, start: tuple[float, float] | None = None) -> SimInstance:
        """An instance into service; ``start`` (boot, load) defaults to a launch's."""
        self._serial += 1
        boot, load = (
            start
            if start is not None
            else self._start_times(
                self.env.launch_samples,
                self.env.boot_median_seconds,
                self.env.model_load_median_seconds,
            )
        )
        instance = SimInstance(
            instance_id=f"i-{self._serial:06d}",
            launched=self.now,
            spot=self._next_is_spot(),
            booted=self.now + boot,
            ready=self.now + boot + load,
            protected=self.asg.new_instances_protected,
        )
        self.instances[instance.instance_id] = instance
        if boot + load > 0:
            self._push(instance.ready, _READY, instance)
        if instance.spot:
            notice = self._spot_notice_time(self.now)
            if notice is not None:
                self._push(notice, _NOTICE, instance)
        return instance

    def _next_is_spot(self) -> bool:
        """The launch is on-demand while the group's on-demand count is below what AWS
        wants at the size it grows to (live instances plus this one)."""
        live = list(self.instances.values())
        on_demand = sum(1 for i in live if not i.spot)
        wanted = on_demand_instances_wanted(
            len(live) + 1, self.env.on_demand_base_capacity, self.env.spot_percentage
        )
        return on_demand >= wanted

    def _spot_notice_time(self, launched: float) -> float | None:
        for window in self.trace.spot_windows:
            if window.end <= launched or window.rate_per_hour <= 0:
                continue
            start = max(window.start, launched)
            at = start + self.rng.expovariate(window.rate_per_hour / 3600.0)
            if at < window.end:
                return at
        return None

    def _enqueue(self, job: SimJob) -> None:
        if self.idle:
            pick = self.dispatch_rng.randrange(len(self.idle))
            instance = self.idle.pop(pick)
            if self._start(instance, job):
                return
            self.idle.append(instance)
            return
        self.lanes[job.lane].append(job)
        self._log_counts()

    def _start(self, instance: SimInstance, job: SimJob) -> bool:
        """Receive ``job`` on ``instance``; False when the receive sent it to the DLQ."""
        job.receives += 1
        if job.receives > self.env.max_receives:
            job.lost = True
            self.finished += 1
            return False
        job.run += 1
        self.in_flight_by_lane[job.lane] += 1
        instance.state = SimState.BUSY
        instance.job = job
        instance.job_started = self.now
        instance.idle_since = None
        if self.asg.workers_protect_while_busy:
            instance.protected = True
        self._write_beat(instance)
        self._log_counts()
        self._push(self.now + job.service, _DONE, (instance, job, job.run))
        return True

    def _next_job(self) -> SimJob | None:
        for lane in LANES:
            if self.lanes[lane]:
                return self.lanes[lane].popleft()
        return None

    def _take_work(self, instance: SimInstance) -> None:
        while True:
            job = self._next_job()
            if job is None:
                instance.state = SimState.IDLE
                instance.idle_since = self.now
                self.idle.append(instance)
                self._write_beat(instance)
                self._log_counts()
                if self.asg.workers_protect_while_busy:
                    instance.protected = False
                    if len(self._active()) > self.desired:
                        # The ASG retries a scale-in that protection held back.
                        self.set_desired(self.desired)
                return
            if self._start(instance, job):
                return

    def _on_ready(self, instance: SimInstance) -> None:
        if instance.state is not SimState.PENDING:
            return
        if instance.lifecycle is Lifecycle.PENDING:
            instance.lifecycle = Lifecycle.IN_SERVICE
        if instance.hook_pending:
            return  # its worker notices the hook on its first poll and never takes work
        self._take_work(instance)

    def _on_done(self, payload: tuple[SimInstance, SimJob, int]) -> None:
        instance, job, run = payload
        if instance.job is not job or job.run != run or instance.state is SimState.GONE:
            return
        job.start = self.now - job.service
        job.done = self.now
        self.finished += 1
        self.in_flight_by_lane[job.lane] -= 1
        instance.busy_seconds += job.service
        instance.jobs_done += 1
        if job.lane is not TRAINING:
            instance.recent.append(job.service)
        instance.job = None
        if instance.state is SimState.DRAINING:
            self._write_beat(instance)
            self._log_counts()
            if instance.lifecycle is Lifecycle.TERMINATING_WAIT and not instance.hook_pending:
                self._shut_down(instance)
            return
        self._take_work(instance)

    def _on_notice(self, instance: SimInstance) -> None:
        if instance.state is SimState.GONE:
            return
        # It finishes the job in hand if it can, and takes no new one.
        if instance.state is not SimState.DRAINING:
            self._drain(instance)
        self._push(self.now + SPOT_NOTICE_SECONDS, _KILL, instance)

    def _kill(self, instance: SimInstance) -> None:
        """Gone at once: a job in hand is lost until its visibility runs out."""
        if instance.state is SimState.GONE:
            return
        if instance.state is SimState.IDLE:
            self.idle.remove(instance)
        job = instance.job
        if job is not None:
            instance.killed_busy = True
            instance.busy_seconds += self.now - instance.job_started
            since = self.now - instance.job_started
            left = self.env.visibility_timeout_seconds - since % self.env.heartbeat_seconds
            self._push(self.now + left, _REAPPEAR, job)
            instance.job = None
        self._retire(instance, self.now)

    def _retire(self, instance: SimInstance, at: float) -> None:
        if instance.state is SimState.IDLE and instance in self.idle:
            self.idle.remove(instance)
        instance.state = SimState.GONE
        instance.ended = at
        if self.instances.pop(instance.instance_id, None) is not None:
            self.retired.append(instance)
