"""Batching: same-shape jobs share a call up to the image limit; records decide after claims."""

from __future__ import annotations

import time
from collections.abc import Hashable

from sdfleet.records import JobRecord
from sdfleet.requests import JobKind, JobParams
from tests.unit.worker_daemon.fakes import delivery, job_body, params
from worker.batching import group_by_shape, split_by_record
from worker.jobs import Accepted, Running
from worker.lease_keeper import JobLease


def shape(kind: JobKind, job_params: JobParams) -> Hashable:
    return (kind, job_params.width, job_params.height, job_params.steps)


def accepted(job_id: str, **overrides: object) -> Accepted:
    return Accepted(delivery(job_body(job_id)), job_id, JobKind.TXT2IMG, params(**overrides))


def ids(groups: list[list[Accepted]]) -> list[list[str]]:
    return [[a.job_id for a in group] for group in groups]


def test_same_shape_jobs_share_a_call_in_arrival_order() -> None:
    jobs = [accepted("a"), accepted("b", width=128), accepted("c"), accepted("d", width=128)]
    assert ids(group_by_shape(jobs, shape, max_images=4)) == [["a", "c"], ["b", "d"]]


def test_a_group_never_exceeds_the_image_limit() -> None:
    jobs = [accepted("a", num_images=2), accepted("b", num_images=2), accepted("c")]
    assert ids(group_by_shape(jobs, shape, max_images=3)) == [["a"], ["b", "c"]]
    assert ids(group_by_shape(jobs, shape, max_images=5)) == [["a", "b", "c"]]


def test_one_job_over_the_limit_still_runs_alone() -> None:
    assert ids(group_by_shape([accepted("big", num_images=4)], shape, 2)) == [["big"]]


def running(job_id: str, **overrides: object) -> Running:
    record = JobRecord(
        job_id=job_id, owner="user-1", kind=JobKind.TXT2IMG, params=params(**overrides)
    )
    return Running(delivery("{}"), record, JobLease(job_id), time.perf_counter(), 0.0)


def test_claimed_jobs_are_split_by_their_records_not_their_messages() -> None:
    claimed = [running("a"), running("b", steps=9), running("c")]
    calls = split_by_record(claimed, shape)
    assert [[r.record.job_id for r in call] for call in calls] == [["a", "c"], ["b"]]
