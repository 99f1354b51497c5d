"""Benchmark (b): Stable Diffusion 1.5 generation speed on one GPU.

The full-size SD 1.5 architecture (UNet 860M, VAE 84M, CLIP ViT-L/14 text encoder 123M
parameters) is built from its configs below with random weights, so nothing is downloaded;
speed does not depend on the weights' values. Workload: 512x512, 30 steps, CFG 7.5, fp16,
through the same ``StableDiffusionPipeline`` call, attention probe (worker.attention) and
schedulers (worker.schedulers) the worker uses. Matrix: attention {sdpa, xformers} x
{eager, torch.compile + channels_last, the same with CUDA graphs (mode reduce-overhead)} x
batch {1, 4, 8}, plus scheduler cells (dpmpp_2m, euler_a, ddim; SDPA eager, batch 1). Each
cell: warm-up calls, then the median of >= 10 timed calls. An xformers cell whose kernels fail
the worker's start-up probe is reported skipped, with the probe's reason.

Reported per cell: seconds per image, images/s, peak GPU memory, achieved TFLOP/s and its share
of the floor: 50.7 TFLOP per 512x512 30-step image (30 CFG UNet steps + one VAE decode) against
989 TFLOP/s dense fp16 on an H100/H200 (``--peak-tflops`` for other GPUs), i.e. a floor of
0.051 s per image. The script also counts the FLOPs with torch's FlopCounterMode on the real
architecture and records the counts. Goals on an H100/H200: <= 0.40 s per image at batch 1
(stretch 0.30 s), >= 6 images/s batched.

    python benchmarks/worker_gpu.py                 # on a CUDA machine: the full matrix
    python benchmarks/worker_gpu.py --smoke         # CPU, tiny sizes, < 60 s: CI runs this

Prints a table and writes JSON (machine, GPU, driver, versions, every sample) to
benchmarks/results/worker_gpu-<gpu>.json (``--out`` to change).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
# Built from configs: never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from sdfleet.requests import Scheduler  # noqa: E402
from worker.attention import AttentionBackend, choose_attention  # noqa: E402
from worker.schedulers import Schedulers  # noqa: E402
from worker.tiny_model import (  # noqa: E402
    TEXT_HIDDEN,
    UNET_CONFIG,
    VAE_CONFIG,
    random_weight_pipeline,
)

RESULTS_DIR: Final = REPO_ROOT / "benchmarks" / "results"
#: The nominal cost of one SD 1.5 image at 512x512 and 30 steps: 30 CFG denoising steps
#: (the UNet at batch 2, ~1.61 TFLOP each) plus one VAE decode (~2.5 TFLOP).
NOMINAL_TFLOP_PER_IMAGE: Final = 50.7
#: Dense fp16 tensor-core peak of an H100 SXM / H200 (NVIDIA datasheet, without sparsity).
PEAK_TFLOPS_BY_GPU: Final = {"H100": 989.0, "H200": 989.0}
GOAL_SECONDS_PER_IMAGE_BATCH1: Final = 0.40
STRETCH_SECONDS_PER_IMAGE_BATCH1: Final = 0.30
GOAL_IMAGES_PER_SECOND: Final = 6.0
#: The scheduler cells: each non-default scheduler at SDPA, eager, batch 1.
SCHEDULER_CELLS: Final = (Scheduler.DPMPP_2M, Scheduler.EULER_A, Scheduler.DDIM)
PROMPT: Final = "a photograph of an astronaut riding a horse on mars, highly detailed"

# Stable Diffusion 1.5's component configs (its unet/, vae/ and text_encoder/ config.json).
SD15_UNET: Final[dict[str, Any]] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": (
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": (
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ),
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "act_fn": "silu",
    "center_input_sample": False,
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "mid_block_scale_factor": 1,
}
SD15_VAE: Final[dict[str, Any]] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "act_fn": "silu",
    "sample_size": 512,
}
SD15_TEXT: Final[dict[str, Any]] = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
TINY_TEXT: Final[dict[str, Any]] = {
    "hidden_size": TEXT_HIDDEN,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "projection_dim": TEXT_HIDDEN,
}


@dataclass(frozen=True)
class Workload:
    name: str
    unet: dict[str, Any]
    vae: dict[str, Any]
    text: dict[str, Any]
    size: int
    steps: int
    guidance_scale: float
    batches: tuple[int, ...]
    warmup: int
    repeats: int
    device: str
    dtype: str
    compile_backend: str
    #: Batch sizes of the compiled cells (None: all): each new size is a new trace.
    compile_batches: tuple[int, ...] | None = None
    compile_mode: str | None = None


FULL: Final = Workload(
    "sd15-512", SD15_UNET, SD15_VAE, SD15_TEXT, 512, 30, 7.5, (1, 4, 8), 2, 10, "cuda",
    "float16", "inductor",
)  # fmt: skip
#: CPU, tiny model: checks that every code path still runs, not how fast it is. Dynamo traces
#: the compiled cells with the "eager" backend: inductor's C++ build takes minutes on a CPU.
SMOKE: Final = Workload(
    "tiny-64-smoke", UNET_CONFIG, VAE_CONFIG, TINY_TEXT, 64, 3, 7.5, (1, 2), 1, 3, "cpu",
    "float32", "eager", (1,),
)  # fmt: skip


@dataclass
class Cell:
    attention: str
    compiled: bool
    batch: int
    cuda_graphs: bool = False
    scheduler: str = Scheduler.DEFAULT.value
    status: str = "ok"
    detail: str = ""
    compile_seconds: float | None = None
    call_seconds: list[float] = field(default_factory=list)
    seconds_per_image: float | None = None
    images_per_second: float | None = None
    peak_memory_bytes: int | None = None
    achieved_tflops: float | None = None
    share_of_floor: float | None = None


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": {
            name: _version(name)
            for name in ("torch", "diffusers", "transformers", "xformers", "accelerate", "triton")
        },
    }
    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(0)
        info["gpu"] = {
            "name": properties.name,
            "memory_bytes": properties.total_memory,
            "capability": f"{properties.major}.{properties.minor}",
            "multiprocessors": properties.multi_processor_count,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "driver": _nvidia_smi("driver_version"),
            "clocks_max_sm_mhz": _nvidia_smi("clocks.max.sm"),
            "power_limit_w": _nvidia_smi("power.limit"),
        }
    return info


def _nvidia_smi(query: str) -> str | None:
    try:
        completed = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip().splitlines()[0] if completed.stdout.strip() else None


def build_pipeline(workload: Workload) -> Any:
    """Random-weight components from configs, created directly on the device (fast init)."""
    import torch

    pipe = random_weight_pipeline(
        workload.unet, workload.vae, workload.text, seed=0, device=workload.device
    ).to(workload.device, getattr(torch, workload.dtype))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def count_tflops(pipe: Any, workload: Workload) -> dict[str, float]:
    """FLOPs of one CFG step (UNet at batch 2) and one VAE decode, counted by torch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    latent = workload.size // pipe.vae_scale_factor
    dtype = pipe.unet.dtype
    device = pipe.unet.device
    text = pipe.text_encoder.config.hidden_size
    with torch.no_grad():
        sample = torch.zeros(2, 4, latent, latent, dtype=dtype, device=device)
        context = torch.zeros(2, 77, text, dtype=dtype, device=device)
        with FlopCounterMode(display=False) as step:
            pipe.unet(sample, torch.tensor(500, device=device), encoder_hidden_states=context)
        with FlopCounterMode(display=False) as decode:
            pipe.vae.decode(sample[:1])
    return {"step": step.get_total_flops() / 1e12, "vae_decode": decode.get_total_flops() / 1e12}


