"""Mutation testing of the core modules with mutmut: ``make mutation`` (all), or
``make mutation-quick`` (only the core modules changed against ``origin/main``).

Each module is mutated in its own scratch copy of the checkout, against the tests that cover
it (CORE_MODULES), so modules run independently and a run never touches the worktree. The
score per module (killed / all mutants that ran) and every survivor go to
benchmarks/results/mutation.json and .md. Survivors judged equivalent (no test can tell them
from the original) are listed with a one-line reason in EQUIVALENT and reported as such.

    python -m benchmarks.mutation [--quick] [--base REF] [MODULE ...]

After new tests for a module's survivors (in the files CORE_MODULES selects for it),
``--rerun-not-killed DIR MODULE`` runs only the mutants the committed results list as not
killed again (DIR: a run's ``--keep`` directory, or a fresh one, where every other mutant keeps
its committed result).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = ROOT / "benchmarks" / "results"
#: The goal per module (issue 20).
GOAL: Final = 0.90
#: Core module -> the tests that cover it (mutmut runs, for each mutant, those of these that ran
#: the mutated function). Chosen to be the fast tests of the module's behaviour, so a module
#: takes minutes on a 2-core machine; `make test` runs the rest.
CORE_MODULES: Final[dict[str, list[str]]] = {
    "sdfleet/messages.py": [
        "tests/unit/contract/test_messages.py",
        "tests/unit/contract/test_message_schema_agreement.py",
        "tests/unit/contract/test_training_contract.py",
    ],
    "sdfleet/keys.py": [
        "tests/unit/contract/test_records_and_keys.py",
        "tests/integration/ingest/test_service_defences.py",
    ],
    "sdfleet/records.py": [
        "tests/unit/contract/test_records_and_keys.py",
        "tests/unit/contract/test_events.py",
        "tests/integration/test_job_store.py",
    ],
    "sdfleet/store.py": [
        "tests/integration/test_job_store.py",
        "tests/integration/test_job_store_owner_item.py",
        "tests/integration/test_job_store_properties.py",
    ],
    "autoscaler/observe.py": [
        "tests/unit/autoscaler/test_observe_rules.py",
        "tests/unit/autoscaler/test_harness_isolation.py",
        "tests/integration/autoscaler/test_observe.py",
        # Each instance's market (DescribeInstances), read and used by scale-in.
        "tests/integration/autoscaler/test_observe_markets.py",
        # The emulator runs of the handler that read each kind of instance and both lanes.
        "tests/integration/autoscaler/test_handler.py::test_backlog_scales_out_in_steps",
        "tests/integration/autoscaler/test_handler.py::test_scale_in_removes_only_idle_workers",
        "tests/integration/autoscaler/test_handler.py::"
        "test_over_capacity_scale_in_never_takes_a_busy_worker_with_an_aged_heartbeat",
    ],
    "autoscaler/policy.py": [
        "tests/unit/autoscaler/test_policy_memory.py",
        "tests/unit/autoscaler/test_policy_properties.py",
        "tests/unit/autoscaler/test_policy_spot.py",
        "tests/unit/autoscaler/test_policy_training_lane.py",
        "tests/unit/autoscaler/test_policy_decisions.py",
    ],
    "autoscaler/actuate.py": ["tests/integration/autoscaler/test_actuate.py"],
    "worker/intake.py": [
        "tests/unit/worker_daemon",
        "tests/integration/worker/test_intake.py",
        "tests/integration/worker/test_intake_owner_collision.py",
    ],
    "worker/lanes.py": [
        "tests/unit/worker_daemon",
        "tests/integration/worker/test_queue_mechanics.py",
        "tests/integration/worker/test_lane_order.py",
        "tests/integration/worker/test_lane_poller.py",
    ],
    "worker/claim.py": ["tests/unit/worker_daemon"],
    "worker/settle_policy.py": ["tests/unit/worker_daemon"],
    "ingest_lambda/services.py": [
        "tests/integration/ingest/test_service_defences.py",
        "tests/integration/ingest/test_routes.py",
        "tests/integration/ingest/test_bad_input.py",
        "tests/integration/ingest/test_idempotency.py",
        "tests/integration/ingest/test_quotas.py",
        # Training inputs and adapters, webhook URLs and secrets, deletion in progress.
        "tests/integration/ingest/test_training_jobs.py",
        "tests/integration/ingest/test_webhooks.py",
        "tests/integration/ingest/test_deletion.py",
    ],
    "ingest_lambda/auth.py": ["tests/unit/ingest/test_parsing.py"],
}
#: Tests of the source tree's shape rather than behaviour: they read files mutmut rewrites
#: (import rules over the trampolines, the README), so they cannot run against mutants.
SHAPE_TESTS: Final = (
    "tests/unit/contract/test_import_rules.py",
    "tests/unit/contract/test_readme.py",
)
#: mutant name -> why no test can kill it (reported, and not counted against the score).
_DISCARDED_NOTE: Final = "Discarded's note is never read: the settler only deletes the message"
_FALSY_DEFAULT: Final = "None instead of False as the default of a truth test: both are false"
_SQS_DEFAULT: Final = (
    "the default of an attribute SQS always returns when asked for it (GetQueueAttributes)"
)
#: The poller always asks for every system attribute (MessageSystemAttributeNames=["All"]).
_RECEIVED_DEFAULT: Final = (
    "the default of a field SQS always returns with a message received with all its attributes"
)
_KEYWORD_CASE: Final = "DynamoDB expression keywords (AND, OR, IN, SET, REMOVE, ADD) ignore case"
_BOTOCORE_ERROR: Final = "botocore's ClientError response always has an Error with a Message"
_QUERY_ITEMS: Final = "DynamoDB's Query always returns Items (empty when nothing matches)"
_CONSISTENT: Final = (
    "the emulator's reads are always strongly consistent, so no test against it can tell"
)
_COUNT_SELECT: Final = "Query returns Count either way; Select=COUNT only spares reading items"
_UNUSED_NAMES: Final = "attribute names the expressions do not use are dropped before the call"
_TWO_REASONS: Final = (
    "the transaction always has two items, so a cancellation always lists two reasons"
)
_COUNTER_DEFAULT: Final = (
    "the quota condition fails only on a counter that exists, so the default is never read"
)
_STORE = "sdfleet.store.xǁJobStoreǁ"
_SERVICE = "ingest_lambda.services.xǁIngestServiceǁ"
#: Survivors a test could kill but that are left alive on purpose, each with why: they stay
#: counted as survivors (not equivalent), and the results print the reason beside them.
LEFT_ALIVE: Final[dict[str, str]] = {
    "sdfleet.store.xǁJobStoreǁcreate__mutmut_1": (
        "only the batch intake creates with the default (no deletion check); batch owners are "
        "tenants, and only a web user's DELETE /me marks an owner as deleting, so a test would "
        "need a tenant named like a user's sub; whether intake should check anyway is open"
    ),
}
EQUIVALENT: Final[dict[str, str]] = {
    **{
        f"{_STORE}{name}__mutmut_{n}": _KEYWORD_CASE
        for name, numbers in {
            "count_active": (24,),
            "count_queued_ahead": (20,),
            "renew_lease": (56, 60),
            "fail": (15, 23, 26, 51, 54),
            "cancel": (16, 40),
            "request_cancel": (14, 36),
            "mark_cancelled": (18, 21),
            "clear_outputs": (18, 21),
            "_create_unless_owner_deleting": (3, 47),
            "claim": (8, 11, 35, 49, 76, 81),
            "finish": (65, 69, 72, 75),
            "_update_unless_owner_deleted": (57, 71),
            "take_upload_slot": (23, 26, 59, 62),
            "withdraw": (19, 55, 98, 101),
        }.items()
        for n in numbers
    },
    **{
        name: _BOTOCORE_ERROR
        for name in (
            *(f"{_STORE}_create_unless_owner_deleting__mutmut_{n}" for n in (121, 123)),
            *(f"{_STORE}withdraw__mutmut_{n}" for n in (74, 76)),
            *(f"{_STORE}_update_unless_owner_deleted__mutmut_{n}" for n in (103, 105)),
            *(f"sdfleet.store.x__is_condition_failure__mutmut_{n}" for n in (3, 5)),
            *(f"sdfleet.store.x__cancellation_codes__mutmut_{n}" for n in (12, 14, 16, 18, 25)),
        )
    },
    **{
        f"{_STORE}{name}__mutmut_{n}": _QUERY_ITEMS
        for name, numbers in {
            "list_by_owner": (52, 54),
            "iter_owner_job_ids": (26, 28),
            "find_by_source_message": (17, 19),
        }.items()
        for n in numbers
    },
    **{
        f"{_STORE}{name}__mutmut_{n}": _CONSISTENT
        for name, numbers in {
            "_create_unless_owner_deleting": (154, 156),
            "deletion_requested_at": (8, 10),
            "_counter": (8, 10),
            "get": (1, 8),
        }.items()
        for n in numbers
    },
    f"{_STORE}count_active__mutmut_20": _COUNT_SELECT,
    f"{_STORE}count_queued_ahead__mutmut_18": _COUNT_SELECT,
    f"{_STORE}cancel__mutmut_43": _UNUSED_NAMES,
    f"{_STORE}request_cancel__mutmut_39": _UNUSED_NAMES,
    f"{_STORE}_create_unless_owner_deleting__mutmut_136": _TWO_REASONS,
    f"{_STORE}_create_unless_owner_deleting__mutmut_137": _TWO_REASONS,
    f"{_STORE}_update_unless_owner_deleted__mutmut_120": _TWO_REASONS,
    f"{_STORE}_update_unless_owner_deleted__mutmut_1": "every caller passes owner_check",
    f"{_STORE}_update__mutmut_29": (
        "every attribute name this path is given is used in its condition, so the filter keeps "
        "the same names"
    ),
    f"{_STORE}claim__mutmut_26": (
        "every record is written with its attempts (0 at first), so if_not_exists never falls "
        "back to :zero"
    ),
    "sdfleet.store.x__from_dynamo_value__mutmut_1": (
        "pydantic reads an integral float as the int each record field declares"
    ),
    **{
        f"sdfleet.store.x_record_to_item__mutmut_{n}": (
            "pydantic dumps Python objects for any mode but 'json'"
        )
        for n in (2, 4, 6, 7)
    },
    **{
        f"sdfleet.store.x_record_to_item__mutmut_{n}": "marshal drops None values anyway"
        for n in (5, 8, 15, 18)
    },
    **{
        f"sdfleet.store.x_record_to_item__mutmut_{n}": (
            "marshalled, the params' Python dump is the same item as their JSON dump (their "
            "enums are str)"
        )
        for n in (12, 14, 16, 17)
    },
    **{
        f"sdfleet.store.x_record_to_item__mutmut_{n}": (
            "a new record is queued and has no error (fail writes errors by its own update)"
        )
        for n in (20, 21, 22)
    },
    "sdfleet.store.x_format_time__mutmut_2": (
        "astimezone(None) is local time, which is UTC on the build machine and in Lambda"
    ),
    **{
        f"sdfleet.store.x__to_dynamo_value__mutmut_{n}": (
            "every enum in a record is a StrEnum (a str, written as is); no other type with a "
            "value attribute reaches this line"
        )
        for n in (7, 8, 12, 13, 14)
    },
    **{
        f"sdfleet.store.x__cancellation_codes__mutmut_{n}": (
            "AWS's message holds one bracketed list, so its first and last brackets are the same"
        )
        for n in (31, 35)
    },
    "sdfleet.store.x__cancellation_codes__mutmut_36": (
        "AWS's message ends with its bracketed list, so a cut before its last character is the "
        "same cut"
    ),
    **{
        f"sdfleet.store.x__cancellation_codes__mutmut_{n}": "str(None) is the text 'None' too"
        for n in (44, 46)
    },
    **{
        f"{_STORE}_create_unless_owner_deleting__mutmut_{n}": (
            "the owner's item exists whenever its condition failed, so its default is never read"
        )
        for n in (146, 148)
    },
    **{
        f"{_STORE}_create_unless_owner_deleting__mutmut_{n}": _COUNTER_DEFAULT
        for n in (180, 182, 184, 186, 191, 204, 206, 208, 210, 215)
    },
    f"{_STORE}_create_unless_owner_deleting__mutmut_225": (
        "without a cost limit the transaction cannot fail on cost, so `cost_limit or 0` is "
        "never reached with None"
    ),
    f"{_STORE}find_by_source_message__mutmut_28": (
        "the emulator's index never names a deleted record (no index lag), so the get after it "
        "never misses and the loop never goes on"
    ),
    **{
        f"sdfleet.store.x__encode_cursor__mutmut_{n}": (
            "a cursor decodes to the same key whatever the order of its fields"
        )
        for n in (3, 5, 6)
    },
    f"{_STORE}take_upload_slot__mutmut_4": (
        "the day's key only has to name the UTC day: any text around the date keys it the same"
    ),
    **{
        f"sdfleet.store.x__cancellation_codes__mutmut_{n}": (
            "an absent list of reasons and an empty one both mean: read them from the message"
        )
        for n in (3, 5)
    },
    **{
        f"autoscaler.observe.xǁFleetObserverǁqueue_depths__mutmut_{n}": _SQS_DEFAULT
        for n in (16, 18, 22, 26, 28, 32)
    },
    **{
        f"autoscaler.observe.xǁFleetObserverǁgroup__mutmut_{n}": (
            "DescribeAutoScalingGroups always returns a group's Tags and Instances (empty lists "
            "when it has none), so their defaults are never read"
        )
        for n in (20, 22, 33, 35)
    },
    **{
        f"autoscaler.observe.x_instance_view__mutmut_{n}": (
            "observe views only the snapshot's instances, and the snapshot's protection map has "
            "each of them (both come from one instance list), so the default is never read"
        )
        for n in (16, 18, 19)
    },
    **{
        f"autoscaler.observe.xǁFleetObserverǁmarkets__mutmut_{n}": (
            "DescribeInstances always returns Reservations, and each reservation its Instances "
            "(empty lists when none), so their defaults are never read"
        )
        for n in (20, 22, 27, 29)
    },
    "autoscaler.actuate.xǁGroupActuatorǁapply__mutmut_4": (
        "the initial desired capacity is always overwritten before apply returns"
    ),
    "autoscaler.actuate.xǁGroupActuatorǁapply__mutmut_13": _FALSY_DEFAULT,
    "autoscaler.actuate.xǁGroupActuatorǁapply__mutmut_15": _FALSY_DEFAULT,
    **{
        f"worker.lanes.xǁReceivedMessageǁfrom_sqs__mutmut_{n}": _RECEIVED_DEFAULT
        for n in (3, 5, 39, 41, 45, 52, 54, 58)
    },
    "worker.lanes.xǁReceivedMessageǁfrom_sqs__mutmut_60": (
        "SentTimestamp is always present in a message received with all its attributes, so the "
        "condition guarding its absence is always true"
    ),
    "autoscaler.policy.xǁMemoryǁfrom_compact__mutmut_26": (
        "to_compact writes the rate last, so stopping the parse after it reads every tag the same"
    ),
    **{
        f"autoscaler.policy.x_decide__mutmut_{n}": (
            "with need equal to the capacity (or the capacity equal to the floor), the scale-out "
            "branch computes desired = capacity and falls through, as when it is not entered"
        )
        for n in (105, 106)
    },
    **{
        f"autoscaler.policy.x_decide__mutmut_{n}": (
            "_remember always records the current bucket's peak, so the peaks are never empty "
            "and max's default is never read"
        )
        for n in (153, 155)
    },
    "autoscaler.policy.x_decide__mutmut_166": (
        "the newest peak is the current bucket's, at least this decision's hold, so max(floor, "
        "hold, recent) == max(floor, recent)"
    ),
    **{
        f"{_SERVICE}{name}__mutmut_{n}": _BOTOCORE_ERROR
        for name, numbers in {"_exists": (7, 9), "_check_upload": (21, 23)}.items()
        for n in numbers
    },
    **{
        f"{_SERVICE}_check_upload__mutmut_{n}": (
            "S3's HeadObject always returns ContentLength, so its default is never read"
        )
        for n in (40, 42, 46)
    },
    f"{_SERVICE}_delete_prefix__mutmut_32": (
        "ListObjectsV2 without a delimiter returns a page without keys only as the one page of "
        "an empty listing, so no page follows it"
    ),
    f"{_SERVICE}_delete_prefix__mutmut_47": (
        "Quiet only leaves the deleted keys out of DeleteObjects' answer, which is not read"
    ),
    **{
        f"{_SERVICE}_delete_prefix__mutmut_{n}": (
            "an absent Errors list read as None is false as the empty list is: nothing to report"
        )
        for n in (50, 52)
    },
    **{
        f"{_SERVICE}submit_job__mutmut_{n}": (
            "the service always passes active_limit (an int setting), which takes the same "
            "transaction that refuses an owner being deleted"
        )
        for n in (24, 28, 31)
    },
    f"{_SERVICE}check_input__mutmut_13": (
        "JobRequest refuses img2img without input_key and txt2img with one, so `and` and `or` "
        "agree on every request that reaches it"
    ),
    "worker.claim.xǁClaimerǁclaim__mutmut_76": _DISCARDED_NOTE,
    "worker.claim.xǁClaimerǁclaim__mutmut_77": _DISCARDED_NOTE,
    "worker.claim.xǁClaimerǁclaim__mutmut_78": _DISCARDED_NOTE,
    "worker.claim.xǁClaimerǁclaim__mutmut_112": (
        "a Failed outcome with its running job is settled from running.message; the message "
        "argument is not read"
    ),
}
_RESULT_LINE = re.compile(r"^\s*([\w.]+__mutmut_\d+):\s*(.+?)\s*$")


@dataclass
class ModuleScore:
    module: str
    tests: list[str]
    #: Mutants a test failed on, and those that made the tests run past mutmut's timeout.
    killed: int = 0
    timed_out: int = 0
    #: Mutants every selected test passed with.
    survived: list[str] = field(default_factory=list)
    #: Mutants in code none of the selected tests ran: counted as not killed.
    not_covered: list[str] = field(default_factory=list)
    equivalent: dict[str, str] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)
    #: mutant -> its diff (the changed lines), for every mutant not killed.
    diffs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def detected(self) -> int:
        return self.killed + self.timed_out

    @property
    def counted(self) -> int:
        return self.detected + len(self.survived) + len(self.not_covered)

    @property
    def score(self) -> float | None:
        return self.detected / self.counted if self.counted else None


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


def _changed_lines(diff: str) -> str:
    """The removed and added lines of a unified diff (the mutation itself)."""
    return "\n".join(
        line
        for line in diff.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    )


_MUTMUT: Final = [sys.executable, "-m", "mutmut"]
#: Property tests draw the same examples in every run (the derandomised ``ci`` profile of
#: tests/support/hypothesis_profiles.py): with random examples a mutant killed in one run
#: could survive the next, and the score would not reproduce.
_ENVIRONMENT: Final = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HYPOTHESIS_PROFILE": "ci"}
#: tests/conftest.py's variable naming an emulator that is already running.
_SHARED_EMULATOR_ENV: Final = "SDFLEET_TEST_EMULATOR_URL"


@contextmanager
def shared_emulator() -> Iterator[str]:
    """One emulator process for a module's whole run: each mutant's test run would otherwise
    start its own (about 5 s of a 2-core machine, more than most mutants' tests take)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    emulator = subprocess.Popen(
        [sys.executable, "-m", "sdfleet_cli.emulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if emulator.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator for the mutation run did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        emulator.terminate()
        emulator.wait(30)


def run_module(module: str, max_children: int, keep: Path | None = None) -> ModuleScore:
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="sdfleet-mutation-") as scratch,
        shared_emulator() as endpoint,
    ):
        copy = scratch_copy(Path(scratch))
        configure(copy, module, CORE_MODULES[module])
        subprocess.run(
            [*_MUTMUT, "run", "--max-children", str(max_children)],
            cwd=copy,
            env={**_ENVIRONMENT, _SHARED_EMULATOR_ENV: endpoint},
            check=False,
        )
        score = collect(copy, module, round(time.perf_counter() - started, 1))
        if keep is not None:
            shutil.copytree(copy, keep / module.replace("/", "."), dirs_exist_ok=True)
    return score


