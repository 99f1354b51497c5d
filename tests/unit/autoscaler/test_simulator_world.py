"""The world as slow as AWS: drain hook, billing until gone, busy workers killed, SQS lag,
the Lambda's sample times, the proven bound, and the held-out generators."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pytest

from autoscaler.policy import Observation, PolicyConfig
from autoscaler.simulator.cloud import Action, AsgSetup, CloudObservation, TerminateInstance
from autoscaler.simulator.compare import SWEEPS, Frontier, FrontierPoint, Scenario, compare
from autoscaler.simulator.engine import Fleet, FleetEnvironment, RunResult, aws_world
from autoscaler.simulator.metrics import busy_hours_bound, summarize
from autoscaler.simulator.scalers import OursScaler, policy_observation
from autoscaler.simulator.traces import (
    BUILT_IN,
    GENERATED,
    INTERACTIVE,
    TRAINING,
    Trace,
    TraceJob,
)
from sdfleet.heartbeats import RECENT_JOBS_KEPT, WorkerHeartbeat, WorkerState

FIXED = FleetEnvironment(boot_sigma=0.0, model_load_sigma=0.0, spot_percentage=0)


def one_job(service: float = 50.0, duration: float = 1000.0) -> Trace:
    return Trace("t", "test", (TraceJob(0.0, INTERACTIVE, service),), duration)


@dataclass
class TerminateAt:
    """A scripted scaler: one prewarmed worker, terminated through the ASG API at ``at``."""

    at: float
    asg: AsgSetup
    decrement: bool = True
    name: str = "scripted"
    period: float = 1e9

    @property
    def offsets(self) -> tuple[float, ...]:
        return (self.at,)

    def start(self) -> Sequence[Action]:
        return []

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        return [TerminateInstance(i.instance_id, self.decrement) for i in observation.active]


def run_busy(env: FleetEnvironment, drain_hook: bool, decrement: bool = True) -> RunResult:
    """One prewarmed worker takes a 50 s job at 0 and is terminated 10 s into it."""
    scaler = TerminateAt(10.0, AsgSetup(drain_hook=drain_hook, prewarmed=1), decrement)
    return Fleet(one_job(), env, 1).run(scaler)


def test_without_a_drain_hook_a_busy_worker_is_killed_and_its_job_reruns() -> None:
    result = run_busy(FIXED, drain_hook=False, decrement=False)  # the ASG replaces it
    assert summarize(result).busy_killed == 1
    (job,) = result.jobs
    assert job.receives == 2 and job.done is not None  # ran again after its visibility


def test_with_the_drain_hook_the_job_finishes_and_billing_runs_until_gone() -> None:
    env = replace(FIXED, termination_seconds=30.0, metadata_poll_seconds=5.0)
    result = run_busy(env, drain_hook=True)
    (job,) = result.jobs
    assert job.done == pytest.approx(50.0) and job.receives == 1
    (gone,) = result.instances
    assert not gone.killed_busy
    assert gone.ended == pytest.approx(50.0 + 30.0)  # job done, then shutdown, billed


def test_the_workers_hook_heartbeats_hold_a_job_longer_than_the_hook_timeout() -> None:
    env = replace(FIXED, lifecycle_hook_timeout_seconds=20.0)
    result = run_busy(env, drain_hook=True)
    (job,) = result.jobs
    assert job.done == pytest.approx(50.0) and job.receives == 1
    assert summarize(result).busy_killed == 0


def test_heartbeats_hold_the_hook_only_up_to_a_hundred_timeouts() -> None:
    # A 0.2 s timeout: heartbeats hold the hook 100 x 0.2 = 20 s from the termination at 10 s,
    # then the instance is killed 30 s into its 50 s job, which runs again elsewhere.
    env = replace(FIXED, lifecycle_hook_timeout_seconds=0.2)
    result = run_busy(env, drain_hook=True)
    assert summarize(result).busy_killed == 1
    killed = next(i for i in result.instances if i.killed_busy)
    assert killed.ended == pytest.approx(30.0)


def test_sqs_counts_are_late() -> None:
    env = replace(FIXED, sqs_count_lag_seconds=10.0)
    jobs = tuple(TraceJob(float(n), INTERACTIVE, 5.0) for n in range(20))
    fleet = Fleet(Trace("t", "t", jobs, 100.0), env, 1)
    for job in fleet.jobs:
        fleet.now = job.arrival
        fleet._enqueue(job)
    fleet.now = 19.0
    seen = [fleet.observe().visible for _ in range(50)]
    assert max(seen) <= 20 and min(seen) >= 9  # as of 0..10 s ago
    assert min(seen) < 20  # and sometimes older than now


def test_ours_samples_at_the_lambdas_times() -> None:
    world = aws_world()
    ours = OursScaler(PolicyConfig(), 12, world.sampling_window_seconds)
    assert ours.offsets == tuple(4.0 * n for n in range(12))
    assert ours.period == 60.0
    assert OursScaler(PolicyConfig(), 12).offsets[1] == 5.0  # the ideal world: even


def test_no_policy_beats_the_busy_time_bound() -> None:
    trace = BUILT_IN["spot-storm"]()
    comparison = compare(trace, Scenario(config=PolicyConfig(max_capacity=20)), 1)
    bound = busy_hours_bound(trace)
    assert bound == pytest.approx(sum(j.service for j in trace.jobs) / 3600)
    for stats in comparison.stats:
        assert stats.gpu_hours >= bound, stats.policy
    for frontier in comparison.frontiers:
        assert all(p.gpu_hours >= bound for p in frontier.points), frontier.family
    assert [f.family for f in comparison.frontiers] == list(SWEEPS)


def test_frontier_picks_the_cheapest_point_that_waits_no_longer() -> None:
    points = (
        FrontierPoint(1.0, 10.0, 9.0, 4.0, 0),
        FrontierPoint(2.0, 30.0, 6.0, 3.0, 0),
        FrontierPoint(5.0, 80.0, 5.0, 2.0, 0),
    )
    frontier = Frontier("x", "knob", points)
    assert frontier.at(5.0) is None
    assert frontier.at(30.0) == points[1]
    assert frontier.at(1000.0) == points[2]
    assert frontier.pareto() == points


def test_held_out_generators_are_seeded_and_differ_by_seed() -> None:
    for name, factory in GENERATED.items():
        first, again, other = factory(101), factory(101), factory(102)
        assert first.jobs == again.jobs, name
        assert first.jobs != other.jobs, name
        assert first.jobs and first.name == name
    sizes = sorted(j.service for j in GENERATED["heavy-tail"](101).jobs)
    assert sizes[-1] > 10 * sizes[len(sizes) // 2]  # a heavy tail


@dataclass
class Prewarmed:
    """A fixed fleet of ``size`` workers, running from the start."""

    size: int
    name: str = "prewarmed"
    period: float = 1e9
    offsets: tuple[float, ...] = (0.0,)

    @property
    def asg(self) -> AsgSetup:
        return AsgSetup(prewarmed=self.size)

    def start(self) -> Sequence[Action]:
        return []

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        return []


def test_a_training_holds_one_worker_and_stays_out_of_its_per_job_time() -> None:
    # Two workers: a 10-minute training and web jobs behind it. The web jobs go to the other
    # worker at once; the training's minutes never enter the per-job time a heartbeat reports.
    jobs = (
        TraceJob(0.0, TRAINING, 600.0),
        *(TraceJob(1.0 + n, INTERACTIVE, 5.0) for n in range(5)),
    )
    result = Fleet(Trace("t", "test", jobs, 2000.0), FIXED, 1).run(Prewarmed(2))
    training, *web = result.jobs
    assert training.start == 0.0 and training.done == 600.0
    assert max(j.start - j.arrival for j in web if j.start is not None) <= 25.0
    trainer = next(i for i in result.instances if i.busy_seconds >= 600.0)
    assert trainer.jobs_done == 1 and trainer.seconds_per_job is None


def test_a_worker_reports_the_mean_of_its_last_recent_jobs_kept_as_the_deployed_one_does() -> None:
    # One worker: a 120 s job, then 6 s ones. The deployed heartbeat keeps the last
    # RECENT_JOBS_KEPT durations and the scaler reads their mean; the simulated worker must
    # report exactly that (it had reported the mean of 5), so a heavy job mix reads as its
    # mean, not as its small jobs' time.
    def pace_after(small_jobs: int) -> float | None:
        jobs = (
            TraceJob(0.0, INTERACTIVE, 120.0),
            *(TraceJob(1.0 + n, INTERACTIVE, 6.0) for n in range(small_jobs)),
        )
        result = Fleet(Trace("t", "test", jobs, 2000.0), FIXED, 1).run(Prewarmed(1))
        (worker,) = result.instances
        assert worker.jobs_done == small_jobs + 1
        return worker.seconds_per_job

    durations = [120.0] + [6.0] * (RECENT_JOBS_KEPT - 1)
    deployed = WorkerHeartbeat(
        worker_id="w", state=WorkerState.IDLE, recent_seconds_per_job=durations
    )
    assert pace_after(RECENT_JOBS_KEPT - 1) == pytest.approx(deployed.seconds_per_job) == 11.7
    assert pace_after(RECENT_JOBS_KEPT) == 6.0


def test_the_scalers_observation_carries_the_heartbeats_recent_job_times() -> None:
    """The policy sizes headroom from the spread of the workers' recent job times: the
    simulated heartbeat hands over exactly the durations the deployed one keeps."""
    seen: list[Observation] = []

    class Recording(Prewarmed):
        def tick(self, observation: CloudObservation) -> Sequence[Action]:
            seen.append(policy_observation(observation))
            return []

    sizes = [6.0, 24.0, 120.0, *([6.0] * RECENT_JOBS_KEPT)]
    jobs = tuple(TraceJob(float(n), INTERACTIVE, size) for n, size in enumerate(sizes))
    Fleet(Trace("t", "test", jobs, 2000.0), FIXED, 1).run(Recording(1, period=10.0))
    recent = [o.instances[0].recent_job_seconds for o in seen if o.instances]
    assert (6.0, 24.0, 120.0) in {r[:3] for r in recent if len(r) >= 3}
    assert recent[-1] == tuple(sizes[-RECENT_JOBS_KEPT:])


def test_the_training_mix_trace_mixes_trainings_into_the_images() -> None:
    trace = BUILT_IN["training-mix"]()
    trainings = [j for j in trace.jobs if j.lane is TRAINING]
    images = [j for j in trace.jobs if j.lane is not TRAINING]
    assert 10 <= len(trainings) <= 30
    assert min(j.service for j in trainings) > 5 * 60
    assert len(images) > 100 * len(trainings)
    # In the benchmark's world (boot 75 s + load 20 s): the trainings do not push the web p95
    # past the target. (With prod.tfvars' 180 s boot the start onto an empty fleet does: its
    # benchmark rows.)
    scenario = Scenario(PolicyConfig(max_capacity=20), environment=aws_world(FleetEnvironment()))
    scaler = OursScaler(
        scenario.config,
        scenario.samples_per_invocation,
        scenario.environment.sampling_window_seconds,
    )
    stats = summarize(Fleet(trace, scenario.environment, 1).run(scaler))
    assert stats.jobs_lost == 0 and stats.jobs_unfinished == 0
    assert stats.interactive_p95_wait <= scenario.config.target_wait_seconds
