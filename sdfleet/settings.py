"""Typed settings: explicit argument > environment variable > SSM Parameter Store > default.

Every field's alias is its environment variable (see :mod:`sdfleet.env`). SSM parameters live
under ``SDFLEET_SSM_PATH`` (e.g. ``/sdfleet/prod/``); a parameter's last path segment, lower
case, names the field (``/sdfleet/prod/scaler_max_capacity`` or ``.../SDFLEET_SCALER_MAX_CAPACITY``
both set ``scaler_max_capacity``). SecureString parameters are decrypted.
"""

from __future__ import annotations

import json
import os
from typing import Any, Final, Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sdfleet import env
from sdfleet.errors import ConfigurationError
from sdfleet.messages import Lane
from sdfleet.webhook_urls import WebhookUrl


def _env(name: str, field_name: str, description: str) -> Any:
    """An optional field read from the env var ``name`` (or passed as ``field_name``)."""
    return Field(
        default=None, validation_alias=AliasChoices(field_name, name), description=description
    )


#: GetParameters takes at most this many names.
_SSM_GET_PARAMETERS_MAX = 10
#: Minutes one training is expected to run: the scaler's estimate and a queued training's ETA.
TRAINING_MINUTES_PER_JOB_DEFAULT: Final = 15.0
TRAINING_MINUTES_DESCRIPTION: Final = (
    "expected run time of one training (minutes): the scaler counts a training lane job with "
    "it, apart from the per-image estimate of the generation lanes, and the API gives it as a "
    "training's ETA until the training reports its own pace"
)


class SSMParameterSource(PydanticBaseSettingsSource):
    """Reads the parameters under the configured SSM path (recursive) that fill a field;
    SecureStrings among them are decrypted one GetParameters call per ten."""

    def __init__(self, settings_cls: type[BaseSettings], init_kwargs: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._init_kwargs = init_kwargs
        self._values: dict[str, Any] | None = None
        #: SecureString parameters this source decrypted (names).
        self.decrypted: set[str] = set()

    def _setting(self, field_name: str, env_name: str) -> str | None:
        value = self._init_kwargs.get(field_name) or os.environ.get(env_name)
        return str(value) if value else None

    def _load(self) -> dict[str, Any]:
        if self._values is not None:
            return self._values
        self._values = {}
        path = self._setting("ssm_path", env.SSM_PATH)
        if not path:
            return self._values
        from sdfleet.aws import AwsClients

        clients = AwsClients(
            endpoint_url=self._setting("aws_endpoint_url", env.AWS_ENDPOINT_URL),
            region=self._setting("aws_region", env.AWS_REGION),
        )
        ssm = clients.ssm()
        prefix = path if path.endswith("/") else path + "/"
        known = {name: name for name in self.settings_cls.model_fields}
        for name, info in self.settings_cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                for choice in alias.choices:
                    if isinstance(choice, str):
                        known[choice.lower()] = name
        # Names and plain values first, nothing decrypted: a SecureString is decrypted only when
        # it fills a field of this settings class, so a component never holds another's secret
        # (the ingest and scaler roles may not decrypt sender_tenants at all).
        secure: dict[str, str] = {}
        paginator = ssm.get_paginator("get_parameters_by_path")
        for page in paginator.paginate(Path=prefix, Recursive=True, WithDecryption=False):
            for parameter in page["Parameters"]:
                key = parameter["Name"].rsplit("/", 1)[-1].lower()
                field_name = known.get(key)
                if field_name is None:
                    continue
                if parameter.get("Type") == "SecureString":
                    secure[parameter["Name"]] = field_name
                else:
                    self._values[field_name] = parameter["Value"]
        names = sorted(secure)
        for start in range(0, len(names), _SSM_GET_PARAMETERS_MAX):
            batch = names[start : start + _SSM_GET_PARAMETERS_MAX]
            for parameter in ssm.get_parameters(Names=batch, WithDecryption=True)["Parameters"]:
                self._values[secure[parameter["Name"]]] = parameter["Value"]
                self.decrypted.add(parameter["Name"])
        return self._values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._load().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._load())