def rerun_not_killed(directory: Path, module: str, max_children: int) -> ModuleScore:
    """Runs again, in ``directory`` (a finished run's ``--keep`` copy, or a fresh one), only
    the mutants the committed results list as not killed (less those judged equivalent),
    against the checkout's tests as they are now; every other result stands. Tests added to
    the module's selected files are found by mutmut (a changed selection makes it rerun every
    mutant). The seconds reported are both runs'."""
    started = time.perf_counter()
    previous = _previous_results().get(module, {})
    # Equivalent mutants cannot be killed: they keep their result.
    retry = [
        name
        for name in [*previous.get("survived", []), *previous.get("not_covered", [])]
        if name not in EQUIVALENT
    ]
    if not retry:
        raise SystemExit(f"{module}: the committed results list no mutant to run again")
    fresh = not (directory / "mutants").exists()
    scratch_copy(directory)
    configure(directory, module, CORE_MODULES[module])
    with shared_emulator() as endpoint:
        subprocess.run(
            [*_MUTMUT, "run", "--max-children", str(max_children), *retry],
            cwd=directory,
            env={**_ENVIRONMENT, _SHARED_EMULATOR_ENV: endpoint},
            check=False,
        )
    seconds = float(previous.get("seconds", 0.0)) + time.perf_counter() - started
    score = collect(directory, module, round(seconds, 1))
    return keep_unchecked(score, previous, retry) if fresh else score


