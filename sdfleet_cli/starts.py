"""``sdfleet starts``: the fleet's measured starts, launch to ready, per start path.

Reads the workers' start records (:mod:`sdfleet.starts`) from the data bucket, prints their
spread per path and writes the samples file ``sdfleet simulate --start-samples`` replays.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Final

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from sdfleet.errors import ConfigurationError
from sdfleet.starts import (
    SAMPLED_PATHS,
    StartPath,
    StartRecord,
    StartRecordStore,
    launched_second_of_key,
)

#: Most records one run reads (``--max``'s ceiling).
MAX_RECORDS_LIMIT: Final = 100_000
DEFAULT_MAX_RECORDS: Final = 10_000
#: Records fetched at once: each is one small GET, so a fleet's months of starts are read
#: in seconds rather than one round trip after another.
READ_THREADS: Final = 16


@dataclass
class Collected:
    records: list[StartRecord] = field(default_factory=list)
    #: Records with a negative part (the instance's clock behind EC2's): not samples.
    impossible: int = 0
    #: Records left out by the filters (those launched before ``since`` without being read).
    filtered: int = 0
    #: Records that could not be read or are not start records.
    unreadable: int = 0
    #: True when more records were there than ``max_records``.
    truncated: bool = False


def collect(
    store: StartRecordStore,
    *,
    since: datetime | None = None,
    image_id: str | None = None,
    instance_type: str | None = None,
    max_records: int = DEFAULT_MAX_RECORDS,
) -> Collected:
    if not 1 <= max_records <= MAX_RECORDS_LIMIT:
        raise ConfigurationError(f"--max: must be 1..{MAX_RECORDS_LIMIT} (got {max_records})")
    collected = Collected()
    keys = []
    for key in store.record_keys():
        launched = launched_second_of_key(key)
        # The key holds the launch to the second: one named before since's second is older.
        if since is not None and launched is not None and launched < since.replace(microsecond=0):
            collected.filtered += 1
        else:
            keys.append(key)
    if len(keys) > max_records:
        collected.truncated = True
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        for record in pool.map(lambda key: _read(store, key), islice(keys, max_records)):
            if record is None:
                collected.unreadable += 1
            elif (
                (since is not None and record.launched_at < since)
                or (image_id is not None and record.image_id != image_id)
                or (instance_type is not None and record.instance_type != instance_type)
            ):
                collected.filtered += 1
            elif record.boot_seconds < 0 or record.load_seconds < 0:
                collected.impossible += 1
            else:
                collected.records.append(record)
    return collected


def _read(store: StartRecordStore, key: str) -> StartRecord | None:
    try:
        return store.get(key)
    except (ClientError, BotoCoreError, ValidationError):
        return None


@dataclass(frozen=True)
class PathSummary:
    path: StartPath
    starts: int
    launch_to_ready_p10: float
    launch_to_ready_p50: float
    launch_to_ready_p90: float
    boot_p50: float
    load_p50: float


def summarize(records: Iterable[StartRecord]) -> list[PathSummary]:
    """One row per sampled path that has starts, in the samples file's order."""
    by_path: dict[StartPath, list[StartRecord]] = {}
    for record in records:
        by_path.setdefault(record.start_path, []).append(record)
    rows = []
    for path in SAMPLED_PATHS:
        starts = by_path.get(path, [])
        if not starts:
            continue
        totals = sorted(r.launch_to_ready_seconds for r in starts)
        p10, p50, p90 = _deciles(totals)
        rows.append(
            PathSummary(
                path=path,
                starts=len(starts),
                launch_to_ready_p10=p10,
                launch_to_ready_p50=p50,
                launch_to_ready_p90=p90,
                boot_p50=statistics.median(r.boot_seconds for r in starts),
                load_p50=statistics.median(r.load_seconds for r in starts),
            )
        )
    return rows


def _deciles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return cuts[0], statistics.median(values), cuts[-1]
