"""The ``sdfleet`` command: ``up``, ``token``, ``submit``, ``status``, ``logs``, ``simulate``,
``models publish``, ``dlq show`` / ``dlq redrive``.

``submit``, ``status``, ``token``, ``models``, ``dlq`` and ``logs`` talk to the local stack through
``.sdfleet/local.json`` (``--state-dir`` or ``SDFLEET_LOCAL_STATE_DIR`` move it); with ``--aws``
they use the regular settings instead (``SDFLEET_*`` environment, then SSM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Final

from sdfleet import env
from sdfleet.errors import ConfigurationError, SdfleetError
from sdfleet.records import JobStatus
from sdfleet_cli.starts import DEFAULT_MAX_RECORDS

if TYPE_CHECKING:
    from rich.console import Console

    from sdfleet.records import JobRecord
    from sdfleet_cli.local.client_config import ClientConfig
    from sdfleet_cli.local.event_follow import JobOutcome
    from sdfleet_cli.local.state import StateDir
    from sdfleet_cli.local.submit import SubmittedJob

EXIT_OK: Final = 0
#: A job failed or was cancelled, or a line of the input was rejected.
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
#: ``submit --wait`` gave up before every job finished.
EXIT_TIMEOUT: Final = 3
DEFAULT_WAIT_TIMEOUT_SECONDS: Final = 3600.0
#: ``starts --since-days``' ceiling: the longest a start record is kept.
MAX_SINCE_DAYS: Final = 3650
REPO_ROOT: Final = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _state_dir(args: argparse.Namespace) -> StateDir:
    from sdfleet_cli.local.state import StateDir

    return StateDir.from_env(args.state_dir)


def _client_config(args: argparse.Namespace) -> ClientConfig:
    from sdfleet_cli.local.client_config import load_client_config

    return load_client_config(_state_dir(args), use_aws=getattr(args, "aws", False))


def _clients(config: ClientConfig) -> Any:
    from sdfleet.aws import AwsClients

    if config.endpoint_url:
        # The emulator accepts any credentials; never send real ones to it.
        from sdfleet_cli.local.terraform import EMULATOR_CREDENTIALS

        for name, value in EMULATOR_CREDENTIALS.items():
            os.environ.setdefault(name, value)
    return AwsClients(config.endpoint_url, config.region)


# -- up ----------------------------------------------------------------------------------------
def _configure_up_logging(log_path: Path) -> IO[str]:
    """Everything the in-process Lambdas and the stack log goes to ``up.log``; the console
    gets only the progress lines, the URLs and the fleet's size."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handle = log_path.open("a", buffering=1)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(handle)],
        force=True,
    )
    # Powertools loggers write to sys.stdout when they are created (the Lambdas import later).
    sys.stdout = handle
    return handle


def cmd_up(args: argparse.Namespace) -> int:
    from sdfleet_cli.local.stack import LocalStack, UpOptions

    console = _console()
    paths = _state_dir(args)
    paths.prepare()
    real_stdout = sys.stdout
    log = _configure_up_logging(paths.logs_dir / "up.log")
    console.file = real_stdout
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set() and stack.state is None:
            # Still starting: abort the start-up (up() stops what it started).
            stop.set()
            raise KeyboardInterrupt
        stop.set()

    options = UpOptions(
        state_dir=paths,
        repo_root=REPO_ROOT,
        emulator_port=args.emulator_port,
        api_port=args.api_port,
        frontend_port=args.frontend_port,
        tenant=args.tenant,
        scaler_interval=args.scaler_interval,
        terraform_dir=Path(args.terraform_dir) if args.terraform_dir else None,
    )
    for name, value in (
        (env.SCALER_MAX_CAPACITY, args.max_workers),
        (env.SCALER_IDLE_SECONDS_BEFORE_SCALE_IN, args.idle_seconds),
        (env.SCALER_QUIET_SECONDS_BEFORE_ZERO, args.quiet_seconds),
    ):
        if value is not None:
            options.scaler_settings[name] = str(value)
    stack = LocalStack(options, say=lambda line: console.print(line))
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    console.print(f"sdfleet up: state in {paths.root}, logs in {paths.logs_dir}")
    try:
        state = stack.up()
    except KeyboardInterrupt:
        console.print("interrupted; stopped")
        log.close()
        return EXIT_FAILED
    except (SdfleetError, OSError) as exc:
        console.print(f"[red]sdfleet up failed:[/red] {exc}")
        log.close()
        return EXIT_FAILED
    console.print(f"  API:          {state.api_url}")
    if state.frontend_url:
        console.print(f"  web app:      {state.frontend_url}")
    console.print(f"  AWS endpoint: {state.aws_endpoint_url}")
    console.print(f"  state:        {paths.state_file}")
    console.print(f"ready in {stack.timings['total']:.1f}s (Ctrl-C stops everything)")
    shown = -1
    while True:
        if stack.fleet is not None:
            count = len(stack.fleet.running_workers())
            if count != shown:
                console.print(f"workers: {count}")
                shown = count
        if stop.wait(1.0):
            break
    console.print("stopping...")
    stack.down()
    console.print("stopped")
    log.close()
    return EXIT_OK