@contextlib.contextmanager
def attention_and_compile(pipe: Any, cell: Cell, workload: Workload) -> Iterator[None]:
    """Sets the cell's attention and compilation on the shared pipeline; undoes it after."""
    import torch

    eager_unet = pipe.unet
    eager_scheduler = pipe.scheduler
    pipe.scheduler = cell_schedulers(pipe).get(Scheduler(cell.scheduler))
    if cell.compiled:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        if workload.compile_backend == "inductor":
            import torch._inductor.config as inductor_config

            # 1x1 convolutions as matmuls: diffusers' recommended inductor setting for UNets.
            inductor_config.conv_1x1_as_mm = True
        # CUDA graphs: the worker's cuda_graphs setting (worker/speed.py) is this mode.
        mode = "reduce-overhead" if cell.cuda_graphs else workload.compile_mode
        # fullgraph so a graph break fails loudly instead of silently running half eager.
        pipe.unet = torch.compile(
            eager_unet,
            backend=workload.compile_backend,
            mode=mode,
            fullgraph=True,
        )
    try:
        yield
    finally:
        pipe.unet = eager_unet
        pipe.scheduler = eager_scheduler
        if cell.compiled:
            eager_unet.to(memory_format=torch.contiguous_format)
            pipe.vae.to(memory_format=torch.contiguous_format)
            torch._dynamo.reset()