def keep_unchecked(score: ModuleScore, previous: dict[str, Any], retried: list[str]) -> ModuleScore:
    """A rerun in a fresh directory checks only ``retried``: every other mutant keeps its
    committed result (killed, timed out, equivalent) instead of counting as ``not checked``."""
    equivalent: dict[str, str] = dict(previous.get("equivalent", {}))
    for name in [*previous.get("survived", []), *previous.get("not_covered", [])]:
        if name not in retried:
            equivalent[name] = EQUIVALENT[name]
    kept = int(previous.get("killed", 0)) + int(previous.get("timed_out", 0)) + len(equivalent)
    score.killed += int(previous.get("killed", 0))
    score.timed_out += int(previous.get("timed_out", 0))
    for name, why in equivalent.items():
        score.equivalent[name] = EQUIVALENT.get(name, why)
        score.diffs.setdefault(name, previous.get("diffs", {}).get(name, ""))
    unchecked = score.other.pop("not checked", 0) - kept
    if unchecked:
        # A retried mutant mutmut did not run (its clean test run failed, or it was cut
        # short), or mutants the committed results do not know (the module changed since).
        raise SystemExit(
            f"{score.module}: {unchecked:+d} mutants not checked beyond those the committed "
            "results account for; run the whole module instead"
        )
    return score


