"""The ingest service's own defences, called directly: no route, no request model in front.

Each defence here has a layer before it that usually refuses the same thing first (the
presigned POST's size range, the worker that only writes under its job's owner); these tests
take that layer away and check that the service alone still holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from ingest_lambda.app import build_service
from ingest_lambda.errors import ApiError, BadRequest
from ingest_lambda.limits import QUOTA_RETRY_AFTER_SECONDS, UNAVAILABLE_RETRY_AFTER_SECONDS
from ingest_lambda.models import UploadRequest
from ingest_lambda.services import IngestService
from notifier_lambda.attempts import record_attempt
from sdfleet.deletion import DeletionStore
from sdfleet.fairness import fair_key
from sdfleet.heartbeats import HeartbeatStore
from sdfleet.keys import inputs_prefix, output_key, outputs_prefix
from sdfleet.messages import MESSAGE_VERSION, JobMessage, Lane
from sdfleet.records import JobError, JobRecord, JobStatus
from sdfleet.requests import JobKind, JobRequest
from sdfleet.store import JobStore
from sdfleet.training import TrainRequest
from sdfleet.webhook_attempts import AttemptOutcome, WebhookAttempt
from sdfleet.webhook_secrets import WebhookSecrets
from sdfleet.webhook_settings import WebhookPolicySettings
from sdfleet.webhook_urls import Resolver, resolve_host
from tests.integration.ingest.conftest import PNG_BYTES, USER_A, USER_B, IngestApi

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.emulator

UPLOAD_LIMIT = 64


def service_of(api: IngestApi) -> IngestService:
    return build_service(
        api.settings.model_copy(update={"upload_max_bytes": UPLOAD_LIMIT}), api.clients
    )


def img2img(key: str) -> JobRequest:
    return JobRequest(kind=JobKind.IMG2IMG, prompt="a cat", input_key=key)


@pytest.mark.parametrize(
    ("size", "accepted"), [(0, False), (1, True), (UPLOAD_LIMIT, True), (UPLOAD_LIMIT + 1, False)]
)
def test_input_size_is_checked_at_both_bounds(api: IngestApi, size: int, accepted: bool) -> None:
    key = api.put_input(USER_A, body=b"\x89" * size)
    service = service_of(api)
    if accepted:
        service.check_input(USER_A, img2img(key))
        return
    with pytest.raises(BadRequest) as refused:
        service.check_input(USER_A, img2img(key))
    assert f"the object is {size} bytes; uploads must be 1..{UPLOAD_LIMIT} bytes" in str(
        refused.value
    )


def test_output_links_name_only_the_owners_own_objects(api: IngestApi) -> None:
    """A record that names another user's object (a bug or a tampered record) never yields a
    link to it: the service filters on the owner when it signs."""
    service = service_of(api)
    job_id = service.submit_job(USER_A, JobRequest(prompt="a cat")).job_id
    own = output_key(USER_A, job_id, 0)
    foreign = output_key(USER_B, "someone-elses-job", 0)
    for key in (own, foreign):
        api.clients.s3().put_object(Bucket=api.settings.bucket, Key=key, Body=PNG_BYTES)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    api.store.finish(job_id, "worker-1", [own, foreign], seeds=[1, 2])

    view = service.get_job(USER_A, job_id)

    assert [link.key for link in view.outputs] == [own]
    assert all(USER_B not in link.url for link in view.outputs)


# -- what each refusal tells the caller ------------------------------------------------------


def refusal(call: Callable[[], object]) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The HTTP status, error body and headers the API answers ``call``'s refusal with."""
    with pytest.raises(ApiError) as refused:
        call()
    return int(refused.value.status), refused.value.body()["error"], refused.value.headers()


def service_with(
    api: IngestApi,
    jobs: JobStore | None = None,
    delete_batch_size: int = 1000,
    s3: S3Client | None = None,
    webhooks: WebhookPolicySettings | None = None,
    resolve: Resolver = resolve_host,
    **changes: Any,
) -> IngestService:
    """The service with no webhook secrets or deletion store, the given job store, S3
    client, webhook policy and resolver, and settings changed."""
    settings = api.settings.model_copy(update={"upload_max_bytes": UPLOAD_LIMIT, **changes})
    dynamodb = api.clients.dynamodb()
    return IngestService(
        settings,
        s3=s3 or api.clients.s3(),
        sqs=api.clients.sqs(),
        jobs=jobs or JobStore(dynamodb, settings.jobs_table),
        heartbeats=HeartbeatStore(dynamodb, settings.workers_table),
        delete_batch_size=delete_batch_size,
        webhooks=webhooks,
        resolve=resolve,
    )


