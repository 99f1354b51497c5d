"""The scaler benchmark's warm-pool part: each baseline's knob swept with the same pool, and
ours compared with the cheapest setting of any baseline that waits no longer."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.scaler.run import (
    WARM_POOL_FRONTIER_WORLDS,
    Task,
    warm_pool_frontier_summary,
    warm_pool_markdown,
    warm_pool_record,
)

POOL = WARM_POOL_FRONTIER_WORLDS[0]


def record(seed: int, ours: tuple[float, float], *points: tuple[float, float]) -> dict[str, Any]:
    """A bursty record in the big pool's world: ours' GPU-h and dollars, and the reaching
    points of two families (more families that do not reach are left out)."""
    worlds = [
        {"world": world, "gpu_hours": ours[0], "dollars": ours[1], "interactive_p95_wait": 70.0}
        for world in WARM_POOL_FRONTIER_WORLDS
    ]
    frontiers = [
        {"world": POOL, "family": f"f{n}", "reached": True, "gpu_hours": g, "dollars": d}
        for n, (g, d) in enumerate(points)
    ]
    frontiers.append({"world": POOL, "family": "never", "reached": False})
    return {"trace": "bursty", "seed": seed, "worlds": worlds, "frontiers": frontiers}


def test_ours_is_held_to_the_cheapest_reaching_setting_per_seed() -> None:
    records = [
        record(1, (10.0, 12.0), (11.0, 11.0), (14.0, 15.0)),  # fewer GPU-h, more dollars
        record(2, (10.0, 12.0), (9.0, 13.0)),  # a baseline is cheaper in GPU-h
        record(3, (10.0, 12.0)),  # no baseline waits as little as ours
        record(4, (10.0, 12.0), (12.0, 12.5)),
    ]
    (row,) = [r for r in warm_pool_frontier_summary(records) if r["world"] == POOL]
    assert (row["seeds"], row["seeds_reached"]) == (4, 3)
    assert (row["gpu_hours_at_or_below"], row["dollars_at_or_below"]) == (3, 3)
    assert row["worst_gpu_ratio"] == pytest.approx(10.0 / 9.0, abs=1e-4)
    assert row["worst_dollars_ratio"] == pytest.approx(12.0 / 11.0, abs=1e-4)
    document = {
        "warm_pool": {
            "pool": {
                "min_size": 2,
                "max_prepared": 20,
                "stopped_hourly_price": 0.011,
                "resume_median_seconds": 25,
                "load_median_seconds": 25,
            },
            "summary": [
                {
                    "trace": "bursty",
                    "world": POOL,
                    "interactive_p95_wait": 70.0,
                    "gpu_hours": 10.0,
                    "dollars": 12.0,
                    "busy_killed": 0,
                }
            ],
            "frontiers": [row],
        }
    }
    text = "\n".join(warm_pool_markdown(document))
    assert f"| bursty | {POOL} | 3/4 | 3/4 | 3/4 | 1.11x, 1.09x |" in text


def test_a_pool_record_sweeps_every_baseline_in_the_pool_worlds() -> None:
    found = warm_pool_record(Task("warm-pool", "sparse", 1, quick=True))
    families = {(f["world"], f["family"]) for f in found["frontiers"]}
    assert {world for world, _ in families} == set(WARM_POOL_FRONTIER_WORLDS)
    assert len(families) == len(found["frontiers"]) == 4 * len(WARM_POOL_FRONTIER_WORLDS)
    ours = {w["world"]: w for w in found["worlds"]}
    for point in found["frontiers"]:
        if point["reached"]:
            assert point["interactive_p95_wait"] <= ours[point["world"]]["interactive_p95_wait"]