# -- token -------------------------------------------------------------------------------------
def cmd_token(args: argparse.Namespace) -> int:
    from sdfleet_cli.local.cognito import LocalUsers

    state = _state_dir(args).read()
    config = _client_config(args)
    users = LocalUsers(
        _clients(config).cognito_idp(), state.user_pool_id, state.user_pool_client_id
    )
    tokens = users.token_for(args.user)
    print(tokens.access_token if args.access else tokens.id_token)
    return EXIT_OK


# -- submit ------------------------------------------------------------------------------------
def _summary(
    console: Console,
    jobs: list[SubmittedJob],
    records: Mapping[str, JobRecord | JobOutcome],
    downloaded: dict[str, list[Path]],
) -> int:
    """Prints one row per job; returns how many did not succeed."""
    from rich.table import Table

    table = Table(title="jobs")
    for column in ("line", "job", "status", "seconds", "outputs / error"):
        table.add_column(column)
    unsuccessful = 0
    for job in jobs:
        record = records.get(job.job_id)
        status = record.status.value if record else "not started"
        if record is None or record.status is not JobStatus.SUCCEEDED:
            unsuccessful += 1
        if record is not None and record.error is not None:
            detail = f"{record.error.code}: {record.error.message}"
        elif job.job_id in downloaded:
            detail = ", ".join(str(path) for path in downloaded[job.job_id])
        else:
            detail = f"{len(record.outputs)} image(s)" if record else ""
        seconds = f"{record.total_seconds:.1f}" if record and record.total_seconds else ""
        table.add_row(str(job.line), job.job_id, status, seconds, detail)
    console.print(table)
    return unsuccessful