def collect(copy: Path, module: str, seconds: float) -> ModuleScore:
    """The score of the mutmut run in ``copy`` (finished or not: mutants it has not run yet
    count as ``not checked`` under ``other``)."""
    score = ModuleScore(module, CORE_MODULES[module], seconds=seconds)
    listing = subprocess.run(
        [*_MUTMUT, "results", "--all", "true"],
        cwd=copy,
        env=_ENVIRONMENT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in listing.splitlines():
        match = _RESULT_LINE.match(line)
        if not match:
            continue
        name, status = match.groups()
        if status == "killed":
            score.killed += 1
            continue
        if status == "timeout":
            score.timed_out += 1
            continue
        if status == "not checked":
            score.other[status] = score.other.get(status, 0) + 1
            continue
        if name in EQUIVALENT and status in {"survived", "no tests"}:
            score.equivalent[name] = EQUIVALENT[name]
        elif status == "survived":
            score.survived.append(name)
        elif status == "no tests":
            score.not_covered.append(name)
        else:
            score.other[status] = score.other.get(status, 0) + 1
        shown = subprocess.run(
            [*_MUTMUT, "show", name],
            cwd=copy,
            env=_ENVIRONMENT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        score.diffs[name] = _changed_lines(shown)
    return score


def _result(s: ModuleScore, machine: str) -> dict[str, Any]:
    return {
        **asdict(s),
        "detected": s.detected,
        "score": s.score,
        "meets_goal": (s.score or 0) >= GOAL,
        "machine": machine,
        "run_on": time.strftime("%Y-%m-%d", time.gmtime()),
    }


def _previous_results() -> dict[str, dict[str, Any]]:
    """The committed per-module results, so a run of some modules keeps the others'."""
    try:
        document = json.loads((RESULTS / "mutation.json").read_text())
    except (OSError, ValueError):
        return {}
    modules = document.get("modules", {})
    # Only results in this format (with a `detected` count) are kept.
    return {m: r for m, r in modules.items() if m in CORE_MODULES and "detected" in r}


def _apply_equivalent(entry: dict[str, Any]) -> dict[str, Any]:
    """Moves the survivors EQUIVALENT names (judged after the run) out of the score."""
    for key in ("survived", "not_covered"):
        for name in [n for n in entry[key] if n in EQUIVALENT]:
            entry[key].remove(name)
            entry["equivalent"][name] = EQUIVALENT[name]
    counted = entry["detected"] + len(entry["survived"]) + len(entry["not_covered"])
    entry["score"] = entry["detected"] / counted if counted else None
    entry["meets_goal"] = (entry["score"] or 0) >= GOAL
    return entry


def _diff_block(entry: dict[str, Any], name: str) -> str:
    return f"```diff\n{entry['diffs'].get(name, '')}\n```"


def write_results(scores: list[ModuleScore], scope: str, machine: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    merged = _previous_results()
    merged.update({s.module: _result(s, machine) for s in scores})
    entries = {m: _apply_equivalent(merged[m]) for m in CORE_MODULES if m in merged}
    not_run = [m for m in CORE_MODULES if m not in entries]
    payload = {
        "command": "make mutation",
        "last_scope": scope,
        "goal": GOAL,
        "modules": entries,
        "not_run": not_run,
    }
    (RESULTS / "mutation.json").write_text(json.dumps(payload, indent=2) + "\n")
    rows = [
        "| module | mutants | killed | timed out | survived | not covered | equivalent | score "
        "| goal met | seconds | machine, date |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for module, e in entries.items():
        shown = "n/a" if e["score"] is None else f"{e['score']:.1%}"
        total = (
            e["detected"]
            + len(e["survived"])
            + len(e["not_covered"])
            + len(e["equivalent"])
            + sum(e["other"].values())
        )
        rows.append(
            f"| {module} | {total} | {e['killed']} | {e['timed_out']} | {len(e['survived'])} | "
            f"{len(e['not_covered'])} | {len(e['equivalent'])} | {shown} | "
            f"{'yes' if e['meets_goal'] else 'no'} | {e['seconds']} | "
            f"{e['machine']}, {e['run_on']} |"
        )

    def listed(key: str) -> list[str]:
        def why(name: str) -> str:
            return f": left alive: {LEFT_ALIVE[name]}" if name in LEFT_ALIVE else ":"

        return [
            f"- `{name}` ({module}){why(name)}\n\n{_diff_block(e, name)}"
            for module, e in entries.items()
            for name in e[key]
        ]

    equivalent = [
        f"- `{name}` ({module}): {why}\n\n{_diff_block(e, name)}"
        for module, e in entries.items()
        for name, why in e["equivalent"].items()
    ]
    text = "\n".join(
        [
            "# Mutation testing (mutmut)",
            "",
            f"`make mutation` (last run: {scope}). Not run yet: {', '.join(not_run) or 'none'}.",
            "",
            "Score = (killed + timed out) / (killed + timed out + survived + not covered). "
            "Equivalent mutants",
            "(no test can tell them from the original; each with its reason) are not counted.",
            "",
            *rows,
            "",
            "## Survivors",
            *(listed("survived") or ["none"]),
            "",
            "## Not covered (no selected test runs the mutated code)",
            *(listed("not_covered") or ["none"]),
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
    parser.add_argument(
        "--machine",
        default=platform.node() or "unknown",
        help="the machine the run is on, as the results name it",
    )
    parser.add_argument(
        "--collect",
        type=Path,
        metavar="DIR",
        help="run nothing: score the (possibly interrupted) mutmut run of MODULE in DIR",
    )
    parser.add_argument(
        "--rerun-not-killed",
        type=Path,
        metavar="DIR",
        help="run again, in DIR (a --keep directory or a fresh one), only the mutants of MODULE "
        "the committed results list as not killed, against the tests as they are now",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: rewrite the results from the committed JSON (after EQUIVALENT changed)",
    )
    parser.add_argument(
        "--keep", type=Path, help="copy each module's mutmut directory here (to inspect mutants)"
    )
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
    if args.collect is not None:
        if len(args.modules) != 1:
            parser.error("--collect DIR takes the one module that DIR's run mutated")
        [module] = args.modules
        partial = collect(args.collect, module, seconds=0.0)
        write_results([partial], f"{module} (collected from an interrupted run)", args.machine)
        return 0
    if args.rerun_not_killed is not None:
        if len(args.modules) != 1:
            parser.error("--rerun-not-killed DIR takes the one module that DIR's run mutated")
        [module] = args.modules
        score = rerun_not_killed(args.rerun_not_killed, module, args.max_children)
        write_results(
            [score], f"{module} (its mutants not killed, run again with new tests)", args.machine
        )
        return 0 if (score.score or 0) >= GOAL else 1
    if args.render_only:
        previous = json.loads((RESULTS / "mutation.json").read_text())
        write_results([], previous.get("last_scope", "unknown"), args.machine)
        return 0
    scores: list[ModuleScore] = []
    for module in modules:
        scores.append(run_module(module, args.max_children, args.keep))
        # After each module, so an interrupted run keeps what it measured.
        write_results(scores, scope, args.machine)
    return 0 if all((s.score or 0) >= GOAL for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