def long_key(owner: str) -> str:
    """A key under ``owner``'s inputs, longer than the 120 characters a message quotes of it."""
    return f"{inputs_prefix(owner)}{'k' * 150}.png"


def small_input(api: IngestApi, owner: str, body: bytes = b"\x89PNG", **kwargs: Any) -> str:
    """An upload within UPLOAD_LIMIT."""
    return api.put_input(owner, body=body, **kwargs)


def training(*images: str) -> TrainRequest:
    return TrainRequest.model_validate(
        {"kind": "train", "instance_images": list(images), "instance_prompt": "sks"}
    )


def test_the_upload_allowance_refusal_names_its_setting_and_when_to_retry(
    api: IngestApi,
) -> None:
    service = service_with(api, max_uploads_per_user_per_day=1)
    service.create_upload(USER_A, UploadRequest(content_type="image/png"))
    status, error, headers = refusal(
        lambda: service.create_upload(USER_A, UploadRequest(content_type="image/png"))
    )
    assert (status, error) == (
        429,
        {
            "code": "too_many_active_jobs",
            "message": "uploads: you have had 1 upload tickets today (UTC); the limit is 1 "
            "(max_uploads_per_user_per_day)",
            "field": None,
        },
    )
    assert headers == {"Retry-After": str(QUOTA_RETRY_AFTER_SECONDS)}


def test_a_training_image_not_yours_is_not_found_quoting_the_start_of_its_key(
    api: IngestApi,
) -> None:
    theirs = long_key(USER_B)
    own = [small_input(api, USER_A) for _ in range(2)]
    status, error, _ = refusal(
        lambda: service_with(api).check_input(USER_A, training(*own, theirs))
    )
    assert (status, error) == (
        404,
        {
            "code": "not_found",
            "message": f"instance_images[2]: no upload of yours at {theirs[:120]!r} "
            "(upload it with POST /uploads)",
            "field": "instance_images[2]",
        },
    )


def test_an_empty_training_image_of_yours_is_refused_naming_that_image(api: IngestApi) -> None:
    images = [small_input(api, USER_A), small_input(api, USER_A, b""), small_input(api, USER_A)]
    status, error, _ = refusal(lambda: service_with(api).check_input(USER_A, training(*images)))
    assert (status, error) == (
        400,
        {
            "code": "invalid_input_key",
            "message": f"instance_images[1]: the object is 0 bytes; uploads must be "
            f"1..{UPLOAD_LIMIT} bytes",
            "field": "instance_images[1]",
        },
    )


def test_a_missing_adapter_is_not_found_naming_it(api: IngestApi) -> None:
    request = JobRequest(prompt="a dog", adapter_id="m9")
    status, error, _ = refusal(lambda: service_with(api).check_input(USER_A, request))
    assert (status, error) == (
        404,
        {
            "code": "not_found",
            "message": "adapter_id: you have no model 'm9' (GET /models)",
            "field": "adapter_id",
        },
    )


def test_an_input_outside_your_prefix_is_refused_quoting_the_start_of_its_key(
    api: IngestApi,
) -> None:
    theirs = long_key(USER_B)
    status, error, _ = refusal(lambda: service_with(api).check_input(USER_A, img2img(theirs)))
    assert (status, error) == (
        400,
        {
            "code": "invalid_input_key",
            "message": f"input_key: {theirs[:120]!r} is not under your uploads prefix "
            f"{inputs_prefix(USER_A)!r}",
            "field": "input_key",
        },
    )


def test_an_input_of_a_type_not_an_image_is_refused_listing_the_types(api: IngestApi) -> None:
    key = small_input(api, USER_A, content_type="text/plain")
    status, error, _ = refusal(lambda: service_with(api).check_input(USER_A, img2img(key)))
    assert (status, error) == (
        400,
        {
            "code": "invalid_input_key",
            "message": "input_key: the object's content type 'text/plain' is not one of "
            "image/jpeg, image/png, image/webp",
            "field": "input_key",
        },
    )