class FleetSettings(BaseSettings):
    """What every component needs: where AWS is and which resources are ours."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    aws_endpoint_url: str | None = _env(
        env.AWS_ENDPOINT_URL,
        "aws_endpoint_url",
        "AWS endpoint override (the local emulator); unset on AWS",
    )
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices(
            "aws_region", env.AWS_REGION, "AWS_REGION", "AWS_DEFAULT_REGION"
        ),
        description="AWS region (also read from AWS_REGION)",
    )
    ssm_path: str | None = _env(
        env.SSM_PATH, "ssm_path", "SSM Parameter Store path whose parameters fill unset settings"
    )
    jobs_table: str = Field(
        default="sdfleet-jobs",
        validation_alias=AliasChoices("jobs_table", env.JOBS_TABLE),
        description="DynamoDB table of job records",
    )
    workers_table: str = Field(
        default="sdfleet-workers",
        validation_alias=AliasChoices("workers_table", env.WORKERS_TABLE),
        description="DynamoDB table of worker heartbeats",
    )
    bucket: str = Field(
        default="sdfleet-data",
        validation_alias=AliasChoices("bucket", env.BUCKET),
        description="S3 bucket for inputs, outputs and models",
    )
    interactive_queue_url: str = Field(
        default="",
        validation_alias=AliasChoices("interactive_queue_url", env.INTERACTIVE_QUEUE_URL),
        description="SQS URL of the interactive lane (web jobs)",
    )
    batch_queue_url: str = Field(
        default="",
        validation_alias=AliasChoices("batch_queue_url", env.BATCH_QUEUE_URL),
        description="SQS URL of the batch lane",
    )
    training_queue_url: str | None = _env(
        env.TRAINING_QUEUE_URL,
        "training_queue_url",
        "SQS URL of the training lane (LoRA trainings from the API); unset: trainings go to "
        "the interactive lane",
    )
    interactive_dlq_url: str | None = _env(
        env.INTERACTIVE_DLQ_URL, "interactive_dlq_url", "SQS URL of the interactive lane's DLQ"
    )
    batch_dlq_url: str | None = _env(
        env.BATCH_DLQ_URL, "batch_dlq_url", "SQS URL of the batch lane's DLQ"
    )
    training_dlq_url: str | None = _env(
        env.TRAINING_DLQ_URL, "training_dlq_url", "SQS URL of the training lane's DLQ"
    )
    ingest_sender_id: str | None = _env(
        env.INGEST_SENDER_ID,
        "ingest_sender_id",
        "SQS SenderId key (role id, `AROA…`) of the ingest API: the only sender the interactive "
        "and training lanes honour; unset: none",
    )
    idempotency_table: str = Field(
        default="sdfleet-idempotency",
        validation_alias=AliasChoices("idempotency_table", env.IDEMPOTENCY_TABLE),
        description="DynamoDB table of Powertools idempotency records",
    )
    deletion_settle_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        validation_alias=AliasChoices("deletion_settle_seconds", env.DELETION_SETTLE_SECONDS),
        description="a DELETE /me purge completes no sooner than this after the request (the "
        "owner index is eventually consistent)",
    )
    record_ttl_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        validation_alias=AliasChoices("record_ttl_days", env.RECORD_TTL_DAYS),
        description="days until a job record expires (DynamoDB TTL)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs = init_settings() if callable(init_settings) else {}
        return (
            init_settings,
            env_settings,
            SSMParameterSource(settings_cls, dict(init_kwargs)),
        )

    def queue_url(self, lane: str) -> str:
        url = self.queue_urls().get(Lane(lane)) if lane in set(Lane) else None
        if not url:
            raise ConfigurationError(f"no queue URL configured for lane {lane!r}")
        return url

    def queue_urls(self) -> dict[Lane, str]:
        """The configured lanes' queues, in the order workers drain them."""
        urls = {
            Lane.INTERACTIVE: self.interactive_queue_url,
            Lane.TRAINING: self.training_queue_url,
            Lane.BATCH: self.batch_queue_url,
        }
        return {lane: url for lane, url in urls.items() if url}

    def dlq_urls(self) -> dict[Lane, str]:
        """The configured lanes' dead-letter queues."""
        urls = {
            Lane.INTERACTIVE: self.interactive_dlq_url,
            Lane.TRAINING: self.training_dlq_url,
            Lane.BATCH: self.batch_dlq_url,
        }
        return {lane: url for lane, url in urls.items() if url}


