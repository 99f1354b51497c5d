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
    # The attention x compile x batch matrix (the default scheduler, no CUDA graphs).
    cells = {
        (c["attention"], c["compiled"], c["batch"]): c
        for c in result["cells"]
        if c["scheduler"] == "default" and not c["cuda_graphs"]
    }
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
    # xformers cells go through the worker's probe: skipped with its reason, never SDPA numbers.
    assert "xformers requested but unusable" in cells[("xformers", False, 1)]["detail"]
    # CUDA graphs need CUDA: said, not failed.
    graphs = [c for c in result["cells"] if c["cuda_graphs"]]
    assert graphs and all(c["detail"] == "CUDA graphs need CUDA" for c in graphs)
    # Every non-default scheduler ran through the worker's scheduler set.
    by_scheduler = {c["scheduler"]: c for c in result["cells"] if c["scheduler"] != "default"}
    assert set(by_scheduler) == {"dpmpp_2m", "euler_a", "ddim"}
    assert all(c["status"] == "ok" and c["seconds_per_image"] > 0 for c in by_scheduler.values())
    # The floor share needs the GPU's peak: on a CPU it is unknown, and said so.
    assert result["workload"]["peak_tflops"] is None
    assert "of floor" in completed.stdout


def test_floor_share_uses_the_h100_peak_and_the_nominal_image_cost() -> None:
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import worker_gpu
    finally:
        sys.path.remove(str(REPO_ROOT / "benchmarks"))
    assert worker_gpu.peak_tflops({"gpu": {"name": "NVIDIA H100 80GB HBM3"}}, None) == 989.0
    assert worker_gpu.peak_tflops({"gpu": {"name": "NVIDIA H200"}}, None) == 989.0
    assert worker_gpu.peak_tflops({"gpu": {"name": "NVIDIA A10G"}}, None) is None
    assert worker_gpu.peak_tflops({"gpu": {"name": "NVIDIA A10G"}}, 125.0) == 125.0
    # 50.7 TFLOP per image at 989 TFLOP/s: a floor of about 0.051 s per image.
    assert round(worker_gpu.NOMINAL_TFLOP_PER_IMAGE / 989.0, 3) == 0.051
