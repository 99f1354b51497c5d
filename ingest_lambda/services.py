"""What each route does, against the job store, the queue and the bucket.

Every method takes the caller's ``owner`` (the JWT ``sub``) explicitly and only touches that
owner's records and objects: another owner's job is "not found", never "forbidden".
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Final

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ingest_lambda.errors import (
    BadRequest,
    Conflict,
    ErrorCode,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
)
from ingest_lambda.eta import estimate_eta_seconds, fleet_speed
from ingest_lambda.limits import (
    DELETE_BATCH_SIZE,
    QUOTA_RETRY_AFTER_SECONDS,
    UNAVAILABLE_RETRY_AFTER_SECONDS,
)
from ingest_lambda.logs import SERVICE_NAME
from ingest_lambda.models import (
    DeletionView,
    ErrorInfo,
    JobAccepted,
    JobDeleted,
    JobList,
    JobSummary,
    JobView,
    OutputLink,
    Progress,
    UploadRequest,
    UploadTicket,
    WebhookSecretIssued,
)
from sdfleet.deletion import Deletion, DeletionStore
from sdfleet.errors import ActiveJobLimit, JobNotFound, OwnerDataDeleted, TransitionRejected
from sdfleet.fairness import fair_key
from sdfleet.heartbeats import HeartbeatStore
from sdfleet.job_kinds import AnyRequest
from sdfleet.keys import (
    INPUT_EXTENSIONS,
    INPUT_TAGGING_XML,
    adapter_key,
    inputs_prefix,
    is_input_of,
    is_owned_by,
    new_input_key,
    outputs_prefix,
)
from sdfleet.messages import MESSAGE_VERSION, JobMessage, Lane
from sdfleet.records import ErrorCode as JobErrorCode
from sdfleet.records import JobError, JobRecord, JobStatus
from sdfleet.requests import JobKind
from sdfleet.settings import IngestSettings
from sdfleet.store import JobStore
from sdfleet.training import TrainRequest
from sdfleet.webhook_secrets import WebhookSecrets
from sdfleet.webhook_settings import WebhookPolicySettings
from sdfleet.webhook_urls import Resolver, WebhookUrlRefused, check_webhook_url, resolve_host

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

logger = Logger(service=SERVICE_NAME, child=True)

#: Web jobs go to the interactive lane, which workers drain first; trainings to the training
#: lane (drained next), so minutes-long runs never hold up a web job.
JOB_LANE: Final = Lane.INTERACTIVE
TRAINING_LANE: Final = Lane.TRAINING


def lane_for(request: AnyRequest, settings: IngestSettings) -> Lane:
    """The lane a web job travels in: a training's own lane where one is configured."""
    if isinstance(request, TrainRequest) and settings.training_queue_url:
        return TRAINING_LANE
    return JOB_LANE


#: A job may change status between our read and our conditional write: re-read this often.
MAX_TRANSITION_ATTEMPTS: Final = 3
_MISSING_OBJECT_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})