_SCHEDULERS: dict[int, Schedulers] = {}


def cell_schedulers(pipe: Any) -> Schedulers:
    """The worker's scheduler set, built once from the pipeline's own scheduler."""
    if id(pipe) not in _SCHEDULERS:
        _SCHEDULERS[id(pipe)] = Schedulers(pipe.scheduler)
    return _SCHEDULERS[id(pipe)]


def use_attention(pipe: Any, cell: Cell, workload: Workload) -> str | None:
    """Sets the cell's attention the way the worker does (a probe); None when it is in use,
    else why not (an xformers cell whose kernels cannot run here is skipped, not measured as
    SDPA)."""
    import torch

    choice = choose_attention(pipe, cell.attention, workload.device, getattr(torch, workload.dtype))
    if choice.backend != cell.attention:
        return choice.reason
    return None


def run_cell(
    pipe: Any, cell: Cell, workload: Workload, tflop_per_image: float, peak: float | None
) -> None:
    import torch

    cuda = workload.device.startswith("cuda")

    def call() -> float:
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in range(cell.batch)]
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        pipe(
            [PROMPT] * cell.batch,
            negative_prompt=[""] * cell.batch,
            width=workload.size,
            height=workload.size,
            num_inference_steps=workload.steps,
            guidance_scale=workload.guidance_scale,
            generator=generators,
            output_type="pil",
        )
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    with attention_and_compile(pipe, cell, workload):
        first = call()  # includes compilation for compiled cells
        if cell.compiled:
            cell.compile_seconds = round(first, 3)
        for _ in range(workload.warmup - 1):
            call()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        cell.call_seconds = [call() for _ in range(workload.repeats)]
        cell.peak_memory_bytes = (
            torch.cuda.max_memory_allocated()
            if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        )
    median = statistics.median(cell.call_seconds)
    cell.seconds_per_image = median / cell.batch
    cell.images_per_second = cell.batch / median
    cell.achieved_tflops = tflop_per_image * cell.images_per_second
    if peak:
        cell.share_of_floor = cell.achieved_tflops / peak


#: --compile values -> (compiled, cuda_graphs).
COMPILE_MODES: Final = {"eager": (False, False), "compile": (True, False), "graphs": (True, True)}


def cells_for(
    workload: Workload, attentions: list[str], modes: list[str], schedulers: list[str]
) -> list[Cell]:
    cells = [
        Cell(attention, COMPILE_MODES[mode][0], batch, cuda_graphs=COMPILE_MODES[mode][1])
        # Eager cells first: compilation is the slow part, and a cut-short run keeps those.
        for mode in modes
        for attention in attentions
        for batch in workload.batches
        if mode == "eager" or workload.compile_batches is None or batch in workload.compile_batches
    ]
    # Scheduler cells after the eager matrix and before compilation (cheap, never cut short).
    eager = sum(1 for cell in cells if not cell.compiled)
    extra = [
        Cell(AttentionBackend.SDPA.value, False, 1, scheduler=name)
        for name in schedulers
        if name != Scheduler.DEFAULT
    ]
    return cells[:eager] + extra + cells[eager:]


def unavailable_reason(cell: Cell, workload: Workload) -> str | None:
    if cell.cuda_graphs and not workload.device.startswith("cuda"):
        return "CUDA graphs need CUDA"
    return None


def peak_tflops(info: dict[str, Any], override: float | None) -> float | None:
    """The GPU's dense fp16 peak: --peak-tflops, else known H100/H200, else unknown."""
    if override:
        return override
    name = str(info.get("gpu", {}).get("name", ""))
    return next((peak for key, peak in PEAK_TFLOPS_BY_GPU.items() if key in name), None)


