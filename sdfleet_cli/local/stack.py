"""``sdfleet up``: the whole fleet on one machine, in order, and a clean stop.

emulator -> Terraform apply of ``local.tfvars`` (the tiny model builds meanwhile) -> API
adapter -> scaler timer -> worker fleet -> web app (only if ``frontend/`` has a build) ->
``local.json`` + "ready". Stopping runs the same list backwards; every child process leads
its own process group, so nothing outlives ``up``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from sdfleet import env
from sdfleet.aws import AwsClients
from sdfleet_cli.local import snapshot
from sdfleet_cli.local.api_adapter import ApiAdapter, ApiServer
from sdfleet_cli.local.emulator import Emulator
from sdfleet_cli.local.emulator_limits import drop_conditional_denies
from sdfleet_cli.local.errors import LocalStackError, TerraformError
from sdfleet_cli.local.fleet import WorkerFleet
from sdfleet_cli.local.jwt_authorizer import JwtAuthorizer, cognito_issuer, emulator_jwks_url
from sdfleet_cli.local.processes import ChildProcess
from sdfleet_cli.local.recorded_apply import apply_recorded
from sdfleet_cli.local.scaler_timer import ScalerTimer
from sdfleet_cli.local.state import LocalState, StateDir
from sdfleet_cli.local.stream_poller import StreamPoller
from sdfleet_cli.local.terraform import EMULATOR_CREDENTIALS, LocalTerraform, find_provider_mirror
from sdfleet_cli.local.web_app import CONFIG_NAME, web_app_server, web_config, write_web_config

DEFAULT_EMULATOR_PORT: Final = 4566
DEFAULT_API_PORT: Final = 8787
DEFAULT_FRONTEND_PORT: Final = 8788
DEFAULT_TENANT: Final = "local"
DEFAULT_SCALER_INTERVAL_SECONDS: Final = 5.0
#: The local stack's DELETE /me settle time (the emulator has no index lag).
LOCAL_DELETION_SETTLE_SECONDS: Final = 1.0
#: Worker timings: short long-polls so a SIGTERM drains within seconds.
LOCAL_WORKER_SETTINGS: Final = {
    env.MODEL_SOURCE: "tiny",
    env.WAIT_TIME_SECONDS: "2",
    env.HEARTBEAT_SECONDS: "5",
    env.VISIBILITY_TIMEOUT_SECONDS: "60",
    env.LEASE_SECONDS: "60",
    env.METADATA_POLL_SECONDS: "5",
    env.DEVICE: "cpu",
    # Several workers share a laptop's cores: one thread each avoids oversubscription.
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
#: The root configuration's outputs the local stack reads (terraform/outputs.tf).
OUTPUT_NAMES: Final = (
    "region",
    "interactive_queue_url",
    "batch_queue_url",
    "interactive_dlq_url",
    "batch_dlq_url",
    "training_queue_url",
    "training_dlq_url",
    "bucket",
    "jobs_table",
    "workers_table",
    "idempotency_table",
    "user_pool_id",
    "user_pool_client_id",
    "asg_name",
    "lifecycle_hook_name",
    "ssm_path",
    "event_bus_name",
    "webhook_retry_queue_url",
    "webhook_dlq_url",
)
OPTIONAL_OUTPUTS: Final = frozenset(
    {
        "interactive_dlq_url",
        "batch_dlq_url",
        "training_queue_url",
        "training_dlq_url",
        "idempotency_table",
        "lifecycle_hook_name",
        "ssm_path",
        "event_bus_name",
        "webhook_retry_queue_url",
        "webhook_dlq_url",
    }
)
#: The zips `make lambda-zips` builds -> the Terraform variables naming them.
LAMBDA_ZIPS: Final = {
    "ingest.zip": "ingest_zip_path",
    "autoscaler.zip": "scaler_zip_path",
    "notifier.zip": "notifier_zip_path",
}
FRONTEND_BUILD_DIRS: Final = ("dist", "build", "out")
MODEL_BUILD_TIMEOUT_SECONDS: Final = 600
LAMBDA_ZIPS_TIMEOUT_SECONDS: Final = 600

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def environment_output(raw: Mapping[str, Any], name: str) -> dict[str, str]:
    """A map output (``scaler_environment``, ``worker_environment``) as strings, or {}."""
    value = raw.get(name)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def read_outputs(raw: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in OUTPUT_NAMES:
        value = raw.get(name)
        if value in (None, ""):
            if name in OPTIONAL_OUTPUTS:
                continue
            raise TerraformError(
                f"terraform output {name!r} is missing (have: {', '.join(sorted(raw))})"
            )
        values[name] = str(value)
    return values


def frontend_build(repo_root: Path) -> Path | None:
    """The built web app (``frontend/{dist,build,out}/index.html``), or None."""
    for name in FRONTEND_BUILD_DIRS:
        candidate = repo_root / "frontend" / name
        if (candidate / "index.html").is_file():
            return candidate
    return None


@dataclass
class UpOptions:
    state_dir: StateDir
    repo_root: Path
    emulator_port: int = DEFAULT_EMULATOR_PORT
    api_port: int = DEFAULT_API_PORT
    frontend_port: int = DEFAULT_FRONTEND_PORT
    tenant: str = DEFAULT_TENANT
    scaler_interval: float = DEFAULT_SCALER_INTERVAL_SECONDS
    #: Scaler settings over local.tfvars' (e.g. ``--quiet-seconds``).
    scaler_settings: dict[str, str] = field(default_factory=dict)
    #: The Terraform root (default: ``terraform/`` of the repository).
    terraform_dir: Path | None = None


class LocalStack:
    def __init__(self, options: UpOptions, say: Callable[[str], None] = print) -> None:
        self.options = options
        self.paths = options.state_dir
        self.say = say
        self.emulator: Emulator | None = None
        self.api: ApiServer | None = None
        self.frontend: ThreadingHTTPServer | None = None
        self.scaler: ScalerTimer | None = None
        self.notifier: StreamPoller | None = None
        self.fleet: WorkerFleet | None = None
        self.state: LocalState | None = None
        self.timings: dict[str, float] = {}
        self._recording = self.paths.terraform_dir / "recording.jsonl"
        self.raw_outputs: dict[str, Any] = {}
        #: Children that only run during start-up (model build, Lambda zips).
        self._setup_children: list[ChildProcess] = []
        self._model_build: ChildProcess | None = None

    # -- steps -----------------------------------------------------------------------------
    def _step(self, name: str, started: float) -> None:
        self.timings[name] = time.monotonic() - started
        self.say(f"  {name}: {self.timings[name]:.1f}s")

    def _start_model_build(self) -> ChildProcess:
        """Builds the tiny model in a child while Terraform applies (a no-op once cached).
        Started once the Lambda zips are built: on two cores, the zips, the emulator's and
        the plan's start-up are on the critical path and the model (a minute spare) is not."""
        if self._model_build is not None:
            return self._model_build
        code = (
            "import sys; from worker.tiny_model import ensure_tiny_model; "
            "print(ensure_tiny_model(sys.argv[1]))"
        )
        child = ChildProcess(
            "model",
            [sys.executable, "-c", code, str(self.paths.models_dir.resolve())],
            self.paths.logs_dir / "model.log",
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        child.start()
        self._model_build = child
        self._setup_children.append(child)
        return child

    def _start_lambda_zips(self) -> ChildProcess | None:
        """Builds missing Lambda zips in a child while the emulator starts and Terraform
        initialises (only the apply needs them)."""
        zips = self.options.repo_root / "build" / "lambda"
        if all((zips / name).is_file() for name in LAMBDA_ZIPS):
            return None
        self.say("  building the Lambda zips (make lambda-zips)")
        child = ChildProcess(
            "lambda-zips",
            ["make", "-s", "lambda-zips"],
            self.paths.logs_dir / "lambda-zips.log",
            cwd=self.options.repo_root,
        )
        child.start()
        return child

    def _wait_for_lambda_zips(self, child: ChildProcess | None) -> None:
        if child is None:
            return
        status = child.wait(LAMBDA_ZIPS_TIMEOUT_SECONDS)
        child.stop(grace_seconds=2)
        if status != 0:
            raise LocalStackError(
                f"`make lambda-zips` failed (status {status}); see {child.log_path}"
            )

    def _frozen_zips(self) -> dict[str, str]:
        """Copies of the Lambda zips for this apply: a rebuild of ``build/lambda`` while
        Terraform runs would otherwise change a hash between plan and apply."""
        frozen = self.paths.terraform_dir / "lambda"
        frozen.mkdir(parents=True, exist_ok=True)
        variables = {}
        for name, variable in LAMBDA_ZIPS.items():
            source = self.options.repo_root / "build" / "lambda" / name
            target = frozen / name
            shutil.copyfile(source, target)
            variables[variable] = str(target.resolve())
        return variables

    def _apply(self, endpoint_url: str, zips: ChildProcess | None) -> dict[str, str]:
        """Replays the last apply when the configuration is unchanged, else applies."""
        source = self.options.terraform_dir or self.options.repo_root / "terraform"
        # The Lambda zips are left out: locally the handlers run from source in this process,
        # so a rebuilt zip must not cost a full apply.
        web_origins = json.dumps(self._web_origins())
        fingerprint = snapshot.config_fingerprint(
            source, {"endpoint": endpoint_url, "web_origins": web_origins}
        )
        record = self.paths.terraform_dir / "last-apply.json"
        with (self.paths.logs_dir / "terraform.log").open("a") as log:
            terraform = LocalTerraform(
                source, self.paths.terraform_dir, find_provider_mirror(), log=log
            )
            unchanged = (
                self._recording.exists()
                and terraform.state_path.exists()
                and record.exists()
                and json.loads(record.read_text()).get("fingerprint") == fingerprint
            )
            if unchanged:
                self._start_model_build()
                outputs = self._replay(terraform, endpoint_url)
                if outputs is not None:
                    self._wait_for_lambda_zips(zips)
                    return outputs
            record.unlink(missing_ok=True)
            terraform.init()
            self._wait_for_lambda_zips(zips)
            self._start_model_build()
            apply_recorded(
                terraform, endpoint_url, {**self._frozen_zips(), "web_origins": web_origins}
            )
            self.raw_outputs = terraform.outputs()
            outputs = read_outputs(self.raw_outputs)
        record.write_text(json.dumps({"fingerprint": fingerprint}))
        return outputs

    def _replay(self, terraform: LocalTerraform, endpoint_url: str) -> dict[str, str] | None:
        snapshot.seed(endpoint_url)
        count = snapshot.replay(self._recording, endpoint_url)
        try:
            raw = terraform.outputs()
            outputs = read_outputs(raw)
            self._verify(outputs, endpoint_url)
            self.raw_outputs = raw
        except (TerraformError, ClientError, BotoCoreError) as exc:
            logger.warning("replayed apply does not match its state (%s): applying", exc)
            snapshot.reset(endpoint_url)
            return None
        self.say(f"  replayed the last apply ({count} requests; configuration unchanged)")
        return outputs

    def _verify(self, outputs: Mapping[str, str], endpoint_url: str) -> None:
        """Raises ClientError unless every resource the stack uses exists as recorded."""
        clients = AwsClients(endpoint_url, outputs["region"])
        clients.cognito_idp().describe_user_pool_client(
            UserPoolId=outputs["user_pool_id"], ClientId=outputs["user_pool_client_id"]
        )
        for name in ("interactive_queue_url", "batch_queue_url"):
            clients.sqs().get_queue_attributes(QueueUrl=outputs[name], AttributeNames=["All"])
        for name in ("jobs_table", "workers_table"):
            clients.dynamodb().describe_table(TableName=outputs[name])
        clients.s3().head_bucket(Bucket=outputs["bucket"])
        groups = clients.autoscaling().describe_auto_scaling_groups(
            AutoScalingGroupNames=[outputs["asg_name"]]
        )["AutoScalingGroups"]
        if not groups:
            raise TerraformError(f"Auto Scaling group {outputs['asg_name']!r} is missing")

    def _fleet_env(self, endpoint_url: str, outputs: Mapping[str, str]) -> dict[str, str]:
        """What the Lambdas and workers get from Terraform in AWS, pointed at the emulator."""
        from moto.sqs.models import DEFAULT_SENDER_ID

        fleet = {
            env.AWS_ENDPOINT_URL: endpoint_url,
            env.AWS_REGION: outputs["region"],
            env.JOBS_TABLE: outputs["jobs_table"],
            env.WORKERS_TABLE: outputs["workers_table"],
            env.BUCKET: outputs["bucket"],
            env.INTERACTIVE_QUEUE_URL: outputs["interactive_queue_url"],
            env.BATCH_QUEUE_URL: outputs["batch_queue_url"],
            env.ASG_NAME: outputs["asg_name"],
            # moto gives every message this one SenderId: it is both the ingest API's and
            # the local batch tenant's (the lane tells them apart).
            env.SENDER_TENANTS: json.dumps({DEFAULT_SENDER_ID: self.options.tenant}),
            env.INGEST_SENDER_ID: DEFAULT_SENDER_ID,
            # The emulator's indexes are consistent at once: a DELETE /me purge need not wait
            # out DynamoDB's index lag (LOCAL_DELETION_SETTLE_SECONDS instead of the default).
            env.DELETION_SETTLE_SECONDS: str(LOCAL_DELETION_SETTLE_SECONDS),
            # Local receivers are plain http; loopback ones stay refused unless the user sets
            # SDFLEET_WEBHOOK_ALLOW_LOOPBACK=true themselves.
            env.WEBHOOK_ALLOW_HTTP: "true",
            "AWS_REGION": outputs["region"],
            "AWS_DEFAULT_REGION": outputs["region"],
            **EMULATOR_CREDENTIALS,
        }
        for name, key in (
            (env.INTERACTIVE_DLQ_URL, "interactive_dlq_url"),
            (env.BATCH_DLQ_URL, "batch_dlq_url"),
            (env.TRAINING_QUEUE_URL, "training_queue_url"),
            (env.TRAINING_DLQ_URL, "training_dlq_url"),
            (env.IDEMPOTENCY_TABLE, "idempotency_table"),
            (env.LIFECYCLE_HOOK_NAME, "lifecycle_hook_name"),
            (env.EVENT_BUS_NAME, "event_bus_name"),
            (env.WEBHOOK_RETRY_QUEUE_URL, "webhook_retry_queue_url"),
            (env.WEBHOOK_DLQ_URL, "webhook_dlq_url"),
        ):
            if key in outputs:
                fleet[name] = outputs[key]
        return fleet

    def _start_api(self, outputs: Mapping[str, str], endpoint_url: str) -> ApiServer:
        authorizer = JwtAuthorizer(
            emulator_jwks_url(endpoint_url, outputs["user_pool_id"]),
            cognito_issuer(outputs["region"], outputs["user_pool_id"]),
            [outputs["user_pool_client_id"]],
        )

        def ingest_handler() -> Callable[[dict[str, Any], Any], Any]:
            from ingest_lambda.handler import lambda_handler

            return lambda_handler  # type: ignore[no-any-return]

        adapter = ApiAdapter(ingest_handler, authorizer)
        ingest_handler()  # import now: a broken handler fails `up`, not the first request
        server = ApiServer(adapter, port=self.options.api_port)
        server.start()
        return server

    def _web_origins(self) -> list[str]:
        """The web app's origins, which the bucket's CORS rules must allow (presigned POST)."""
        port = self.options.frontend_port
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]

    def _start_frontend(
        self, outputs: Mapping[str, str], endpoint_url: str, api_url: str
    ) -> str | None:
        build = frontend_build(self.options.repo_root)
        if build is None:
            return None
        config = write_web_config(
            self.paths.root / CONFIG_NAME,
            web_config(
                api_url=api_url,
                region=outputs["region"],
                user_pool_id=outputs["user_pool_id"],
                client_id=outputs["user_pool_client_id"],
                cognito_endpoint=endpoint_url,
            ),
        )
        self.frontend = web_app_server(build, config, self.options.frontend_port)
        threading.Thread(target=self.frontend.serve_forever, name="frontend", daemon=True).start()
        return f"http://127.0.0.1:{self.options.frontend_port}"

    # -- up / down -------------------------------------------------------------------------
    def up(self) -> LocalState:
        """Starts everything; on any failure stops what started and re-raises."""
        try:
            return self._up()
        except BaseException:
            self.down()
            raise

    def _up(self) -> LocalState:
        begun = time.monotonic()
        # Every AWS call of this process goes to the emulator, which takes any credentials.
        for name, value in EMULATOR_CREDENTIALS.items():
            os.environ.setdefault(name, value)
        self.paths.prepare()
        self.paths.remove()
        zips = self._start_lambda_zips()
        if zips is not None:
            self._setup_children.append(zips)
        started = time.monotonic()
        self.emulator = Emulator(
            self.options.emulator_port,
            self.paths.logs_dir / "emulator.log",
            recording_path=self._recording,
        )
        self.emulator.start()
        endpoint_url = self.emulator.endpoint_url
        self._step("emulator", started)

        started = time.monotonic()
        outputs = self._apply(endpoint_url, zips)
        self._step("terraform apply", started)

        started = time.monotonic()
        model = self._start_model_build()
        model_status = model.wait(MODEL_BUILD_TIMEOUT_SECONDS)
        model.stop(grace_seconds=2)
        if model_status != 0:
            raise LocalStackError(
                f"building the tiny model failed (status {model_status}); see "
                f"{self.paths.logs_dir / 'model.log'}"
            )
        self._step("tiny model", started)

        dropped = drop_conditional_denies(
            AwsClients(endpoint_url, outputs["region"]).s3(), outputs["bucket"]
        )
        if dropped:
            self.say(f"  emulator: bucket policy statements it cannot evaluate dropped: {dropped}")
        fleet_env = self._fleet_env(endpoint_url, outputs)
        # The Lambdas run inside this process: their settings come from its environment.
        os.environ.update(environment_output(self.raw_outputs, "scaler_environment"))
        os.environ.update(fleet_env)
        # Locally the timer samples once per run (EventBridge's minute has several samples).
        os.environ[env.SCALER_SAMPLES_PER_INVOCATION] = "1"
        os.environ.update(self.options.scaler_settings)
        clients = AwsClients(endpoint_url, outputs["region"])

        started = time.monotonic()
        self.api = self._start_api(outputs, endpoint_url)

        def scaler_handler() -> Callable[[dict[str, Any], Any], Any]:
            from autoscaler.handler import lambda_handler

            return lambda_handler  # type: ignore[no-any-return]

        scaler_handler()
        self.scaler = ScalerTimer(scaler_handler, outputs["region"], self.options.scaler_interval)
        self.scaler.start()
        if "webhook_retry_queue_url" in outputs:
            # The notifier's stream and retry-queue mappings, as the scaler's schedule: the
            # real handler on a timer (the emulator runs no Lambdas).
            from sdfleet.webhook_settings import NotifierSettings
            from sdfleet_cli.local.notifier_process import build_poller

            self.notifier = build_poller(NotifierSettings(), checkpoint=None)
            self.notifier.start()
        worker_env = {
            **os.environ,
            **environment_output(self.raw_outputs, "worker_environment"),
            **fleet_env,
            **LOCAL_WORKER_SETTINGS,
            env.MODEL_CACHE_DIR: str(self.paths.models_dir.resolve()),
            # No metadata service locally: a closed port answers at once and the worker
            # carries on without spot/lifecycle notices (it drains on SIGTERM instead).
            env.METADATA_URL: f"http://127.0.0.1:{free_port()}",
            "PYTHONUNBUFFERED": "1",
        }
        self.fleet = WorkerFleet(
            clients.autoscaling(), outputs["asg_name"], worker_env, self.paths.logs_dir
        )
        self.fleet.start()
        frontend_url = self._start_frontend(outputs, endpoint_url, self.api.url)
        self._step("api, scaler, workers", started)

        self.state = LocalState(
            api_url=self.api.url,
            frontend_url=frontend_url,
            aws_endpoint_url=endpoint_url,
            region=outputs["region"],
            interactive_queue_url=outputs["interactive_queue_url"],
            batch_queue_url=outputs["batch_queue_url"],
            interactive_dlq_url=outputs.get("interactive_dlq_url"),
            batch_dlq_url=outputs.get("batch_dlq_url"),
            training_queue_url=outputs.get("training_queue_url"),
            training_dlq_url=outputs.get("training_dlq_url"),
            bucket=outputs["bucket"],
            jobs_table=outputs["jobs_table"],
            workers_table=outputs["workers_table"],
            idempotency_table=outputs.get("idempotency_table"),
            user_pool_id=outputs["user_pool_id"],
            user_pool_client_id=outputs["user_pool_client_id"],
            asg_name=outputs["asg_name"],
            local_tenant=self.options.tenant,
            logs_dir=str(self.paths.logs_dir.resolve()),
            pid=os.getpid(),
        )
        self.paths.write(self.state)
        self.timings["total"] = time.monotonic() - begun
        return self.state

    def down(self) -> None:
        """Stops everything that started, newest first. Safe to call more than once."""
        self.paths.remove()
        if self.fleet is not None:
            self.fleet.stop()
            self.fleet = None
        if self.scaler is not None:
            self.scaler.stop()
            self.scaler = None
        if self.notifier is not None:
            self.notifier.stop()
            self.notifier = None
        if self.frontend is not None:
            self.frontend.shutdown()
            self.frontend.server_close()
            self.frontend = None
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        for child in self._setup_children:
            child.stop(grace_seconds=2)
        self._setup_children = []
