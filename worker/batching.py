"""Batching: jobs of the same shape share one pipeline call, up to ``max_images`` images.

Deliveries are grouped by their message's parameters before the claim (so a group's claims
can happen together); once claimed, the records are authoritative and a job whose record
disagrees with its message runs in a call of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from sdfleet.requests import JobKind, JobParams
from worker.jobs import Accepted, Running

#: The generator's batch key: jobs with equal keys can share a pipeline call.
BatchKey = Callable[[JobKind, JobParams], Hashable]


def group_by_shape(
    accepted: list[Accepted], batch_key: BatchKey, max_images: int
) -> list[list[Accepted]]:
    """Groups in order of each group's first delivery; a group never exceeds ``max_images``
    images unless a single job alone does."""
    open_groups: dict[Hashable, list[list[Accepted]]] = {}
    order: list[list[Accepted]] = []
    for job in accepted:
        if not isinstance(job.params, JobParams):
            # A training occupies the worker for its whole run: always a group of its own.
            order.append([job])
            continue
        chunks = open_groups.setdefault(batch_key(job.kind, job.params), [])
        images = job.params.num_images
        if chunks and sum(_images(a) for a in chunks[-1]) + images <= max_images:
            chunks[-1].append(job)
        else:
            chunk = [job]
            chunks.append(chunk)
            order.append(chunk)
    return order


def split_by_record(claimed: list[Running], batch_key: BatchKey) -> list[list[Running]]:
    """One pipeline call per record shape among a group's claimed jobs."""
    calls: dict[Hashable, list[Running]] = {}
    for running in claimed:
        params = running.record.params
        key = (
            batch_key(running.record.kind, params)
            if isinstance(params, JobParams)
            else ("train", running.record.job_id)
        )
        calls.setdefault(key, []).append(running)
    return list(calls.values())


def _images(job: Accepted) -> int:
    return job.params.num_images if isinstance(job.params, JobParams) else 1