def test_an_empty_input_is_refused_as_an_input_key_problem(api: IngestApi) -> None:
    key = api.put_input(USER_A, body=b"")
    status, error, _ = refusal(lambda: service_with(api).check_input(USER_A, img2img(key)))
    assert (status, error["code"], error["field"]) == (400, "invalid_input_key", "input_key")


def test_rotating_a_secret_where_none_are_kept_is_unavailable_for_a_minute(
    api: IngestApi,
) -> None:
    status, error, headers = refusal(lambda: service_with(api).rotate_webhook_secret(USER_A))
    assert (status, error) == (
        503,
        {
            "code": "unavailable",
            "message": "webhook secrets are not configured here",
            "field": None,
        },
    )
    assert headers == {"Retry-After": "60"}


def test_asking_for_a_deletion_never_requested_is_not_found(api: IngestApi) -> None:
    status, error, _ = refusal(
        lambda: build_service(api.settings, api.clients).get_deletion(USER_A)
    )
    assert (status, error) == (
        404,
        {
            "code": "not_found",
            "message": "deletion: you have not asked to delete your data",
            "field": "deletion",
        },
    )


# -- delete_job between its read and its conditional write -----------------------------------


class RacedStore(JobStore):
    """The job store, with ``meanwhile`` run once right after the service's first read of a
    job: what another writer (a worker, a purge) does in the window before the service's
    conditional write."""

    def __init__(self, api: IngestApi, meanwhile: Callable[[JobRecord], object]) -> None:
        super().__init__(api.clients.dynamodb(), api.settings.jobs_table)
        self._meanwhile: Callable[[JobRecord], object] | None = meanwhile

    def get_for_owner(self, job_id: str, owner: str) -> JobRecord:
        record = super().get_for_owner(job_id, owner)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile(record)
        return record


def _replaced_by(api: IngestApi, owner: str, claimed: bool) -> Callable[[JobRecord], None]:
    """Deletes the job's record and writes ``owner``'s under the same id (queued or running)."""

    def replace(record: JobRecord) -> None:
        table = api.settings.jobs_table
        api.clients.dynamodb().delete_item(TableName=table, Key={"job_id": {"S": record.job_id}})
        api.store.create(
            JobRecord(
                job_id=record.job_id,
                owner=owner,
                kind=record.kind,
                params=record.params,
                lane=record.lane,
            )
        )
        if claimed:
            api.store.claim(record.job_id, "worker-2", lease_seconds=60)

    return replace


def _submitted(api: IngestApi) -> str:
    return service_with(api).submit_job(USER_A, JobRequest(prompt="a cat")).job_id


def test_a_job_claimed_between_the_read_and_the_cancel_is_asked_to_stop(api: IngestApi) -> None:
    job_id = _submitted(api)
    store = RacedStore(api, lambda r: api.store.claim(r.job_id, "worker-1", lease_seconds=60))
    deleted = service_with(api, jobs=store).delete_job(USER_A, job_id)
    assert (deleted.status, deleted.cancel_requested, deleted.outputs_deleted) == (
        JobStatus.RUNNING,
        True,
        0,
    )
    assert api.store.get(job_id).cancel_requested
    assert service_with(api).get_job(USER_A, job_id).cancel_requested


@pytest.mark.parametrize("claimed", [False, True], ids=["queued", "running"])
def test_a_job_that_became_another_owners_before_the_write_is_not_found_and_untouched(
    api: IngestApi, claimed: bool
) -> None:
    """The store's owner condition on its own: the service read the caller's job, then another
    owner's record took its id. The cancel must not reach that record."""
    job_id = _submitted(api)
    if claimed:
        api.store.claim(job_id, "worker-1", lease_seconds=60)
    store = RacedStore(api, _replaced_by(api, USER_B, claimed))
    status, error, _ = refusal(lambda: service_with(api, jobs=store).delete_job(USER_A, job_id))
    assert (status, error) == (
        404,
        {"code": "not_found", "message": f"job {job_id!r} not found", "field": "job_id"},
    )
    after = api.store.get(job_id)
    assert after.owner == USER_B
    assert (after.status, after.cancel_requested) == (
        JobStatus.RUNNING if claimed else JobStatus.QUEUED,
        False,
    )