def _training_minutes_per_job() -> Any:
    """One field, read by the scaler and by the ingest Lambda (a queued training's ETA)."""
    return Field(
        default=TRAINING_MINUTES_PER_JOB_DEFAULT,
        gt=0,
        le=1440,
        validation_alias=AliasChoices(
            "training_minutes_per_job", env.SCALER_TRAINING_MINUTES_PER_JOB
        ),
        description=TRAINING_MINUTES_DESCRIPTION,
    )


class IngestSettings(FleetSettings):
    max_active_jobs_per_user: int = Field(
        default=20,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("max_active_jobs_per_user", env.MAX_ACTIVE_JOBS_PER_USER),
        description="queued+running jobs one user may have (429 beyond)",
    )
    max_active_cost_units_per_user: int = Field(
        default=6400,
        ge=1,
        le=10_000_000,
        validation_alias=AliasChoices(
            "max_active_cost_units_per_user", env.MAX_ACTIVE_COST_UNITS_PER_USER
        ),
        description="cost units (images x steps x pixels / 512^2) of one user's queued+running "
        "jobs (429 beyond; one job above it is refused)",
    )
    max_uploads_per_user_per_day: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        validation_alias=AliasChoices(
            "max_uploads_per_user_per_day", env.MAX_UPLOADS_PER_USER_PER_DAY
        ),
        description="upload tickets (POST /uploads) one user may get per UTC day (429 beyond)",
    )
    upload_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        le=10 * 1024 * 1024,
        validation_alias=AliasChoices("upload_max_bytes", env.UPLOAD_MAX_BYTES),
        description="largest input image upload",
    )
    upload_url_expires_seconds: int = Field(
        default=300,
        ge=1,
        le=300,
        validation_alias=AliasChoices("upload_url_expires_seconds", env.UPLOAD_URL_EXPIRES_SECONDS),
        description="lifetime of a presigned upload POST",
    )
    output_url_expires_seconds: int = Field(
        default=600,
        ge=1,
        le=3600,
        validation_alias=AliasChoices("output_url_expires_seconds", env.OUTPUT_URL_EXPIRES_SECONDS),
        description="lifetime of a presigned output GET",
    )
    # The scaler's knob (one SSM parameter under the same path): a queued training's ETA.
    training_minutes_per_job: float = _training_minutes_per_job()


