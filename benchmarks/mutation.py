"""Mutation testing of the core modules with mutmut: ``make mutation`` (all), or
``make mutation-quick`` (only the core modules changed against ``origin/main``).

Each module is mutated in its own scratch copy of the checkout, against the tests that cover
it (CORE_MODULES), so modules run independently and a run never touches the worktree. The
score per module (killed / all mutants that ran) and every survivor go to
benchmarks/results/mutation.json and .md. Survivors judged equivalent (no test can tell them
from the original) are listed with a one-line reason in EQUIVALENT and reported as such.

    python -m benchmarks.mutation [--quick] [--base REF] [MODULE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = ROOT / "benchmarks" / "results"
#: The goal per module (issue 20).
GOAL: Final = 0.90
#: Core module -> the tests that cover it (mutmut runs these against each mutant).
CORE_MODULES: Final[dict[str, list[str]]] = {
    "sdfleet/messages.py": ["tests/unit/contract"],
    "sdfleet/keys.py": ["tests/unit/contract", "tests/integration/ingest/test_service_defences.py"],
    "sdfleet/records.py": ["tests/unit/contract", "tests/integration/test_job_store.py"],
    "sdfleet/store.py": [
        "tests/integration/test_job_store.py",
        "tests/integration/test_job_store_properties.py",
    ],
    "autoscaler/observe.py": ["tests/unit/autoscaler", "tests/integration/autoscaler"],
    "autoscaler/policy.py": ["tests/unit/autoscaler"],
    "autoscaler/actuate.py": ["tests/integration/autoscaler"],
    "worker/intake.py": [
        "tests/unit/worker_daemon",
        "tests/integration/worker/test_intake.py",
        "tests/integration/worker/test_intake_owner_collision.py",
    ],
    "worker/lanes.py": [
        "tests/integration/worker/test_queue_mechanics.py",
        "tests/integration/worker/test_lane_order.py",
    ],
    "worker/claim.py": ["tests/unit/worker_daemon"],
    "worker/settle_policy.py": ["tests/unit/worker_daemon"],
    "ingest_lambda/services.py": ["tests/integration/ingest"],
    "ingest_lambda/auth.py": ["tests/unit/ingest", "tests/integration/ingest"],
}
#: Tests of the source tree's shape rather than behaviour: they read files mutmut rewrites
#: (import rules over the trampolines, the README), so they cannot run against mutants.
SHAPE_TESTS: Final = (
    "tests/unit/contract/test_import_rules.py",
    "tests/unit/contract/test_readme.py",
)
#: mutant name -> why no test can kill it (reported, and not counted against the score).
EQUIVALENT: Final[dict[str, str]] = {}
_RESULT_LINE = re.compile(r"^\s*([\w.]+__mutmut_\d+):\s*(.+?)\s*$")


@dataclass
class ModuleScore:
    module: str
    tests: list[str]
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    equivalent: dict[str, str] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def counted(self) -> int:
        return self.killed + len(self.survived)

    @property
    def score(self) -> float | None:
        return self.killed / self.counted if self.counted else None


def changed_core_modules(base: str) -> list[str]:
    diff = subprocess.run(
        ["git", "diff", "--name-only", f"{base}...HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [m for m in CORE_MODULES if m in diff]


def scratch_copy(into: Path) -> Path:
    """The tracked files of the checkout (as they are now, uncommitted edits included)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in files:
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def configure(copy: Path, module: str, tests: list[str]) -> None:
    package = module.split("/")[0]
    # Everything else of the checkout beside the mutated package (tests read examples/,
    # terraform/, docs/ ...).
    beside = sorted(p.name for p in copy.iterdir() if p.name not in {package, "mutants", ".git"})
    section = {
        "source_paths": [package],
        "only_mutate": [module],
        "also_copy": beside,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q"]
        + [f"--ignore={path}" for path in SHAPE_TESTS],
        "pytest_add_cli_args_test_selection": tests,
    }
    lines = ["", "[tool.mutmut]"] + [
        f"{key} = {json.dumps(value)}" for key, value in section.items()
    ]
    with (copy / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n".join(lines) + "\n")


def run_module(module: str, max_children: int) -> ModuleScore:
    tests = CORE_MODULES[module]
    score = ModuleScore(module, tests)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sdfleet-mutation-") as scratch:
        copy = scratch_copy(Path(scratch))
        configure(copy, module, tests)
        mutmut = [sys.executable, "-m", "mutmut"]
        environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run(
            [*mutmut, "run", "--max-children", str(max_children)],
            cwd=copy,
            env=environment,
            check=False,
        )
        listing = subprocess.run(
            [*mutmut, "results", "--all", "true"],
            cwd=copy,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    score.seconds = round(time.perf_counter() - started, 1)
    for line in listing.splitlines():
        match = _RESULT_LINE.match(line)
        if not match:
            continue
        name, status = match.groups()
        if status == "killed":
            score.killed += 1
        elif status == "survived" and name in EQUIVALENT:
            score.equivalent[name] = EQUIVALENT[name]
        elif status == "survived":
            score.survived.append(name)
        else:
            score.other[status] = score.other.get(status, 0) + 1
    return score


def write_results(scores: list[ModuleScore], scope: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    not_run = [m for m in CORE_MODULES if m not in {s.module for s in scores}]
    payload = {
        "command": "make mutation" if scope == "all" else f"python -m benchmarks.mutation {scope}",
        "scope": scope,
        "goal": GOAL,
        "modules": {
            s.module: {**asdict(s), "score": s.score, "meets_goal": (s.score or 0) >= GOAL}
            for s in scores
        },
        "not_run": not_run,
    }
    (RESULTS / "mutation.json").write_text(json.dumps(payload, indent=2) + "\n")
    rows = [
        "| module | killed | survived | equivalent | other | score | goal met | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        shown = "n/a" if s.score is None else f"{s.score:.1%}"
        rows.append(
            f"| {s.module} | {s.killed} | {len(s.survived)} | {len(s.equivalent)} | "
            f"{sum(s.other.values())} | {shown} | {'yes' if (s.score or 0) >= GOAL else 'no'} | "
            f"{s.seconds} |"
        )
    survivors = [f"- `{name}` ({s.module})" for s in scores for name in s.survived]
    equivalent = [f"- `{n}`: {why}" for s in scores for n, why in s.equivalent.items()]
    text = "\n".join(
        [
            "# Mutation testing (mutmut)",
            "",
            f"Scope: {scope}. Not run: {', '.join(not_run) or 'none'}.",
            "",
            *rows,
            "",
            "Mutants with status `no tests` are reported under `other` and not counted: mutmut",
            "3 switches mutants at call time, so code run at import (module-level constants)",
            "is never exercised by the mutant switch.",
            "",
            "## Survivors",
            *(survivors or ["none"]),
            "",
            "## Equivalent (not counted)",
            *(equivalent or ["none"]),
            "",
        ]
    )
    (RESULTS / "mutation.md").write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__)
    parser.add_argument(
        "modules", nargs="*", help=f"core modules (default: all {len(CORE_MODULES)})"
    )
    parser.add_argument("--quick", action="store_true", help="only core modules changed vs --base")
    parser.add_argument("--base", default="origin/main", help="git ref for --quick")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in CORE_MODULES]
    if unknown:
        parser.error(f"not core modules: {unknown}; core: {sorted(CORE_MODULES)}")
    if args.quick:
        modules, scope = changed_core_modules(args.base), f"--quick --base {args.base}"
    elif args.modules:
        modules, scope = list(args.modules), " ".join(args.modules)
    else:
        modules, scope = list(CORE_MODULES), "all"
    scores = [run_module(module, args.max_children) for module in modules]
    write_results(scores, scope)
    return 0 if all((s.score or 0) >= GOAL for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