def test_a_finished_job_whose_record_went_before_its_outputs_were_cleared_is_not_found(
    api: IngestApi,
) -> None:
    job_id = _submitted(api)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    api.store.fail(job_id, JobError(code="internal", message="boom"), worker_id="worker-1")
    table = api.settings.jobs_table

    def purge(record: JobRecord) -> None:
        api.clients.dynamodb().delete_item(TableName=table, Key={"job_id": {"S": record.job_id}})

    store = RacedStore(api, purge)
    status, error, _ = refusal(lambda: service_with(api, jobs=store).delete_job(USER_A, job_id))
    assert (status, error) == (
        404,
        {"code": "not_found", "message": f"job {job_id!r} not found", "field": "job_id"},
    )


class StaleStore(JobStore):
    """Every read of a job finds it still queued, one change behind the table."""

    def get_for_owner(self, job_id: str, owner: str) -> JobRecord:
        return super().get_for_owner(job_id, owner).model_copy(update={"status": JobStatus.QUEUED})


def test_a_job_that_keeps_changing_is_unavailable_with_a_retry(api: IngestApi) -> None:
    job_id = _submitted(api)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    store = StaleStore(api.clients.dynamodb(), api.settings.jobs_table)
    status, error, headers = refusal(
        lambda: service_with(api, jobs=store).delete_job(USER_A, job_id)
    )
    assert (status, error) == (
        503,
        {
            "code": "unavailable",
            "message": f"job {job_id!r} kept changing status; retry",
            "field": None,
        },
    )
    assert headers == {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
    assert api.store.get(job_id).status is JobStatus.RUNNING


# -- deleting a finished job's outputs -------------------------------------------------------


def _finished_with_outputs(api: IngestApi, count: int) -> tuple[str, list[str]]:
    job_id = _submitted(api)
    keys = [output_key(USER_A, job_id, i) for i in range(count)]
    for key in keys:
        api.clients.s3().put_object(Bucket=api.settings.bucket, Key=key, Body=PNG_BYTES)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    api.store.finish(job_id, "worker-1", keys, seeds=list(range(count)))
    return job_id, keys


def test_a_finished_job_without_outputs_is_deleted_with_none_to_remove(api: IngestApi) -> None:
    job_id = _submitted(api)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    api.store.fail(job_id, JobError(code="internal", message="boom"), worker_id="worker-1")
    deleted = service_with(api).delete_job(USER_A, job_id)
    assert (deleted.status, deleted.outputs_deleted) == (JobStatus.FAILED, 0)


def test_outputs_are_deleted_in_batches_of_the_batch_size_and_all_counted(api: IngestApi) -> None:
    job_id, keys = _finished_with_outputs(api, 5)
    batches: list[int] = []
    s3 = api.clients.s3()
    s3.meta.events.register(
        "provide-client-params.s3.DeleteObjects",
        lambda params, **_: batches.append(len(params["Delete"]["Objects"])),
    )
    deleted = service_with(api, delete_batch_size=2, s3=s3).delete_job(USER_A, job_id)
    assert deleted.outputs_deleted == 5
    assert batches == [2, 2, 1]
    assert not set(keys) & set(api.object_keys())


# -- a job whose message could not be sent ---------------------------------------------------


class TakenBeforeWithdrawal(JobStore):
    """A worker claims the record (with ``lease_seconds``) just before the service withdraws
    it, so the withdrawal (conditional on a queued record) fails."""

    def __init__(self, api: IngestApi, lease_seconds: float) -> None:
        super().__init__(api.clients.dynamodb(), api.settings.jobs_table)
        self._lease_seconds = lease_seconds

    def withdraw(self, record: JobRecord) -> None:
        self.claim(record.job_id, "worker-9", lease_seconds=self._lease_seconds)
        super().withdraw(record)


def _unsendable(api: IngestApi, store: JobStore) -> IngestService:
    return service_with(
        api, jobs=store, interactive_queue_url=api.fleet.queues.interactive_url + "-gone"
    )


def test_an_unqueued_job_that_cannot_be_withdrawn_is_failed_saying_why(
    api: IngestApi, caplog: pytest.LogCaptureFixture
) -> None:
    # The worker's lease has already lapsed, so the job may be failed without its worker id.
    service = _unsendable(api, TakenBeforeWithdrawal(api, lease_seconds=-1))
    status, error, headers = refusal(lambda: service.submit_job(USER_A, JobRequest(prompt="a cat")))
    assert (status, error) == (
        503,
        {
            "code": "unavailable",
            "message": "the job could not be queued and was not accepted; retry shortly",
            "field": None,
        },
    )
    assert headers == {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
    [record] = api.store.list_by_owner(USER_A)[0]
    assert record.status is JobStatus.FAILED
    assert record.error == JobError(code="internal", message="the job could not be queued")
    assert f"could not enqueue job {record.job_id}; withdrawing its record" in caplog.messages
    assert f"could not delete unqueued job {record.job_id}; failing it" in caplog.messages


def test_an_unqueued_job_that_can_be_neither_withdrawn_nor_failed_is_logged(
    api: IngestApi, caplog: pytest.LogCaptureFixture
) -> None:
    service = _unsendable(api, TakenBeforeWithdrawal(api, lease_seconds=60))
    status, _, _ = refusal(lambda: service.submit_job(USER_A, JobRequest(prompt="a cat")))
    assert status == 503
    [record] = api.store.list_by_owner(USER_A)[0]
    assert record.status is JobStatus.RUNNING
    assert f"could not fail unqueued job {record.job_id}" in caplog.messages


# -- deletion of all of a user's data --------------------------------------------------------


def test_deletion_where_it_is_not_configured_is_unavailable_with_a_retry(api: IngestApi) -> None:
    for call in (service_with(api).request_deletion, service_with(api).get_deletion):
        status, error, headers = refusal(lambda call=call: call(USER_A))  # type: ignore[misc]
        assert (status, error) == (
            503,
            {"code": "unavailable", "message": "deletion: not configured", "field": None},
        )
        assert headers == {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}


def test_a_deletion_request_is_logged_with_its_id(
    api: IngestApi, caplog: pytest.LogCaptureFixture
) -> None:
    view = build_service(api.settings, api.clients).request_deletion(USER_A)
    [logged] = [r for r in caplog.records if r.getMessage() == "user deletion requested"]
    assert logged.__dict__["deletion_id"] == view.deletion_id


# -- progress ---------------------------------------------------------------------------------


def test_progress_is_shown_only_for_a_running_job_that_has_reported_some(api: IngestApi) -> None:
    service = service_with(api)
    job_id = _submitted(api)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    assert service.get_job(USER_A, job_id).progress is None
    api.store.renew_lease(job_id, "worker-1", 60, progress_step=3, progress_total=10)
    assert service.get_job(USER_A, job_id).progress == {"step": 3, "total": 10}
    api.store.finish(job_id, "worker-1", [], seeds=[])
    assert service.get_job(USER_A, job_id).progress is None


def test_a_trainings_view_shows_its_loss_while_running_and_its_model_when_done(
    api: IngestApi,
) -> None:
    images = [small_input(api, USER_A) for _ in range(3)]
    service = service_with(api)
    job_id = service.submit_job(USER_A, training(*images)).job_id
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    api.store.renew_lease(
        job_id, "worker-1", 60, progress_step=5, progress_total=50, progress_loss=0.25
    )
    assert service.get_job(USER_A, job_id).progress == {"step": 5, "total": 50, "loss": 0.25}
    api.store.finish(job_id, "worker-1", [], seeds=[], loss_curve=[0.5, 0.25], adapter_id="lora-1")
    view = service.get_job(USER_A, job_id)
    assert (view.adapter_id, view.loss_curve) == ("lora-1", [0.5, 0.25])


def test_an_object_s3_refuses_to_delete_fails_the_deletion_with_a_retry(api: IngestApi) -> None:
    """S3 answers DeleteObjects with a per-key error (AccessDenied, say) and keeps that object.
    The emulator never refuses a key, so the refusal is added to its real answer, and the
    object put back, as S3 would have left it."""
    job_id, keys = _finished_with_outputs(api, 3)
    kept = keys[1]
    s3 = api.clients.s3()

    def refuse_one(parsed: dict[str, Any], **_: Any) -> None:
        api.clients.s3().put_object(Bucket=api.settings.bucket, Key=kept, Body=PNG_BYTES)
        parsed["Errors"] = [{"Key": kept, "Code": "AccessDenied", "Message": "Access Denied"}]

    s3.meta.events.register("after-call.s3.DeleteObjects", refuse_one)
    service = service_with(api, s3=s3)
    status, error, headers = refusal(lambda: service.delete_job(USER_A, job_id))
    assert (status, error) == (
        503,
        {
            "code": "unavailable",
            "message": f"could not delete 1 objects under {outputs_prefix(USER_A, job_id)!r}; "
            "retry",
            "field": None,
        },
    )
    assert headers == {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
    # Nothing is cleared while an output remains: a retry finds the record as it was.
    assert api.store.get(job_id).outputs == keys
    assert kept in api.object_keys()


# -- construction, reads and submission -------------------------------------------------------


@pytest.mark.parametrize(("size", "accepted"), [(0, False), (1, True), (1000, True), (1001, False)])
def test_the_delete_batch_size_is_checked_at_both_bounds(
    api: IngestApi, size: int, accepted: bool
) -> None:
    if accepted:
        service_with(api, delete_batch_size=size)
        return
    with pytest.raises(ValueError) as refused:
        service_with(api, delete_batch_size=size)
    assert str(refused.value) == f"delete_batch_size: must be in 1..1000, got {size}"


def test_another_owners_job_is_not_found_naming_the_id(api: IngestApi) -> None:
    job_id = _submitted(api)
    status, error, _ = refusal(lambda: service_with(api).get_job(USER_B, job_id))
    assert (status, error) == (
        404,
        {"code": "not_found", "message": f"job {job_id!r} not found", "field": "job_id"},
    )


def test_the_queued_message_carries_the_records_contract_and_the_owners_turn_key(
    api: IngestApi,
) -> None:
    service = service_with(api)
    request = JobRequest(prompt="a cat", webhook_url="https://hooks.example.com/e")
    job_id = service.submit_job(USER_A, request).job_id
    record = api.store.get(job_id)
    [message] = api.clients.sqs().receive_message(
        QueueUrl=api.fleet.queues.interactive_url,
        AttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    assert JobMessage.from_body(message["Body"]) == JobMessage(
        version=MESSAGE_VERSION,
        kind=JobKind.TXT2IMG,
        params=record.params,
        job_id=job_id,
        lane=Lane.INTERACTIVE,
        submitted_at=record.created_at,
        webhook_url="https://hooks.example.com/e",
    )
    assert message["Attributes"]["MessageGroupId"] == fair_key(USER_A)


def test_the_active_jobs_refusal_says_how_many_and_the_setting(api: IngestApi) -> None:
    service = service_with(api, max_active_jobs_per_user=1)
    service.submit_job(USER_A, JobRequest(prompt="a cat"))
    status, error, headers = refusal(lambda: service.submit_job(USER_A, JobRequest(prompt="a cat")))
    assert (status, error) == (
        429,
        {
            "code": "too_many_active_jobs",
            "message": "active jobs: you have 1 queued or running; the limit is 1 "
            "(max_active_jobs_per_user). Retry when one finishes.",
            "field": None,
        },
    )
    assert headers == {"Retry-After": str(QUOTA_RETRY_AFTER_SECONDS)}


def test_the_cost_refusals_tell_a_job_too_big_alone_from_a_full_allowance(
    api: IngestApi,
) -> None:
    cost = api.store.get(_submitted(api)).cost_units
    # A job of exactly the limit fits alone: it is refused for what the others hold.
    service = service_with(api, max_active_cost_units_per_user=cost)
    _, held, headers = refusal(lambda: service.submit_job(USER_A, JobRequest(prompt="a cat")))
    assert held["message"] == (
        f"cost units: your queued or running jobs hold {cost} and this job costs {cost}; the "
        f"limit is {cost} (max_active_cost_units_per_user). Retry when one finishes."
    )
    assert headers == {"Retry-After": str(QUOTA_RETRY_AFTER_SECONDS)}
    small = service_with(api, max_active_cost_units_per_user=cost - 1)
    _, alone, _ = refusal(lambda: small.submit_job(USER_B, JobRequest(prompt="a cat")))
    assert alone["message"] == (
        f"cost units: this job alone costs {cost} (images x steps x width x height / 512^2); "
        f"the limit is {cost - 1} (max_active_cost_units_per_user)."
    )


def test_a_job_submitted_during_a_deletion_is_a_conflict_saying_so(api: IngestApi) -> None:
    DeletionStore(api.clients.dynamodb(), api.settings.jobs_table).request(USER_A)
    status, error, _ = refusal(
        lambda: service_with(api).submit_job(USER_A, JobRequest(prompt="a cat"))
    )
    assert (status, error) == (
        409,
        {
            "code": "deletion_in_progress",
            "message": "account: a deletion of all your data is in progress (GET /me/deletion); "
            "submit again once it has completed",
            "field": None,
        },
    )


def test_a_finished_job_has_no_place_and_no_eta_and_a_training_its_own_eta(
    api: IngestApi,
) -> None:
    service = service_with(api)
    done = _submitted(api)
    api.store.claim(done, "worker-1", lease_seconds=60)
    api.store.finish(done, "worker-1", [], seeds=[])
    view = service.get_job(USER_A, done)
    assert (view.queue_position, view.eta_seconds) == (None, None)
    images = [small_input(api, USER_A) for _ in range(3)]
    job_id = service.submit_job(USER_A, training(*images)).job_id
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    api.store.renew_lease(
        job_id, "worker-1", 60, progress_step=5, progress_total=50, progress_eta_seconds=99.6
    )
    assert service.get_job(USER_A, job_id).eta_seconds == 100


PUBLIC_HOOK = "https://93.184.216.34/hooks/sdfleet"


def test_a_webhook_job_creates_its_owners_signing_secret_at_submission(api: IngestApi) -> None:
    service = build_service(api.settings, api.clients)
    secrets = WebhookSecrets(api.clients.ssm(), WebhookPolicySettings().webhook_secrets_path)
    names = [secrets.parameter_name(owner) for owner in (USER_A, USER_B)]

    def stored(name: str) -> bool:
        found = api.clients.ssm().get_parameters(Names=[name])["Parameters"]
        return bool(found)

    service.accept_job(USER_B, JobRequest(prompt="a cat"))
    assert not stored(names[1])
    service.accept_job(USER_A, JobRequest(prompt="a cat", webhook_url=PUBLIC_HOOK))
    assert stored(names[0])
    # Where no secrets are kept, the URL is still checked and the job accepted.
    service_with(api).accept_job(USER_B, JobRequest(prompt="a cat", webhook_url=PUBLIC_HOOK))
    status, error, _ = refusal(
        lambda: service_with(api).accept_job(
            USER_B, JobRequest(prompt="a cat", webhook_url="https://127.0.0.1/h")
        )
    )
    assert (status, error["code"], error["field"]) == (400, "webhook_url_refused", "webhook_url")


def test_an_accepted_job_is_logged_with_its_id_and_kind(
    api: IngestApi, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = _submitted(api)
    [logged] = [r for r in caplog.records if r.getMessage() == "job accepted"]
    assert (logged.__dict__["job_id"], logged.__dict__["kind"]) == (job_id, "txt2img")


def test_a_jobs_view_lists_its_webhook_attempts(api: IngestApi) -> None:
    job_id = _submitted(api)
    attempt = WebhookAttempt(
        event_id="e-1",
        event_type="job.queued",
        attempt=1,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        outcome=AttemptOutcome.DELIVERED,
        status_code=200,
    )
    assert record_attempt(api.clients.dynamodb(), api.settings.jobs_table, job_id, attempt)
    assert service_with(api).get_job(USER_A, job_id).webhook_attempts == [attempt]


def test_a_webhook_host_is_checked_by_the_addresses_it_resolves_to(api: IngestApi) -> None:
    """The service resolves a host name with the resolver it was given (no DNS here)."""
    service = service_with(
        api,
        api.store,
        resolve=lambda host, port: ["10.1.2.3"] if host == "hooks.example.com" else [],
    )
    request = JobRequest(prompt="a cat", webhook_url="https://hooks.example.com/h")
    status, error, _ = refusal(lambda: service.check_webhook(USER_A, request))
    assert (status, error["code"], error["field"]) == (400, "webhook_url_refused", "webhook_url")
    assert "private_address" in error["message"]


def test_a_webhook_is_checked_against_its_owners_own_allowed_domains(api: IngestApi) -> None:
    service = service_with(
        api,
        api.store,
        webhooks=WebhookPolicySettings(webhook_allowed_domains={USER_A: ["allowed.example"]}),
        resolve=lambda host, port: ["93.184.216.34"],
    )
    request = JobRequest(prompt="a cat", webhook_url="https://other.example/h")
    status, error, _ = refusal(lambda: service.check_webhook(USER_A, request))
    assert (status, error["code"], error["field"]) == (400, "webhook_url_refused", "webhook_url")
    service.check_webhook(USER_B, request)