def render(cells: list[Cell], workload: Workload, console: Console) -> None:
    cuda = workload.device.startswith("cuda")
    table = Table(
        title=f"worker_gpu: {workload.name}, {workload.steps} steps, CFG {workload.guidance_scale},"
        f" {workload.dtype} on {workload.device} (median of {workload.repeats})"
    )
    columns = (
        "attention", "compile", "sched", "batch", "s/image", "images/s", "peak mem", "TFLOP/s",
        "of floor",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("attention", "sched") else "right")
    table.add_column("status")
    for cell in cells:
        memory = (
            f"{cell.peak_memory_bytes / 2**30:.2f} GiB{'' if cuda else ' RSS'}"
            if cell.peak_memory_bytes
            else "-"
        )
        table.add_row(
            cell.attention,
            mode_label(cell),
            cell.scheduler,
            str(cell.batch),
            f"{cell.seconds_per_image:.3f}" if cell.seconds_per_image else "-",
            f"{cell.images_per_second:.2f}" if cell.images_per_second else "-",
            memory,
            f"{cell.achieved_tflops:.3g}" if cell.achieved_tflops else "-",
            f"{cell.share_of_floor:.1%}" if cell.share_of_floor else "-",
            escape(cell.status if not cell.detail else f"{cell.status}: {cell.detail[:70]}"),
        )
    console.print(table)


def mode_label(cell: Cell) -> str:
    if not cell.compiled:
        return "eager"
    return "compile+CL+graphs" if cell.cuda_graphs else "compile+CL"


def goals(cells: list[Cell]) -> dict[str, Any]:
    measured = [c for c in cells if c.status == "ok" and c.seconds_per_image]
    batch1 = [c.seconds_per_image for c in measured if c.batch == 1 and c.seconds_per_image]
    rates = [c.images_per_second for c in measured if c.images_per_second]
    best_batch1 = min(batch1) if batch1 else None
    best_rate = max(rates) if rates else None
    return {
        "seconds_per_image_batch1": {
            "goal": GOAL_SECONDS_PER_IMAGE_BATCH1,
            "best": best_batch1,
            "met": best_batch1 is not None and best_batch1 <= GOAL_SECONDS_PER_IMAGE_BATCH1,
            "stretch": STRETCH_SECONDS_PER_IMAGE_BATCH1,
            "stretch_met": best_batch1 is not None
            and best_batch1 <= STRETCH_SECONDS_PER_IMAGE_BATCH1,
        },
        "images_per_second": {
            "goal": GOAL_IMAGES_PER_SECOND,
            "best": best_rate,
            "met": best_rate is not None and best_rate >= GOAL_IMAGES_PER_SECOND,
        },
    }