class WorkerSettings(FleetSettings):
    worker_id: str | None = _env(
        env.WORKER_ID, "worker_id", "worker identity (default: the EC2 instance id)"
    )
    instance_id: str | None = _env(
        env.INSTANCE_ID, "instance_id", "EC2 instance id (default: read from the metadata service)"
    )
    model_source: str = Field(
        default="tiny",
        validation_alias=AliasChoices("model_source", env.MODEL_SOURCE),
        description="`tiny`, a local directory, an `s3://` prefix or a hub id",
    )
    model_cache_dir: str = Field(
        default=".sdfleet/models",
        validation_alias=AliasChoices("model_cache_dir", env.MODEL_CACHE_DIR),
        description="where downloaded and built models are kept",
    )
    device: str | None = _env(
        env.DEVICE,
        "device",
        "`cuda` or `cpu` (default: cuda when available); GPU fleets set `cuda` so a host "
        "without a working CUDA stops instead of generating on the CPU",
    )
    attention_backend: Literal["sdpa", "xformers"] = Field(
        default="sdpa",
        validation_alias=AliasChoices("attention_backend", env.ATTENTION_BACKEND),
        description="`sdpa`, or `xformers` when its kernels run a probe attention at start-up "
        "(else SDPA, with the reason logged and recorded)",
    )
    state_dir: str = Field(
        default=".sdfleet/state",
        validation_alias=AliasChoices("state_dir", env.STATE_DIR),
        description="where the worker counts failed model loads across restarts",
    )
    max_model_load_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        validation_alias=AliasChoices("max_model_load_attempts", env.MAX_MODEL_LOAD_ATTEMPTS),
        description="failed model loads in a row before the worker marks its instance "
        "unhealthy so the Auto Scaling group replaces it",
    )
    launch_hook_name: str | None = _env(
        env.LAUNCH_HOOK_NAME,
        "launch_hook_name",
        "ASG launching lifecycle hook the worker completes once its model is loaded and warm",
    )
    warmup: bool = Field(
        default=True,
        validation_alias=AliasChoices("warmup", env.WARMUP),
        description="run one small generation after load, before the first claim",
    )
    torch_compile: bool = Field(
        default=False,
        validation_alias=AliasChoices("torch_compile", env.TORCH_COMPILE),
        description="compile the UNet with torch.compile (CUDA only; batches padded to powers "
        "of two so few shapes compile; the first call of each shape pays the compile)",
    )
    compile_cache_dir: str = Field(
        default=".sdfleet/torch-compile",
        validation_alias=AliasChoices("compile_cache_dir", env.COMPILE_CACHE_DIR),
        description="Inductor/Triton cache, so a restart reuses the compiled kernels",
    )
    cuda_graphs: bool = Field(
        default=False,
        validation_alias=AliasChoices("cuda_graphs", env.CUDA_GRAPHS),
        description="with torch_compile: replay CUDA graphs (mode reduce-overhead) for the "
        "fixed shapes; more GPU memory per shape",
    )
    channels_last: bool = Field(
        default=True,
        validation_alias=AliasChoices("channels_last", env.CHANNELS_LAST),
        description="UNet and VAE in channels-last memory format (faster convolutions on CUDA)",
    )
    vae_slicing: bool = Field(
        default=True,
        validation_alias=AliasChoices("vae_slicing", env.VAE_SLICING),
        description="decode a batch one image at a time (large batches do not run out of memory "
        "after denoising)",
    )
    vae_tiling_min_pixels: int = Field(
        default=0,
        ge=0,
        le=16384 * 16384,
        validation_alias=AliasChoices("vae_tiling_min_pixels", env.VAE_TILING_MIN_PIXELS),
        description="decode in tiles when width x height is at least this (0: never; tiles "
        "change pixels slightly, so it is off unless a GPU runs out of memory at large sizes)",
    )
    max_batch_size: int = Field(
        default=4,
        ge=1,
        le=64,
        validation_alias=AliasChoices("max_batch_size", env.MAX_BATCH_SIZE),
        description="images of one shape generated in one pipeline call",
    )
    max_input_pixels: int = Field(
        default=4096 * 4096,
        ge=64 * 64,
        le=16384 * 16384,
        validation_alias=AliasChoices("max_input_pixels", env.MAX_INPUT_PIXELS),
        description="decompression-bomb limit for input images",
    )
    train_checkpoint_every_steps: int = Field(
        default=100,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices(
            "train_checkpoint_every_steps", env.TRAIN_CHECKPOINT_EVERY_STEPS
        ),
        description="a training writes its checkpoint to S3 every this many steps (a preempted "
        "training resumes from the last one)",
    )
    adapter_cache_size: int = Field(
        default=4,
        ge=1,
        le=64,
        validation_alias=AliasChoices("adapter_cache_size", env.ADAPTER_CACHE_SIZE),
        description="trained adapters a worker keeps in memory (least recently used dropped "
        "first); one at a time is in the model, switched in place",
    )
    visibility_timeout_seconds: int = Field(
        default=120,
        ge=10,
        le=43_200,
        validation_alias=AliasChoices("visibility_timeout_seconds", env.VISIBILITY_TIMEOUT_SECONDS),
        description="SQS visibility a worker keeps extending while it works",
    )
    training_visibility_timeout_seconds: int = Field(
        default=900,
        ge=10,
        le=43_200,
        validation_alias=AliasChoices(
            "training_visibility_timeout_seconds", env.TRAINING_VISIBILITY_TIMEOUT_SECONDS
        ),
        description="SQS visibility of a training lane message, kept extended while it runs "
        "(longer than visibility_timeout_seconds: a run of minutes is not redelivered to "
        "another worker after a few missed heartbeats)",
    )
    heartbeat_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("heartbeat_seconds", env.HEARTBEAT_SECONDS),
        description="how often visibility and the job lease are renewed",
    )
    lease_seconds: int = Field(
        default=120,
        ge=5,
        le=43_200,
        validation_alias=AliasChoices("lease_seconds", env.LEASE_SECONDS),
        description="how long a job's lease lasts without a heartbeat",
    )
    wait_time_seconds: int = Field(
        default=20,
        ge=0,
        le=20,
        validation_alias=AliasChoices("wait_time_seconds", env.WAIT_TIME_SECONDS),
        description="SQS long-poll wait",
    )
    receive_ahead_seconds: float = Field(
        default=0.5,
        ge=0,
        le=60,
        validation_alias=AliasChoices("receive_ahead_seconds", env.RECEIVE_AHEAD_SECONDS),
        description="receive and claim the next jobs this long before the running pipeline "
        "call is expected to end (0: only after it ends)",
    )
    fair_window_messages: int = Field(
        default=24,
        ge=0,
        le=120,
        validation_alias=AliasChoices("fair_window_messages", env.FAIR_WINDOW_MESSAGES),
        description="interactive messages a worker holds and starts in per-user fair order "
        "(round robin over users, so one user's backlog does not starve another's job; "
        "0: first come, first served)",
    )
    metadata_url: str = Field(
        default="http://169.254.169.254",
        validation_alias=AliasChoices("metadata_url", env.METADATA_URL),
        description="instance metadata service address (IMDSv2)",
    )
    metadata_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        validation_alias=AliasChoices("metadata_poll_seconds", env.METADATA_POLL_SECONDS),
        description="how often spot and lifecycle notices are polled",
    )
    max_receive_count: int = Field(
        default=3,
        ge=1,
        le=1000,
        validation_alias=AliasChoices("max_receive_count", env.MAX_RECEIVE_COUNT),
        description="deliveries before a message goes to the DLQ (matches the redrive policy)",
    )
    sender_tenants: dict[str, str] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("sender_tenants", env.SENDER_TENANTS),
        description="JSON map of SQS SenderId to tenant, for batch messages",
    )
    tenant_webhook_urls: dict[str, WebhookUrl] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("tenant_webhook_urls", env.TENANT_WEBHOOK_URLS),
        description="JSON map of tenant to its default webhook URL, for batch messages without "
        "`webhook_url` (checked like any webhook URL at every send)",
    )
    metrics_namespace: str = Field(
        default="sdfleet",
        validation_alias=AliasChoices("metrics_namespace", env.POWERTOOLS_METRICS_NAMESPACE),
        description="CloudWatch namespace of the worker's job metrics",
    )
    lifecycle_hook_name: str | None = _env(
        env.LIFECYCLE_HOOK_NAME,
        "lifecycle_hook_name",
        "ASG termination lifecycle hook the worker completes after draining",
    )
    asg_name: str | None = _env(env.ASG_NAME, "asg_name", "the worker Auto Scaling Group")

    def lane_visibility(self) -> dict[Lane, int]:
        """Visibility timeouts that differ from ``visibility_timeout_seconds``, by lane."""
        return {Lane.TRAINING: self.training_visibility_timeout_seconds}

    @field_validator("sender_tenants", "tenant_webhook_urls", mode="before")
    @classmethod
    def _parse_json_maps(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            shape = {
                "sender_tenants": "SenderId -> tenant",
                "tenant_webhook_urls": "tenant -> webhook URL",
            }[str(info.field_name)]
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{info.field_name} must be a JSON object of {shape}, got {value!r}"
                ) from exc
        return value

    @model_validator(mode="after")
    def _lease_outlives_heartbeat(self) -> WorkerSettings:
        if self.heartbeat_seconds >= self.visibility_timeout_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be below "
                f"visibility_timeout_seconds ({self.visibility_timeout_seconds})"
            )
        if self.heartbeat_seconds >= self.training_visibility_timeout_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be below "
                f"training_visibility_timeout_seconds ({self.training_visibility_timeout_seconds})"
            )
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be below "
                f"lease_seconds ({self.lease_seconds})"
            )
        return self