class IngestService:
    """The API's operations. Clients and stores are passed in (emulator or AWS)."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        s3: S3Client,
        sqs: SQSClient,
        jobs: JobStore,
        heartbeats: HeartbeatStore,
        deletions: DeletionStore | None = None,
        delete_batch_size: int = DELETE_BATCH_SIZE,
        webhooks: WebhookPolicySettings | None = None,
        webhook_secrets: WebhookSecrets | None = None,
        resolve: Resolver = resolve_host,
    ) -> None:
        if not 1 <= delete_batch_size <= DELETE_BATCH_SIZE:
            raise ValueError(
                f"delete_batch_size: must be in 1..{DELETE_BATCH_SIZE}, got {delete_batch_size}"
            )
        self._settings = settings
        self._s3 = s3
        self._sqs = sqs
        self._jobs = jobs
        self._heartbeats = heartbeats
        self._deletions = deletions
        self._bucket = settings.bucket
        self._delete_batch_size = delete_batch_size
        self._webhooks = webhooks or WebhookPolicySettings()
        self._webhook_secrets = webhook_secrets
        self._resolve = resolve

    # -- uploads -------------------------------------------------------------------------------
    def create_upload(self, owner: str, request: UploadRequest) -> UploadTicket:
        """A presigned POST that only accepts one object of that type and size at a fresh key.
        Each ticket counts against the owner's daily upload allowance (atomic counter)."""
        key = new_input_key(owner, request.content_type)
        limit = self._settings.max_uploads_per_user_per_day
        try:
            self._jobs.take_upload_slot(owner, limit)
        except ActiveJobLimit as exc:
            raise TooManyRequests(
                f"uploads: you have had {limit} upload tickets today (UTC); the limit is {limit} "
                "(max_uploads_per_user_per_day)",
                retry_after_seconds=QUOTA_RETRY_AFTER_SECONDS,
            ) from exc
        max_bytes = self._settings.upload_max_bytes
        expires = self._settings.upload_url_expires_seconds
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            # S3 tags the object from the POST's `tagging` field; the policy pins it, so the
            # expire-inputs lifecycle rule (tag sdfleet-kind=input) applies to every upload.
            Fields={"Content-Type": request.content_type, "tagging": INPUT_TAGGING_XML},
            Conditions=[
                {"Content-Type": request.content_type},
                {"tagging": INPUT_TAGGING_XML},
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=expires,
        )
        return UploadTicket(
            key=key,
            url=post["url"],
            fields={name: str(value) for name, value in post["fields"].items()},
            expires_in=expires,
            max_bytes=max_bytes,
        )

    # -- job creation --------------------------------------------------------------------------
    def check_input(self, owner: str, request: AnyRequest) -> None:
        """img2img: the input must be one of the caller's uploads, present, and within limits.

        S3 itself does not check a presigned POST's size in the emulator, so the size and
        type are checked here again before any job is written. A training's images and a
        generation's adapter must be the caller's own: anything else is "not found".
        """
        if isinstance(request, TrainRequest):
            for index, image in enumerate(request.instance_images):
                self._check_own_input(owner, image, f"instance_images[{index}]")
            return
        if request.adapter_id is not None:
            self._check_own_adapter(owner, request.adapter_id)
        if request.kind is not JobKind.IMG2IMG or request.input_key is None:
            return
        self._check_upload(owner, request.input_key, "input_key")

    def _check_own_input(self, owner: str, key: str, field: str) -> None:
        if not is_input_of(key, owner) or not self._exists(key):
            raise NotFound(
                f"{field}: no upload of yours at {key[:120]!r} (upload it with POST /uploads)",
                field=field,
            )
        self._check_upload(owner, key, field)

    def _check_own_adapter(self, owner: str, adapter_id: str) -> None:
        if not self._exists(adapter_key(owner, adapter_id)):
            raise NotFound(
                f"adapter_id: you have no model {adapter_id!r} (GET /models)", field="adapter_id"
            )

    def _exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_OBJECT_CODES:
                return False
            raise
        return True

    def _check_upload(self, owner: str, key: str, field: str) -> None:
        if not is_input_of(key, owner):
            raise BadRequest(
                f"{field}: {key[:120]!r} is not under your uploads prefix {inputs_prefix(owner)!r}",
                field=field,
                code=ErrorCode.INVALID_INPUT_KEY,
            )
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_OBJECT_CODES:
                raise BadRequest(
                    f"{field}: no uploaded object at {key!r} (upload it with POST /uploads)",
                    field=field,
                    code=ErrorCode.INVALID_INPUT_KEY,
                ) from exc
            raise
        size = int(head.get("ContentLength", 0))
        limit = self._settings.upload_max_bytes
        if not 1 <= size <= limit:
            raise BadRequest(
                f"{field}: the object is {size} bytes; uploads must be 1..{limit} bytes",
                field=field,
                code=ErrorCode.INVALID_INPUT_KEY,
            )
        content_type = head.get("ContentType")
        if content_type not in INPUT_EXTENSIONS:
            allowed = ", ".join(sorted(INPUT_EXTENSIONS))
            raise BadRequest(
                f"{field}: the object's content type {content_type!r} is not one of {allowed}",
                field=field,
                code=ErrorCode.INVALID_INPUT_KEY,
            )

    def check_webhook(self, owner: str, request: AnyRequest) -> None:
        """The SSRF rules at submission (the notifier checks again at every send), and the
        owner's signing secret exists before the first event is signed with it."""
        if isinstance(request, TrainRequest) or request.webhook_url is None:
            return
        try:
            check_webhook_url(request.webhook_url, self._webhooks.policy_for(owner), self._resolve)
        except WebhookUrlRefused as exc:
            raise BadRequest(
                str(exc), field="webhook_url", code=ErrorCode.WEBHOOK_URL_REFUSED
            ) from exc
        if self._webhook_secrets is not None:
            self._webhook_secrets.get_or_create(owner)

    def rotate_webhook_secret(self, owner: str) -> WebhookSecretIssued:
        if self._webhook_secrets is None:
            raise ServiceUnavailable(
                "webhook secrets are not configured here", retry_after_seconds=60
            )
        return WebhookSecretIssued(secret=self._webhook_secrets.rotate(owner))

    def accept_job(self, owner: str, request: AnyRequest) -> JobAccepted:
        """The input check, then :meth:`submit_job`: what one ``POST /jobs`` does. Under an
        Idempotency-Key this runs at most once, so a replay does not re-check an input that
        has since been deleted."""
        self.check_webhook(owner, request)
        self.check_input(owner, request)
        return self.submit_job(owner, request)

    def submit_job(self, owner: str, request: AnyRequest) -> JobAccepted:
        """Quota check, then the record (queued), then the message. If the message cannot be
        sent the record is withdrawn, so a job is either fully accepted or not at all."""
        limit = self._settings.max_active_jobs_per_user
        lane = lane_for(request, self._settings)
        record = JobRecord(
            job_id=uuid.uuid4().hex,
            owner=owner,
            kind=request.kind,
            params=request.params(),
            lane=lane,
            webhook_url=None if isinstance(request, TrainRequest) else request.webhook_url,
        )
        try:
            # One transaction takes a slot of the owner's active-job counter (conditional on a
            # free one), so parallel requests can never exceed the limit.
            record = self._jobs.create(
                record,
                unless_owner_deleting=True,
                active_limit=limit,
                cost_limit=self._settings.max_active_cost_units_per_user,
            )
        except ActiveJobLimit as exc:
            cost = record.params.cost_units
            if exc.what == "jobs":
                reason = (
                    f"active jobs: you have {exc.active} queued or running; the limit is "
                    f"{limit} (max_active_jobs_per_user). Retry when one finishes."
                )
            elif cost > exc.limit:
                reason = (
                    f"cost units: this job alone costs {cost} (images x steps x width x height "
                    f"/ 512^2); the limit is {exc.limit} (max_active_cost_units_per_user)."
                )
            else:
                reason = (
                    f"cost units: your queued or running jobs hold {exc.active} and this job "
                    f"costs {cost}; the limit is {exc.limit} (max_active_cost_units_per_user). "
                    "Retry when one finishes."
                )
            raise TooManyRequests(reason, retry_after_seconds=QUOTA_RETRY_AFTER_SECONDS) from exc
        except OwnerDataDeleted as exc:
            raise Conflict(
                "account: a deletion of all your data is in progress (GET /me/deletion); "
                "submit again once it has completed",
                code=ErrorCode.DELETION_IN_PROGRESS,
            ) from exc
        message = JobMessage(
            version=MESSAGE_VERSION,
            kind=record.kind,
            params=record.params,
            job_id=record.job_id,
            lane=lane,
            submitted_at=record.created_at,
            webhook_url=record.webhook_url,
        )
        try:
            self._sqs.send_message(
                QueueUrl=self._settings.queue_url(lane.value),
                MessageBody=message.to_body(),
                # Workers take turns between users by this key (sdfleet/fairness.py).
                MessageGroupId=fair_key(owner),
            )
        except (ClientError, BotoCoreError) as exc:
            logger.exception("could not enqueue job %s; withdrawing its record", record.job_id)
            self._withdraw(record)
            raise ServiceUnavailable(
                "the job could not be queued and was not accepted; retry shortly",
                retry_after_seconds=UNAVAILABLE_RETRY_AFTER_SECONDS,
            ) from exc
        logger.info("job accepted", extra={"job_id": record.job_id, "kind": record.kind.value})
        return JobAccepted(job_id=record.job_id, status=record.status)

    def _withdraw(self, record: JobRecord) -> None:
        """Deletes a record whose message never left; failing it is the fallback."""
        try:
            self._jobs.withdraw(record)
            return
        except (ClientError, BotoCoreError, JobNotFound):
            logger.exception("could not delete unqueued job %s; failing it", record.job_id)
        try:
            self._jobs.fail(
                record.job_id,
                JobError(code=JobErrorCode.INTERNAL.value, message="the job could not be queued"),
            )
        except (ClientError, BotoCoreError, TransitionRejected, JobNotFound):
            logger.exception("could not fail unqueued job %s", record.job_id)

    # -- reads ---------------------------------------------------------------------------------
    def get_job(self, owner: str, job_id: str) -> JobView:
        record = self._owned(owner, job_id)
        summary = self._summary(record)
        queue_position: int | None = None
        eta: int | None = None
        if not record.status.is_terminal:
            if record.status is JobStatus.QUEUED:
                queue_position = self._jobs.count_queued_ahead(record)
            workers, seconds_per_job = fleet_speed(self._heartbeats.list())
            if record.kind is JobKind.TRAIN:
                # Minutes, not an image's seconds: the scaler's estimate of one training.
                seconds_per_job = self._settings.training_minutes_per_job * 60.0
            eta = estimate_eta_seconds(
                active=True,
                running=record.status is JobStatus.RUNNING,
                queue_position=queue_position or 0,
                live_workers=workers,
                seconds_per_job=seconds_per_job,
                progress_step=record.progress_step,
                progress_total=record.progress_total,
            )
            if record.progress_eta_seconds is not None:
                # A training knows its own pace better than the fleet's per-image estimate.
                eta = round(record.progress_eta_seconds)
        return JobView(
            **summary.model_dump(),
            queue_position=queue_position,
            eta_seconds=eta,
            webhook_url=record.webhook_url,
            webhook_attempts=record.webhook_attempts,
        )

    def list_jobs(self, owner: str, limit: int, cursor: str | None) -> JobList:
        try:
            records, next_cursor = self._jobs.list_by_owner(owner, limit=limit, cursor=cursor)
        except ValueError as exc:
            raise BadRequest(str(exc), field="cursor") from exc
        return JobList(items=[self._summary(r) for r in records], next_cursor=next_cursor)

    # -- deletion ------------------------------------------------------------------------------
    def delete_job(self, owner: str, job_id: str) -> JobDeleted:
        """queued -> cancelled; running -> cancel requested; finished -> outputs deleted."""
        record = self._owned(owner, job_id)
        for _ in range(MAX_TRANSITION_ATTEMPTS):
            try:
                if record.status is JobStatus.QUEUED:
                    record = self._jobs.cancel(job_id, owner=owner)
                    return JobDeleted(job_id=job_id, status=record.status)
                if record.status is JobStatus.RUNNING:
                    record = self._jobs.request_cancel(job_id, owner=owner)
                    return JobDeleted(job_id=job_id, status=record.status, cancel_requested=True)
            except TransitionRejected:
                record = self._owned(owner, job_id)
                continue
            deleted = self._delete_prefix(outputs_prefix(owner, job_id))
            try:
                record = self._jobs.clear_outputs(job_id, owner)
            except JobNotFound as exc:
                raise NotFound(f"job {job_id!r} not found", field="job_id") from exc
            return JobDeleted(job_id=job_id, status=record.status, outputs_deleted=deleted)
        raise ServiceUnavailable(
            f"job {job_id!r} kept changing status; retry",
            retry_after_seconds=UNAVAILABLE_RETRY_AFTER_SECONDS,
        )

    def request_deletion(self, owner: str) -> DeletionView:
        """Marks the caller as deleting (no job of theirs runs or writes from now on); the
        purge runs in the background (:mod:`sdfleet.deletion`). Asking again while one runs
        returns that one."""
        deletion = self._deletion_store().request(owner)
        logger.info("user deletion requested", extra={"deletion_id": deletion.deletion_id})
        return _deletion_view(deletion)

    def get_deletion(self, owner: str) -> DeletionView:
        deletion = self._deletion_store().get(owner)
        if deletion is None:
            raise NotFound("deletion: you have not asked to delete your data", field="deletion")
        return _deletion_view(deletion)

    def _deletion_store(self) -> DeletionStore:
        if self._deletions is None:
            raise ServiceUnavailable(
                "deletion: not configured", retry_after_seconds=UNAVAILABLE_RETRY_AFTER_SECONDS
            )
        return self._deletions

    # -- helpers -------------------------------------------------------------------------------
    def _owned(self, owner: str, job_id: str) -> JobRecord:
        try:
            return self._jobs.get_for_owner(job_id, owner)
        except JobNotFound as exc:
            raise NotFound(f"job {job_id!r} not found", field="job_id") from exc

    def _summary(self, record: JobRecord) -> JobSummary:
        progress = None
        if (
            record.status is JobStatus.RUNNING
            and record.progress_step is not None
            and record.progress_total
        ):
            progress = Progress(step=record.progress_step, total=record.progress_total)
            if record.progress_loss is not None:
                progress["loss"] = record.progress_loss
        return JobSummary(
            job_id=record.job_id,
            kind=record.kind,
            status=record.status,
            params=record.params,
            progress=progress,
            cancel_requested=record.cancel_requested,
            # A record only names keys in its owner's prefix; checked again before signing.
            outputs=[
                OutputLink(key=key, url=self._presign_get(key))
                for key in record.outputs
                if is_owned_by(key, record.owner)
            ],
            error=ErrorInfo(code=record.error.code, message=record.error.message)
            if record.error
            else None,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            adapter_id=record.adapter_id,
            loss_curve=record.loss_curve or None,
        )

    def _presign_get(self, key: str) -> str:
        return self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=self._settings.output_url_expires_seconds,
        )

    def _delete_prefix(self, prefix: str) -> int:
        """Deletes every object under ``prefix`` (a page of listing is one batch delete)."""
        deleted = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self._bucket,
            Prefix=prefix,
            PaginationConfig={"PageSize": self._delete_batch_size},
        ):
            keys = [obj["Key"] for obj in page.get("Contents", []) if "Key" in obj]
            if not keys:
                continue
            response = self._s3.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
            errors = response.get("Errors", [])
            if errors:
                raise ServiceUnavailable(
                    f"could not delete {len(errors)} objects under {prefix!r}; retry",
                    retry_after_seconds=UNAVAILABLE_RETRY_AFTER_SECONDS,
                )
            deleted += len(keys)
        return deleted


def _deletion_view(deletion: Deletion) -> DeletionView:
    return DeletionView(
        deletion_id=deletion.deletion_id,
        status="completed" if deletion.status == "completed" else "deleting",
        requested_at=deletion.requested_at,
        completed_at=deletion.completed_at,
        jobs_deleted=deletion.jobs_deleted,
        objects_deleted=deletion.objects_deleted,
        idempotency_rows_deleted=deletion.idempotency_rows_deleted,
    )