def default_out(workload: Workload, info: dict[str, Any]) -> Path:
    if workload.name == SMOKE.name:
        return RESULTS_DIR / "worker_gpu-smoke.json"
    name = info.get("gpu", {}).get("name", "unknown")
    return RESULTS_DIR / f"worker_gpu-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark (b): SD 1.5 generation speed.")
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU, seconds")
    parser.add_argument("--attention", default="sdpa,xformers", help="comma list")
    parser.add_argument(
        "--compile", default="eager,compile,graphs", help="comma list: eager,compile,graphs"
    )
    parser.add_argument(
        "--schedulers",
        default=",".join(s.value for s in SCHEDULER_CELLS),
        help="scheduler cells (SDPA, eager, batch 1); empty for none",
    )
    parser.add_argument(
        "--peak-tflops", type=float, help="dense fp16 peak of this GPU (H100/H200: 989)"
    )
    parser.add_argument("--batches", help="comma list (default 1,4,8; smoke 1,2)")
    parser.add_argument("--repeats", type=int, help="timed calls per cell (default 10)")
    parser.add_argument("--compile-mode", help="torch.compile mode, e.g. reduce-overhead")
    # For checking the script itself on a CPU (full-size architecture, tiny workload).
    parser.add_argument("--device", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/...)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        help="start no new cell after this many seconds (the rest are reported 'not run')",
    )
    args = parser.parse_args(argv)

    import torch

    workload = SMOKE if args.smoke else FULL
    overrides: dict[str, Any] = {}
    if args.batches:
        overrides["batches"] = tuple(int(b) for b in args.batches.split(","))
    for name in ("repeats", "compile_mode", "device", "dtype", "size", "steps"):
        if getattr(args, name):
            overrides[name] = getattr(args, name)
    if overrides:
        workload = Workload(**{**asdict(workload), **overrides})
    console = Console(width=160)
    if workload.device.startswith("cuda") and not torch.cuda.is_available():
        console.print("[red]no CUDA device: run on a GPU machine, or pass --smoke[/red]")
        return 2
    if workload.device == "cpu":
        # Tiny tensors: extra threads only add contention on a shared CI machine.
        torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # random fp16 weights overflow

    info = machine_info(workload.device)
    started = time.perf_counter()
    pipe = build_pipeline(workload)
    build_seconds = time.perf_counter() - started
    counted = count_tflops(pipe, workload)
    # The nominal figure is for SD 1.5 at 512x512, 30 steps; anything else uses torch's count.
    full_size = (
        workload.name == FULL.name and workload.size == FULL.size and workload.steps == FULL.steps
    )
    counted_per_image = workload.steps * counted["step"] + counted["vae_decode"]
    tflop_per_image = NOMINAL_TFLOP_PER_IMAGE if full_size else counted_per_image
    peak = peak_tflops(info, args.peak_tflops)

    modes = [name.strip() for name in args.compile.split(",") if name.strip()]
    unknown = sorted(set(modes) - set(COMPILE_MODES))
    if unknown:
        parser.error(f"--compile: unknown {unknown}; choose from {sorted(COMPILE_MODES)}")
    schedulers = [name.strip() for name in args.schedulers.split(",") if name.strip()]
    for name in schedulers:
        Scheduler(name)  # an unknown name fails here, before any cell runs
    cells = cells_for(workload, [a.strip() for a in args.attention.split(",")], modes, schedulers)
    out: Path = args.out or default_out(workload, info)
    command = " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])

    def write() -> dict[str, Any]:
        # After every cell: a run cut short (a time limit) still leaves what it measured.
        summary = goals(cells)
        result = {
            "benchmark": "worker_gpu",
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": command,
            "workload": {
                **{k: v for k, v in asdict(workload).items() if k not in ("unet", "vae", "text")},
                "tflop_per_image_used": tflop_per_image,
                "tflop_per_image_counted": counted_per_image,
                "peak_tflops": peak,
                "floor_seconds_per_image": tflop_per_image / peak if peak else None,
                "tflop_counted": counted,
                "build_seconds": round(build_seconds, 3),
            },
            "machine": info,
            "goals": summary if full_size else None,
            "cells": [asdict(cell) for cell in cells],
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return summary

    for cell in cells:
        cell.status = "pending"
    for cell in cells:
        reason = unavailable_reason(cell, workload)
        elapsed = time.perf_counter() - started
        if reason:
            cell.status, cell.detail = "skipped", reason
        elif args.max_seconds is not None and elapsed > args.max_seconds:
            cell.status, cell.detail = "not run", f"time budget of {args.max_seconds:g} s spent"
        else:
            try:
                why_not = use_attention(pipe, cell, workload)
                if why_not is not None:
                    cell.status, cell.detail = "skipped", why_not
                else:
                    run_cell(pipe, cell, workload, tflop_per_image, peak)
                    cell.status = "ok"
            except Exception as exc:  # one broken cell must not hide the others' numbers
                cell.status, cell.detail = "failed", f"{type(exc).__name__}: {exc}"[:500]
                if workload.device.startswith("cuda"):
                    torch.cuda.empty_cache()
        measured = f" {cell.seconds_per_image:.3f} s/image" if cell.seconds_per_image else ""
        console.print(
            f"{cell.attention:8} {mode_label(cell):17} {cell.scheduler:8} batch {cell.batch}: "
            f"{escape(cell.status)}{measured}"
        )
        write()

    render(cells, workload, console)
    summary = write()
    if full_size:
        for name, goal in summary.items():
            verdict = "met" if goal["met"] else "NOT met"
            console.print(f"goal {name}: best {goal['best']} vs {goal['goal']}: {verdict}")
    console.print(f"wrote {out}")
    failed = [cell for cell in cells if cell.status == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