class ScalerSettings(FleetSettings):
    asg_name: str = Field(
        default="sdfleet-workers",
        validation_alias=AliasChoices("asg_name", env.ASG_NAME),
        description="the worker Auto Scaling Group",
    )
    min_capacity: int = Field(
        default=0,
        ge=0,
        le=1000,
        validation_alias=AliasChoices("min_capacity", env.SCALER_MIN_CAPACITY),
        description="fewest workers, even when idle",
    )
    max_capacity: int = Field(
        default=4,
        ge=0,
        le=1000,
        validation_alias=AliasChoices("max_capacity", env.SCALER_MAX_CAPACITY),
        description="most workers",
    )
    target_wait_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        validation_alias=AliasChoices("target_wait_seconds", env.SCALER_TARGET_WAIT_SECONDS),
        description="queue-wait SLO the scaler sizes the fleet for",
    )
    idle_seconds_before_scale_in: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        validation_alias=AliasChoices(
            "idle_seconds_before_scale_in", env.SCALER_IDLE_SECONDS_BEFORE_SCALE_IN
        ),
        description="idle time before an idle worker may be removed",
    )
    quiet_seconds_before_zero: float = Field(
        default=120.0,
        ge=0,
        le=86_400,
        validation_alias=AliasChoices(
            "quiet_seconds_before_zero", env.SCALER_QUIET_SECONDS_BEFORE_ZERO
        ),
        description="least time with no work before the fleet goes to min (up to 10x as long "
        "when the recent gaps between work were longer)",
    )
    max_step: int = Field(
        default=4,
        ge=1,
        le=1000,
        validation_alias=AliasChoices("max_step", env.SCALER_MAX_STEP),
        description="most workers added in one decision",
    )
    default_seconds_per_job: float = Field(
        default=6.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices(
            "default_seconds_per_job", env.SCALER_DEFAULT_SECONDS_PER_JOB
        ),
        description="job duration assumed before workers report their own",
    )
    training_minutes_per_job: float = _training_minutes_per_job()
    boot_seconds: float = Field(
        # Launch to first image of a plain-AMI worker with a wheelhouse (docs/worker-install.md).
        default=180.0,
        ge=0,
        le=3600,
        validation_alias=AliasChoices("boot_seconds", env.SCALER_BOOT_SECONDS),
        description="expected launch-to-first-image time of a new worker (plain AMI + "
        "wheelhouse ~150 s, baked AMI ~100 s, warm pool ~50 s: docs/worker-install.md)",
    )
    boot_deadline_seconds: float = Field(
        # 3x boot_seconds, rounded up: one start path's measured starts vary 2.6x (50-130 s,
        # benchmarks/results/worker_cold_start.json), so a slow healthy boot is not replaced.
        default=600.0,
        ge=0,
        le=7200,
        validation_alias=AliasChoices("boot_deadline_seconds", env.SCALER_BOOT_DEADLINE_SECONDS),
        description="an in-service instance whose worker has not reported ready (an idle, busy "
        "or draining heartbeat) this long after launch is marked unhealthy, so the Auto Scaling "
        "group replaces it (0: never); must exceed boot_seconds",
    )
    samples_per_invocation: int = Field(
        default=12,
        ge=1,
        le=12,
        validation_alias=AliasChoices("samples_per_invocation", env.SCALER_SAMPLES_PER_INVOCATION),
        description="queue samples the scaler takes per one-minute invocation",
    )
    backlog_tolerance: float = Field(
        default=0.75,
        ge=0,
        le=1,
        validation_alias=AliasChoices("backlog_tolerance", env.SCALER_BACKLOG_TOLERANCE),
        description="share of the target wait the ready fleet's backlog may take before scale-out",
    )

    lifecycle_hook_name: str | None = _env(
        env.LIFECYCLE_HOOK_NAME,
        "lifecycle_hook_name",
        "ASG termination lifecycle hook; the scaler completes it for instances replaced past "
        "the boot deadline (no worker there to drain)",
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ScalerSettings:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity ({self.min_capacity}) must not exceed "
                f"max_capacity ({self.max_capacity})"
            )
        if self.boot_deadline_seconds and self.boot_deadline_seconds <= self.boot_seconds:
            raise ValueError(
                f"boot_deadline_seconds ({self.boot_deadline_seconds:g}) must exceed "
                f"boot_seconds ({self.boot_seconds:g}) or be 0 (off): a healthy worker would be "
                "replaced while it boots"
            )
        return self
