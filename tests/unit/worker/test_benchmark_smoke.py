"""Benchmark (b)'s CPU smoke mode runs in CI, so the GPU benchmark script never rots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_gpu_benchmark_smoke_mode_measures_every_runnable_cell(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    completed = subprocess.run(
        [sys.executable, "benchmarks/worker_gpu.py", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "s/image" in completed.stdout and "TFLOP/s" in completed.stdout
    result = json.loads(out.read_text())
    assert result["workload"]["device"] == "cpu"
    assert result["workload"]["tflop_counted"]["step"] > 0
    assert result["machine"]["versions"]["diffusers"]
    cells = {(c["attention"], c["compiled"], c["batch"]): c for c in result["cells"]}
    # SDPA eager at every batch size, and the torch.compile + channels_last path, all ran.
    for key in [("sdpa", False, 1), ("sdpa", False, 2), ("sdpa", True, 1)]:
        cell = cells[key]
        assert cell["status"] == "ok", cell
        assert len(cell["call_seconds"]) == result["workload"]["repeats"]
        assert cell["seconds_per_image"] > 0 and cell["images_per_second"] > 0
        assert cell["peak_memory_bytes"] > 0 and cell["achieved_tflops"] > 0
    assert cells[("sdpa", True, 1)]["compile_seconds"] > 0
    # No xformers on a CPU: those cells say why instead of failing.
    assert all(c["status"] in ("ok", "skipped") for c in result["cells"])
    assert cells[("xformers", False, 1)]["detail"]