def cmd_submit(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sdfleet.messages import Lane
    from sdfleet_cli.local.event_follow import EventFollower
    from sdfleet_cli.local.submit import BatchSender, parse_lines
    from sdfleet_cli.local.waiting import JobWatcher, download_outputs

    console = _console()
    errors = _console(stderr=True)
    if args.events_queue_url and not args.wait:
        errors.print("--events-queue-url follows the jobs while waiting: add --wait")
        return EXIT_USAGE
    if args.events_quiet_seconds <= 0:
        errors.print(f"--events-quiet-seconds: must be > 0 (got {args.events_quiet_seconds})")
        return EXIT_USAGE
    path = Path(args.file)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        errors.print(f"cannot read {path}: {exc}")
        return EXIT_USAGE
    parsed, problems = parse_lines(lines, Lane(args.lane), source=path.name)
    config = _client_config(args)
    clients = _clients(config)
    submitted, refused = BatchSender(clients.sqs(), config.queue_url(args.lane)).send(parsed)
    problems.extend(refused)
    for problem in sorted(problems, key=lambda p: p.line):
        errors.print(f"{path}: {problem}")
    noted = f", {len(problems)} line(s) rejected" if problems else ""
    console.print(f"submitted {len(submitted)} job(s) to the {args.lane} lane{noted}")
    if not args.wait:
        for job in submitted:
            console.print(f"line {job.line}: {job.job_id}")
    if not args.wait or not submitted:
        return EXIT_FAILED if problems else EXIT_OK
    watcher = JobWatcher(clients.dynamodb(), config.jobs_table)
    job_ids = [job.job_id for job in submitted]
    if args.events_queue_url:
        console.print(f"following the jobs' events on {args.events_queue_url}")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("jobs", total=len(job_ids), detail="")

        def update(statuses: Mapping[str, JobStatus]) -> None:
            done = sum(1 for status in statuses.values() if status.is_terminal)
            running = sum(1 for status in statuses.values() if status is JobStatus.RUNNING)
            waiting = len(job_ids) - len(statuses)
            progress.update(
                task, completed=done, detail=f"running {running}, not started {waiting}"
            )

        if args.events_queue_url:
            follower = EventFollower(
                clients.sqs(),
                args.events_queue_url,
                watcher,
                quiet_seconds=args.events_quiet_seconds,
            )
            followed = follower.wait(
                job_ids,
                args.timeout,
                on_update=update,
                on_fallback=lambda reason: progress.console.print(
                    f"no events for a while ({reason}); polling the job table instead"
                ),
            )
            records: Mapping[str, JobRecord | JobOutcome] = followed.outcomes
            if followed.fell_back is None:
                console.print(f"{followed.consumed} event(s) of these jobs taken from the queue")
        else:
            records = watcher.wait(
                job_ids,
                args.timeout,
                on_update=lambda found: update({k: r.status for k, r in found.items()}),
            )
    downloaded: dict[str, list[Path]] = {}
    if args.out:
        for job_id, record in records.items():
            if record.status is JobStatus.SUCCEEDED:
                downloaded[job_id] = download_outputs(
                    clients.s3(), config.bucket, record, Path(args.out)
                )
    unsuccessful = _summary(console, submitted, records, downloaded)
    where = f"; outputs in {args.out}" if args.out else ""
    console.print(f"{len(submitted) - unsuccessful} succeeded, {unsuccessful} did not{where}")
    if not all(job_id in records and records[job_id].status.is_terminal for job_id in job_ids):
        return EXIT_TIMEOUT
    return EXIT_FAILED if unsuccessful or problems else EXIT_OK


# -- status ------------------------------------------------------------------------------------
def _ago(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return f"{(datetime.now(UTC) - moment).total_seconds():.0f}s ago"


def cmd_status(args: argparse.Namespace) -> int:
    from rich.table import Table

    from sdfleet.errors import JobNotFound
    from sdfleet.store import JobStore
    from sdfleet_cli.local.fleet_status import fleet_status

    console = _console()
    config = _client_config(args)
    clients = _clients(config)
    if args.job_id:
        store = JobStore(clients.dynamodb(), config.jobs_table)
        try:
            record = store.get(args.job_id)
        except JobNotFound:
            _console(stderr=True).print(f"job {args.job_id!r} not found")
            return EXIT_FAILED
        ahead = store.count_queued_ahead(record)
        if args.json:
            print(json.dumps({**record.model_dump(mode="json"), "queued_ahead": ahead}))
            return EXIT_OK
        table = Table(show_header=False, title=f"job {record.job_id}")
        rows = {
            "status": record.status.value,
            "owner": record.owner,
            "kind / lane": f"{record.kind.value} / {record.lane.value}",
            "prompt": getattr(record.params, "prompt", None)
            or getattr(record.params, "instance_prompt", ""),
            "queued ahead": str(ahead) if record.status is JobStatus.QUEUED else "",
            "progress": (
                f"{record.progress_step}/{record.progress_total}" if record.progress_total else ""
            ),
            "worker": record.worker_id or "",
            "created": _ago(record.created_at),
            "seconds (wait / model / total)": " / ".join(
                f"{value:.1f}" if value is not None else "-"
                for value in (record.queue_wait_seconds, record.model_seconds, record.total_seconds)
            ),
            "outputs": "\n".join(f"s3://{config.bucket}/{key}" for key in record.outputs),
            "error": f"{record.error.code}: {record.error.message}" if record.error else "",
        }
        for name, value in rows.items():
            if value:
                table.add_row(name, value)
        console.print(table)
        return EXIT_OK
    status = fleet_status(clients, config, args.owner or config.tenant)
    if args.json:
        print(json.dumps(status.to_json()))
        return EXIT_OK
    lanes = Table(title="lanes")
    for column in ("lane", "waiting", "in flight", "dead-lettered"):
        lanes.add_column(column)
    for lane in status.lanes:
        dead = "" if lane.dead_lettered is None else str(lane.dead_lettered)
        lanes.add_row(lane.lane, str(lane.visible), str(lane.in_flight), dead)
    console.print(lanes)
    console.print(
        f"desired capacity: {status.desired_capacity}; instances: "
        + (", ".join(status.instances) or "none")
    )
    workers = Table(title="workers")
    for column in ("worker", "state", "job", "done", "s/job", "updated"):
        workers.add_column(column)
    for beat in status.workers:
        pace = beat.seconds_per_job
        workers.add_row(
            beat.worker_id,
            beat.state.value,
            beat.current_job or "",
            str(beat.jobs_done),
            f"{pace:.1f}" if pace is not None else "",
            _ago(beat.updated_at),
        )
    console.print(workers)
    if status.recent_jobs:
        jobs = Table(title=f"recent jobs of {args.owner or config.tenant}")
        for column in ("job", "kind", "status", "created", "outputs / error"):
            jobs.add_column(column)
        for record in status.recent_jobs:
            detail = record.error.code if record.error else str(len(record.outputs))
            jobs.add_row(
                record.job_id,
                record.kind.value,
                record.status.value,
                _ago(record.created_at),
                detail,
            )
        console.print(jobs)
    return EXIT_OK


# -- logs --------------------------------------------------------------------------------------
def cmd_logs(args: argparse.Namespace) -> int:
    from sdfleet_cli.local.logs import show_logs

    paths = _state_dir(args)
    logs_dir = paths.logs_dir
    if not logs_dir.is_dir():
        _console(stderr=True).print(f"no logs in {logs_dir}: has `sdfleet up` run here?")
        return EXIT_FAILED
    with contextlib.suppress(KeyboardInterrupt):
        show_logs(
            logs_dir,
            write=lambda line: print(line, flush=True),
            lines=args.lines,
            component=args.component,
            follow=args.follow,
        )
    return EXIT_OK


# -- models ------------------------------------------------------------------------------------
def cmd_models_publish(args: argparse.Namespace) -> int:
    from worker.errors import ModelLoadError
    from worker.model_source import publish

    folder = Path(args.folder)
    config = _client_config(args)
    uri = args.uri or f"s3://{config.bucket}/models/{folder.resolve().name}/"
    try:
        count = publish(_clients(config).s3(), folder, uri)
    except ModelLoadError as exc:
        _console(stderr=True).print(f"sdfleet models publish: {exc}")
        return EXIT_USAGE
    console = _console()
    console.print(f"uploaded {count} files (SHA-256 manifest last) to {uri}")
    console.print(f"set model_source = {uri!r} (tfvars) or SDFLEET_MODEL_SOURCE={uri}")
    return EXIT_OK


# -- dlq ---------------------------------------------------------------------------------------
def _dead_letter_queue(args: argparse.Namespace) -> Any:
    from sdfleet_cli.dlq import DeadLetterQueue

    config = _client_config(args)
    dlq_url = config.dlq_url(args.lane)
    if not dlq_url:
        raise ConfigurationError(f"no dead-letter queue URL configured for the {args.lane} lane")
    return DeadLetterQueue(_clients(config).sqs(), dlq_url, config.queue_url(args.lane), args.lane)


def cmd_dlq_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    letters = _dead_letter_queue(args).show(args.max)
    if args.json:
        print(json.dumps([{**vars(letter)} for letter in letters]))
        return EXIT_OK
    table = Table(title=f"{args.lane} DLQ: {len(letters)} message(s) shown (none moved)")
    for column in ("message", "sender", "receives", "sent", "reason", "body"):
        table.add_column(column)
    for letter in letters:
        sent = datetime.fromtimestamp(letter.sent_at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        reason = (
            f"{letter.error_code}: {letter.error}"
            if letter.error_code
            else f"failed {letter.receive_count - 1 or 'every'} deliveries"
        )
        sender = letter.sender_id
        if letter.original_sender_id:
            sender += f" (sent by {letter.original_sender_id})"
        table.add_row(
            letter.message_id, sender, str(letter.receive_count), sent, reason, letter.body_excerpt
        )
    _console().print(table)
    return EXIT_OK


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    moved = _dead_letter_queue(args).redrive(args.max)
    console = _console()
    for item in moved:
        console.print(f"{item.old_message_id} -> {item.new_message_id} (job {item.job_id})")
    console.print(f"redrove {len(moved)} message(s) to the {args.lane} lane")
    return EXIT_OK


# -- starts ------------------------------------------------------------------------------------
def cmd_starts(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from rich.table import Table

    from sdfleet.starts import (
        START_RECORDS_PREFIX,
        StartRecordStore,
        dump_samples,
        samples_document,
    )
    from sdfleet_cli.starts import collect, summarize

    if args.since_days is not None and not 1 <= args.since_days <= MAX_SINCE_DAYS:
        raise ConfigurationError(
            f"--since-days: must be 1..{MAX_SINCE_DAYS} (got {args.since_days})"
        )
    config = _client_config(args)
    store = StartRecordStore(_clients(config).s3(), config.bucket)
    where = f"s3://{config.bucket}/{START_RECORDS_PREFIX}"
    since = (
        datetime.now(UTC) - timedelta(days=args.since_days) if args.since_days is not None else None
    )
    collected = collect(
        store,
        since=since,
        image_id=args.image_id,
        instance_type=args.instance_type,
        max_records=args.max,
    )
    rows = summarize(collected.records)
    if args.json:
        print(json.dumps([{**vars(row), "path": row.path.value} for row in rows]))
    else:
        table = Table(title=f"worker starts, launch to ready ({where})")
        for column in (
            "path",
            "starts",
            "p10 s",
            "median s",
            "p90 s",
            "boot median s",
            "load median s",
        ):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row.path.value,
                str(row.starts),
                f"{row.launch_to_ready_p10:.0f}",
                f"{row.launch_to_ready_p50:.0f}",
                f"{row.launch_to_ready_p90:.0f}",
                f"{row.boot_p50:.0f}",
                f"{row.load_p50:.0f}",
            )
        console = _console()
        console.print(table)
        for count, why in (
            (collected.filtered, "left out by the filters"),
            (collected.impossible, "with a negative part (the instance's clock behind EC2's)"),
            (collected.unreadable, "unreadable (not a start record, or the GET failed)"),
        ):
            if count:
                console.print(f"{count} record(s) {why}")
        if collected.truncated:
            console.print(f"read the first {args.max} records only (--max)")
        if not rows:
            console.print(
                "no measured starts: workers record them on EC2 (a local stack's workers have "
                "no instance metadata), each once it may take jobs"
            )
    if args.out:
        source = f"{where} at {datetime.now(UTC):%Y-%m-%dT%H:%MZ}"
        args.out.write_text(dump_samples(samples_document(collected.records, source)))
        if not args.json:
            _console().print(f"samples: {args.out} (sdfleet simulate --start-samples {args.out})")
    return EXIT_OK if rows else EXIT_FAILED


# -- simulate ----------------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace) -> int:
    from autoscaler.cli import run_simulate

    return int(run_simulate(args) or 0)


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from sdfleet_cli.local import stack
    from sdfleet_cli.local.event_follow import DEFAULT_QUIET_SECONDS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        help=f"the local stack's directory (default ${env.LOCAL_STATE_DIR} or .sdfleet)",
    )
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument(
        "--aws",
        action="store_true",
        help="ignore local.json; use the SDFLEET_* environment / SSM settings (real AWS)",
    )
    parser = argparse.ArgumentParser(prog="sdfleet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", parents=[common], help="run the whole fleet locally")
    up.add_argument(
        "--emulator-port",
        type=int,
        default=_env_int(env.LOCAL_EMULATOR_PORT, stack.DEFAULT_EMULATOR_PORT),
    )
    up.add_argument(
        "--api-port", type=int, default=_env_int(env.LOCAL_API_PORT, stack.DEFAULT_API_PORT)
    )
    up.add_argument(
        "--frontend-port",
        type=int,
        default=_env_int(env.LOCAL_FRONTEND_PORT, stack.DEFAULT_FRONTEND_PORT),
    )
    up.add_argument(
        "--tenant",
        default=stack.DEFAULT_TENANT,
        help="owner of jobs sent straight to SQS (`sdfleet submit`)",
    )
    up.add_argument("--max-workers", type=int, help="most worker processes (default: local.tfvars)")
    up.add_argument(
        "--scaler-interval",
        type=float,
        default=stack.DEFAULT_SCALER_INTERVAL_SECONDS,
        help="seconds between scaler runs (EventBridge runs it every minute)",
    )
    up.add_argument(
        "--idle-seconds",
        type=float,
        help="idle time before a worker may be scaled in (default: local.tfvars)",
    )
    up.add_argument(
        "--quiet-seconds",
        type=float,
        help="time without work before the fleet goes to zero (default: local.tfvars)",
    )
    up.add_argument("--terraform-dir", help="the Terraform root (default: terraform/)")
    up.set_defaults(func=cmd_up)

    token = commands.add_parser("token", parents=[common], help="a bearer token for USER")
    token.add_argument("user")
    token.add_argument("--access", action="store_true", help="print the access token instead")
    token.set_defaults(func=cmd_token)

    submit = commands.add_parser(
        "submit", parents=[common, remote], help="send JSON Lines job requests to a lane"
    )
    submit.add_argument("file", help="one job request (JSON object with kind) per line")
    submit.add_argument("--lane", choices=["batch", "interactive"], default="batch")
    submit.add_argument("--wait", action="store_true", help="wait until every job is done")
    submit.add_argument("--out", help="download the outputs into this directory (with --wait)")
    submit.add_argument(
        "--timeout", type=float, default=DEFAULT_WAIT_TIMEOUT_SECONDS, help="seconds --wait waits"
    )
    submit.add_argument(
        "--events-queue-url",
        help="with --wait: follow the jobs through this SQS queue of their job events (fed by "
        "an EventBridge rule, terraform/examples/events-to-tenant-queue) instead of polling; "
        "their events are deleted from it, others left",
    )
    submit.add_argument(
        "--events-quiet-seconds",
        type=float,
        default=DEFAULT_QUIET_SECONDS,
        help="after this long without an event, check the job table; if a job finished "
        "without its event arriving, poll instead (default %(default)s)",
    )
    submit.set_defaults(func=cmd_submit)

    status = commands.add_parser(
        "status", parents=[common, remote], help="lanes, workers and jobs, or one job"
    )
    status.add_argument("job_id", nargs="?")
    status.add_argument("--owner", help="whose recent jobs to list (default: the local tenant)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    logs = commands.add_parser("logs", parents=[common], help="the local stack's logs")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=20)
    logs.add_argument("--component", help="emulator, up, terraform, model or worker")
    logs.set_defaults(func=cmd_logs)

    models = commands.add_parser("models", help="publish a model for the workers")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    publish = model_commands.add_parser(
        "publish",
        parents=[common, remote],
        help="upload a diffusers folder with its SHA-256 manifest (the only S3 layout "
        "workers load)",
    )
    publish.add_argument("folder", help="a diffusers save_pretrained folder (model_index.json)")
    publish.add_argument(
        "uri", nargs="?", help="s3://bucket/prefix/ (default: s3://<bucket>/models/<folder name>/)"
    )
    publish.set_defaults(func=cmd_models_publish)

    dlq = commands.add_parser("dlq", help="inspect a lane's dead letters, or redrive batch ones")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_show = dlq_commands.add_parser(
        "show", parents=[common, remote], help="list dead letters with their reasons (moves none)"
    )
    dlq_show.add_argument("--lane", choices=["batch", "interactive", "training"], default="batch")
    dlq_show.add_argument("--max", type=int, default=20, help="most messages shown (default 20)")
    dlq_show.add_argument("--json", action="store_true")
    dlq_show.set_defaults(func=cmd_dlq_show)
    dlq_redrive = dlq_commands.add_parser(
        "redrive",
        parents=[common, remote],
        help="send batch dead letters through the batch lane again, as the caller "
        "(run it with the submitter's role)",
    )
    dlq_redrive.add_argument(
        "--lane", choices=["batch", "interactive", "training"], default="batch"
    )
    dlq_redrive.add_argument("--max", type=int, default=100, help="most messages (default 100)")
    dlq_redrive.set_defaults(func=cmd_dlq_redrive)

    starts = commands.add_parser(
        "starts",
        parents=[common, remote],
        help="the workers' measured starts, launch to ready, per start path; --out writes "
        "the samples `simulate --start-samples` replays",
    )
    starts.add_argument(
        "--since-days", type=int, help="only starts launched this many days ago or later"
    )
    starts.add_argument("--image-id", help="only starts of this AMI (compare a baked AMI's)")
    starts.add_argument("--instance-type", help="only starts of this instance type")
    starts.add_argument(
        "--max",
        type=int,
        default=DEFAULT_MAX_RECORDS,
        help=f"most records read (default {DEFAULT_MAX_RECORDS})",
    )
    starts.add_argument("--out", type=Path, help="write the samples file here")
    starts.add_argument("--json", action="store_true", help="print the summary as JSON")
    starts.set_defaults(func=cmd_starts)

    simulate = commands.add_parser(
        "simulate", help="preview what scaler settings do to cost and wait time"
    )
    try:
        from autoscaler.cli import add_simulate_arguments
    except ImportError:
        simulate.set_defaults(func=lambda _args: _missing("autoscaler.cli"))
    else:
        add_simulate_arguments(simulate)
        simulate.set_defaults(func=cmd_simulate)
    return parser


def _missing(module: str) -> int:
    _console(stderr=True).print(f"{module} is not installed in this environment")
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SdfleetError as exc:
        _console(stderr=True).print(f"sdfleet {args.command}: {exc}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
