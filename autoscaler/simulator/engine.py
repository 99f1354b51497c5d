"""A discrete-event simulator of the fleet: SQS lanes, an ASG, GPU workers, spot, billing.

What it models, and how:

* **Arrivals** come from a :class:`~autoscaler.simulator.traces.Trace` (fixed jobs).
* **SQS**: two FIFO-ish lanes, interactive drained first. A received message is in flight
  until deleted; a worker renews its visibility every ``heartbeat_seconds``. If the worker
  dies, the message reappears when its last visibility extension runs out; after
  ``max_receives`` receives it goes to the DLQ (a lost job).
* **Instances**: boot time and model load time are lognormal draws (median and spread
  configurable); billing is per second from launch to termination with a 60 s minimum.
  An idle worker takes the next visible message at once; when several are idle, a random
  one gets it (SQS gives no order among long pollers).
* **Spot**: the ASG mix follows the on-demand base and spot percentage; in a trace's spot
  windows each spot instance gets a 2-minute notice at the window's rate, stops taking
  work, and is terminated (and replaced by the ASG) when the notice runs out.
* **The scaler** ticks every ``period`` seconds and may set the desired capacity (the ASG
  then launches, or terminates its newest instances, busy or not) or terminate chosen
  instances with a decrement (what our policy does).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, Protocol

from autoscaler.simulator.traces import BATCH, INTERACTIVE, Trace
from sdfleet.messages import Lane

MIN_BILLED_SECONDS: Final = 60.0
SPOT_NOTICE_SECONDS: Final = 120.0
#: After the trace ends, the run continues while jobs remain, at most this long.
MAX_OVERRUN_SECONDS: Final = 24 * 3600.0

_ARRIVAL, _BOOTED, _READY, _DONE, _TICK, _NOTICE, _KILL, _REAPPEAR = range(8)


@dataclass(frozen=True)
class FleetEnvironment:
    """The world the fleet runs in (not the policy's knobs)."""

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

    @property
    def warmup_seconds(self) -> float:
        """Median time from launch to a worker taking jobs."""
        return self.boot_median_seconds + self.model_load_median_seconds

    def with_warmup(self, seconds: float) -> FleetEnvironment:
        """This world with boot + model load taking ``seconds`` (the model load kept)."""
        load = min(self.model_load_median_seconds, seconds)
        return replace(self, boot_median_seconds=seconds - load, model_load_median_seconds=load)


class SimState(StrEnum):
    """A simulated instance's life: launched, then a worker, then leaving, then gone."""

    PENDING = "pending"  # booting or loading the model
    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"  # interrupted or terminating: finishes the job in hand, takes none
    GONE = "gone"


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


@dataclass
class SimInstance:
    instance_id: str
    launched: float
    spot: bool
    booted: float
    ready: float
    state: SimState = SimState.PENDING
    job: SimJob | None = None
    job_started: float = 0.0
    idle_since: float | None = None
    ended: float | None = None
    busy_seconds: float = 0.0
    jobs_done: int = 0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=5))

    @property
    def seconds_per_job(self) -> float | None:
        return sum(self.recent) / len(self.recent) if self.recent else None


class Scaler(Protocol):
    """A policy under test. ``tick`` is called every ``period`` seconds."""

    name: str
    period: float

    def start(self, fleet: Fleet) -> None: ...

    def tick(self, fleet: Fleet) -> None: ...


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

    @property
    def waits(self) -> list[float]:
        return sorted(j.start - j.arrival for j in self.jobs if j.start is not None and j.done)


