"""The run stage of a ``train`` job: one claimed training, start (or resume) to adapter.

A training occupies the worker for its whole run (it is never batched). Its message stays
hidden and its lease alive through the lease keeper as for any job; each step reports the step,
the loss and the ETA to the lease (written to the record with the next renewal), and stops the
run once the job is cancelled or taken over. Every ``train_checkpoint_every_steps`` steps the
full training state goes to ``users/<owner>/models/<adapter_id>/checkpoint/latest.pt``; a
worker that claims the job later (the first one was killed or preempted) starts from there,
and reaches the adapter the uninterrupted run would have.

The result is ``users/<owner>/models/<adapter_id>/adapter.safetensors`` (diffusers' LoRA format,
with metadata in its header) and ``metadata.json`` beside it; the adapter id is the job's id.
Another user's image (the record's owner decides, never the body) fails the job.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from sdfleet.errors import CancelRequested, JobNotFound, LeaseLost, OwnerDataDeleted
from sdfleet.keys import adapter_key, adapter_metadata_key, checkpoint_key, is_input_of
from sdfleet.records import ErrorCode, JobRecord, utcnow
from sdfleet.training import TrainParams
from worker.errors import GenerationCancelled, InvalidJobInput
from worker.gateways import JobGateway
from worker.inputs import MAX_INPUT_BYTES, derived_seed
from worker.jobs import Running
from worker.retry import transient_retry
from worker.settle import Settler
from worker.settle_policy import Discarded, Dropped, Succeeded
from worker.stats import WorkerStats

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from worker.lora_training import LoraTrainer, TrainingConfig, TrainingExample

#: The loss curve kept with a finished job has at most this many points (means of equal runs
#: of steps), so a 5,000-step training's record stays small.
LOSS_CURVE_MAX_POINTS: Final = 200
#: The loss shown while running: the mean of the last this many steps.
LOSS_WINDOW: Final = 20
_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})

logger = Logger(service="sdfleet-worker", child=True)

#: Loads a fresh copy of the base model's components (unet, vae, text encoder, tokenizer,
#: scheduler) for one training; the generation pipeline is never modified.
ComponentLoader = Callable[[], dict[str, Any]]


def loss_curve(losses: list[float], max_points: int = LOSS_CURVE_MAX_POINTS) -> list[float]:
    """The losses as at most ``max_points`` means of consecutive equal-sized runs."""
    if not losses:
        return []
    size = math.ceil(len(losses) / max_points)
    return [
        round(sum(chunk) / len(chunk), 6)
        for chunk in (losses[i : i + size] for i in range(0, len(losses), size))
    ]


def training_config(record: JobRecord, params: TrainParams) -> TrainingConfig:
    from worker.lora_training import TrainingConfig

    return TrainingConfig(
        steps=params.steps,
        learning_rate=params.learning_rate,
        rank=params.rank,
        resolution=params.resolution,
        train_text_encoder=params.train_text_encoder,
        # A training without a seed gets one from its id, so a resumed run continues the same.
        seed=params.seed if params.seed is not None else derived_seed(record.job_id),
    )


class TrainingRunner:
    def __init__(
        self,
        *,
        s3: S3Client,
        bucket: str,
        jobs: JobGateway,
        settler: Settler,
        load_components: ComponentLoader,
        base_model: str,
        worker_id: str,
        device: str | None,
        checkpoint_every_steps: int,
        max_input_pixels: int,
        stats: WorkerStats,
        report_busy: Callable[[str], None],
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._jobs = jobs
        self._settler = settler
        self._load_components = load_components
        self._base_model = base_model
        self._worker_id = worker_id
        self._device = device
        self._every = checkpoint_every_steps
        self._max_pixels = max_input_pixels
        self._stats = stats
        self._report_busy = report_busy

    def run(self, running: Running) -> None:
        record, message = running.record, running.message
        self._report_busy(record.job_id)
        policy = self._settler.policy
        try:
            trainer = self._prepare(record)
        except InvalidJobInput as exc:
            self._settler.apply(message, policy.after_invalid_input(exc), running)
            return
        except Exception as exc:
            self._settler.retry(message, running, exc)
            return
        started = time.perf_counter()
        try:
            self._train(running, trainer)
        except GenerationCancelled:
            self._stats.add(pipeline_seconds=time.perf_counter() - started)
            self._settler.apply(message, policy.stopped(running.lease), running)
            return
        except Exception as exc:
            self._stats.add(pipeline_seconds=time.perf_counter() - started)
            outcome = policy.after_failed_call(exc, 1, message.receive_count, running.lease)
            self._settler.apply(message, outcome, running)
            return
        seconds = time.perf_counter() - started
        self._stats.add(pipeline_seconds=seconds)
        self._finish(running, trainer, seconds)

    # -- stages of one training --------------------------------------------------------------
    def _prepare(self, record: JobRecord) -> LoraTrainer:
        from worker.generation import resolve_device
        from worker.lora_training import LoraTrainer

        device = resolve_device(self._device)
        params = record.params
        if not isinstance(params, TrainParams):
            raise InvalidJobInput(ErrorCode.INVALID_INPUT.value, "params: not a training")
        config = training_config(record, params)
        examples = self._examples(record.owner, params)
        trainer = LoraTrainer(self._load_components(), examples, config, device=device)
        saved = self._read(checkpoint_key(record.owner, record.job_id))
        if saved is not None:
            try:
                trainer.restore(saved)
                logger.info(
                    "training resumed from its checkpoint",
                    extra={"job_id": record.job_id, "step": trainer.state.step},
                )
            except ValueError as exc:
                # A checkpoint of other parameters cannot be continued: start over.
                logger.warning(
                    "checkpoint ignored", extra={"job_id": record.job_id, "reason": str(exc)}
                )
                trainer = LoraTrainer(self._load_components(), examples, config, device=device)
        return trainer

    def _examples(self, owner: str, params: TrainParams) -> list[TrainingExample]:
        from worker.images import decode_input_image
        from worker.lora_training import TrainingExample

        examples: list[TrainingExample] = []
        for index, key in enumerate(params.instance_images):
            field = f"instance_images[{index}]"
            if not is_input_of(key, owner):
                raise InvalidJobInput(
                    ErrorCode.INVALID_INPUT.value,
                    f"{field}: {key[:120]!r} is not under the owner's inputs/ prefix",
                )
            data = self._read(key, max_bytes=MAX_INPUT_BYTES, field=field)
            if data is None:
                raise InvalidJobInput(
                    ErrorCode.INPUT_MISSING.value, f"{field}: {key!r} does not exist"
                )
            image = decode_input_image(
                data,
                max_pixels=self._max_pixels,
                width=params.resolution,
                height=params.resolution,
            )
            examples.append(TrainingExample(image=image, caption=params.caption_of(index)))
        return examples

    def _train(self, running: Running, trainer: LoraTrainer) -> None:
        lease, record = running.lease, running.record
        total = trainer.config.steps
        first_step = trainer.state.step
        started = time.perf_counter()

        def on_step(step: int, loss: float) -> None:
            if not math.isfinite(loss):
                raise RuntimeError(f"training diverged at step {step} (loss {loss})")
            recent = trainer.state.losses[-LOSS_WINDOW:]
            per_step = (time.perf_counter() - started) / max(1, step - first_step)
            lease.report_training(
                step,
                total,
                round(sum(recent) / len(recent), 6),
                round(per_step * (total - step), 1),
            )
            if lease.cancel_requested or lease.lost:
                raise GenerationCancelled("the training was cancelled or taken over")
            if step % self._every == 0 and step < total:
                self._put(checkpoint_key(record.owner, record.job_id), trainer.checkpoint_bytes())

        trainer.run(on_step)

    # Long on purpose: the adapter, its metadata, the record and the message settle in this
    # order so that a crash anywhere leaves a training that resumes rather than one half done.
    def _finish(self, running: Running, trainer: LoraTrainer, seconds: float) -> None:
        record, lease, message = running.record, running.lease, running.message
        policy = self._settler.policy
        stopped = policy.before_completion(lease)
        if stopped is not None:
            self._settler.apply(message, stopped, running)
            return
        params = record.params
        assert isinstance(params, TrainParams)
        owner, adapter_id = record.owner, record.job_id
        created = utcnow().isoformat()
        metadata = {
            "adapter_id": adapter_id,
            "base_model": self._base_model,
            "rank": str(params.rank),
            "steps": str(params.steps),
            "instance_prompt": params.instance_prompt,
            "learning_rate": repr(params.learning_rate),
            "resolution": str(params.resolution),
            "train_text_encoder": str(params.train_text_encoder).lower(),
            "seed": str(trainer.config.seed),
            "created_at": created,
        }
        curve = loss_curve(trainer.state.losses)
        keys = [adapter_key(owner, adapter_id), adapter_metadata_key(owner, adapter_id)]
        try:
            self._put(keys[0], trainer.adapter_bytes(metadata))
            self._put(keys[1], json.dumps({**metadata, "loss_curve": curve}).encode())
            transient_retry(self._jobs.finish)(
                record.job_id,
                self._worker_id,
                [keys[0]],
                [trainer.config.seed],
                model_seconds=round(seconds, 4),
                total_seconds=round(time.perf_counter() - running.claimed_at, 4),
                loss_curve=curve,
                adapter_id=adapter_id,
            )
        except CancelRequested:
            lease.cancel_requested = True
            self._discard(keys)
            self._settler.apply(message, policy.stopped(lease), running)
            return
        except (OwnerDataDeleted, JobNotFound):
            self._discard([*keys, checkpoint_key(owner, adapter_id)])
            self._settler.expire_unstarted(running)
            self._settler.apply(message, Discarded("the owner deleted their data"), None)
            return
        except LeaseLost:
            self._settler.apply(message, Dropped(), running)
            return
        except Exception as exc:
            self._settler.retry(message, running, exc)
            return
        # The adapter is final: its checkpoint is no longer needed.
        self._discard([checkpoint_key(owner, adapter_id)])
        latency = (utcnow() - record.created_at).total_seconds()
        self._settler.apply(
            message,
            Succeeded((keys[0],), time.perf_counter() - running.claimed_at, latency),
            running,
        )

    # -- S3 ----------------------------------------------------------------------------------
    def _read(self, key: str, *, max_bytes: int | None = None, field: str = "") -> bytes | None:
        try:
            response = transient_retry(self._s3.get_object)(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        size = int(response.get("ContentLength", 0))
        if max_bytes is not None and size > max_bytes:
            response["Body"].close()
            raise InvalidJobInput(
                ErrorCode.INVALID_INPUT.value,
                f"{field}: {key!r} is {size} bytes, over the limit of {max_bytes}",
            )
        data: bytes = response["Body"].read()
        return data

    def _put(self, key: str, data: bytes) -> None:
        transient_retry(self._s3.put_object)(Bucket=self._bucket, Key=key, Body=data)

    def _discard(self, keys: list[str]) -> None:
        for key in keys:
            try:
                transient_retry(self._s3.delete_object)(Bucket=self._bucket, Key=key)
            except ClientError:
                logger.warning("could not delete %s", key)