class Fleet:
    """The simulated world, and the control surface a scaler uses."""

    def __init__(self, trace: Trace, environment: FleetEnvironment, seed: int) -> None:
        self.trace = trace
        self.env = environment
        self.rng = random.Random(seed)
        self.dispatch_rng = random.Random(seed + 7919)
        self.now = 0.0
        self.jobs = [SimJob(n, j.arrival, j.lane, j.service) for n, j in enumerate(trace.jobs)]
        self.lanes: dict[Lane, deque[SimJob]] = {INTERACTIVE: deque(), BATCH: deque()}
        self.hidden = 0  # in flight at SQS but held by no live worker (awaiting reappearance)
        self.instances: dict[str, SimInstance] = {}
        self.retired: list[SimInstance] = []
        self.idle: list[SimInstance] = []
        self.desired = 0
        self.finished = 0
        self._events: list[tuple[float, int, int, object]] = []
        self._seq = 0
        self._serial = 0
        self.samples: list[Sample] = []

    # ---- what a scaler reads -------------------------------------------------------------
    @property
    def visible(self) -> int:
        return len(self.lanes[INTERACTIVE]) + len(self.lanes[BATCH])

    def visible_in(self, lane: Lane) -> int:
        return len(self.lanes[lane])

    @property
    def busy(self) -> int:
        return sum(1 for i in self.instances.values() if i.job is not None)

    @property
    def in_flight(self) -> int:
        return self.busy + self.hidden

    @property
    def live(self) -> list[SimInstance]:
        return list(self.instances.values())

    def in_service(self) -> int:
        """Booted and not leaving: what the ASG reports as InService."""
        return sum(
            1
            for i in self.instances.values()
            if i.booted <= self.now and i.state != SimState.DRAINING
        )

    # ---- what a scaler does --------------------------------------------------------------
    def set_desired(self, capacity: int) -> None:
        """The ASG's own reconciliation: launch, or terminate its newest instances."""
        self.desired = max(0, capacity)
        active = [i for i in self.instances.values() if i.state != SimState.DRAINING]
        if len(active) < self.desired:
            for _ in range(self.desired - len(active)):
                self._launch()
        elif len(active) > self.desired:
            for instance in sorted(active, key=lambda i: i.launched, reverse=True)[
                : len(active) - self.desired
            ]:
                self._terminate(instance)

    def terminate(self, instance_id: str) -> None:
        """TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity."""
        instance = self.instances.get(instance_id)
        if instance is None:
            return
        self.desired = max(0, self.desired - 1)
        self._terminate(instance)

    def prewarm(self, count: int) -> None:
        """Instances that are already running when the run starts (a static fleet)."""
        for _ in range(count):
            instance = self._launch(boot=0.0, load=0.0)
            instance.state = SimState.IDLE
            instance.idle_since = 0.0
            self.idle.append(instance)
        self.desired = count

    # ---- the event loop ------------------------------------------------------------------
    def _push(self, time: float, kind: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._events, (time, self._seq, kind, payload))

    def run(self, scaler: Scaler) -> RunResult:
        for job in self.jobs:
            self._push(job.arrival, _ARRIVAL, job)
        scaler.start(self)
        self._push(0.0, _TICK, None)
        horizon = self.trace.duration
        total = len(self.jobs)
        while self._events:
            time, _, kind, payload = heapq.heappop(self._events)
            if kind == _TICK and (time > horizon and self.finished >= total):
                break
            if time > horizon + MAX_OVERRUN_SECONDS:
                break
            self.now = time
            if kind == _ARRIVAL:
                self._enqueue(payload)  # type: ignore[arg-type]
            elif kind == _READY:
                self._on_ready(payload)  # type: ignore[arg-type]
            elif kind == _DONE:
                self._on_done(payload)  # type: ignore[arg-type]
            elif kind == _TICK:
                self.samples.append(Sample(time, self.visible, len(self.instances), self.busy))
                scaler.tick(self)
                self._push(time + scaler.period, _TICK, None)
            elif kind == _NOTICE:
                self._on_notice(payload)  # type: ignore[arg-type]
            elif kind == _KILL:
                instance = payload
                assert isinstance(instance, SimInstance)
                if instance.state != SimState.GONE:
                    self._terminate(instance)
                    self.set_desired(self.desired)  # the ASG replaces it
            elif kind == _REAPPEAR:
                self.hidden -= 1
                self._enqueue(payload)  # type: ignore[arg-type]
        end = max(self.now, horizon)
        for instance in list(self.instances.values()):
            self._retire(instance, end)
        return RunResult(
            scaler.name, self.trace.name, self.jobs, self.retired, end, self.env, self.samples
        )

    # ---- internals -----------------------------------------------------------------------
    def _draw(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma)) if median > 0 else 0.0

    def _launch(self, boot: float | None = None, load: float | None = None) -> SimInstance:
        self._serial += 1
        if boot is None:
            boot = self._draw(self.env.boot_median_seconds, self.env.boot_sigma)
        load = (
            self._draw(self.env.model_load_median_seconds, self.env.model_load_sigma)
            if load is None
            else load
        )
        instance = SimInstance(
            instance_id=f"i-{self._serial:06d}",
            launched=self.now,
            spot=self._next_is_spot(),
            booted=self.now + boot,
            ready=self.now + boot + load,
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
        live = list(self.instances.values())
        on_demand = sum(1 for i in live if not i.spot)
        if on_demand < self.env.on_demand_base_capacity:
            return False
        above = len(live) - self.env.on_demand_base_capacity
        spot = len(live) - on_demand
        # Keep spot's share of the instances above the base at the configured percentage.
        return spot < (above + 1) * self.env.spot_percentage / 100.0

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

    def _start(self, instance: SimInstance, job: SimJob) -> bool:
        """Receive ``job`` on ``instance``; False when the receive sent it to the DLQ."""
        job.receives += 1
        if job.receives > self.env.max_receives:
            job.lost = True
            self.finished += 1
            return False
        job.run += 1
        instance.state = SimState.BUSY
        instance.job = job
        instance.job_started = self.now
        instance.idle_since = None
        self._push(self.now + job.service, _DONE, (instance, job, job.run))
        return True

    def _next_job(self) -> SimJob | None:
        for lane in (INTERACTIVE, BATCH):
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
                return
            if self._start(instance, job):
                return

    def _on_ready(self, instance: SimInstance) -> None:
        if instance.state == SimState.PENDING:
            self._take_work(instance)

    def _on_done(self, payload: tuple[SimInstance, SimJob, int]) -> None:
        instance, job, run = payload
        if instance.job is not job or job.run != run or instance.state == SimState.GONE:
            return
        job.start = self.now - job.service
        job.done = self.now
        self.finished += 1
        instance.busy_seconds += job.service
        instance.jobs_done += 1
        instance.recent.append(job.service)
        instance.job = None
        if instance.state == SimState.DRAINING:
            return
        self._take_work(instance)

    def _on_notice(self, instance: SimInstance) -> None:
        if instance.state == SimState.GONE:
            return
        if instance.state == SimState.IDLE:
            self.idle.remove(instance)
        # It finishes the job in hand if it can, and takes no new one.
        instance.state = SimState.DRAINING
        self._push(self.now + SPOT_NOTICE_SECONDS, _KILL, instance)

    def _terminate(self, instance: SimInstance) -> None:
        if instance.state == SimState.GONE:
            return
        if instance.state == SimState.IDLE:
            self.idle.remove(instance)
        job = instance.job
        if job is not None:
            # Work lost; the message reappears when the last visibility extension runs out.
            instance.busy_seconds += self.now - instance.job_started
            since = self.now - instance.job_started
            left = self.env.visibility_timeout_seconds - since % self.env.heartbeat_seconds
            self.hidden += 1
            self._push(self.now + left, _REAPPEAR, job)
            instance.job = None
        self._retire(instance, self.now)

    def _retire(self, instance: SimInstance, at: float) -> None:
        instance.state = SimState.GONE
        instance.ended = at
        self.instances.pop(instance.instance_id, None)
        self.retired.append(instance)
