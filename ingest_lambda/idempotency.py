"""``Idempotency-Key`` for job creation, on Powertools' idempotency utility (DynamoDB).

The key is scoped to the caller: the stored id hashes ``[owner, key]``, so two users may use
the same key without meeting. The normalized request is the validation payload: the same key
with the same request returns the first response; with another request, 409. A failed
attempt (quota, queue down) leaves no record, so it can be retried with the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from ingest_lambda.errors import Conflict, ErrorCode, ServiceUnavailable
from ingest_lambda.limits import IDEMPOTENCY_TTL_SECONDS, UNAVAILABLE_RETRY_AFTER_SECONDS
from ingest_lambda.models import JobAccepted
from ingest_lambda.parsing import IDEMPOTENCY_HEADER
from sdfleet.deletion import IDEMPOTENCY_KEY_PREFIX, idempotency_owner_prefix
from sdfleet.job_kinds import AnyRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from mypy_boto3_dynamodb import DynamoDBClient

#: Table layout Terraform creates: hash key ``id`` (S), TTL attribute ``expiration``.
KEY_ATTR: Final = "id"
EXPIRY_ATTR: Final = "expiration"
KEY_PREFIX: Final = IDEMPOTENCY_KEY_PREFIX
IN_PROGRESS_RETRY_AFTER_SECONDS: Final = 2


class _Replayed(dict[str, Any]):
    """A response served from the idempotency store rather than computed now."""


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return _Replayed(response)


class IdempotentJobSubmitter:
    """Runs ``submit(owner, request)`` at most once per (owner, Idempotency-Key)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table_name: str,
        submit: Callable[[str, AnyRequest], JobAccepted],
        expires_after_seconds: int = IDEMPOTENCY_TTL_SECONDS,
    ) -> None:
        self._submit = submit
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr=KEY_ATTR,
            expiry_attr=EXPIRY_ATTR,
            boto3_client=dynamodb,
        )
        config = IdempotencyConfig(
            event_key_jmespath="[owner, key]",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
            response_hook=_mark_replayed,
        )
        self._config = config
        self._persistence = persistence

    def _runner(self, owner: str) -> Callable[..., dict[str, Any]]:
        """The idempotent call with the owner in the stored id's prefix, so ``DELETE /me``
        can find and delete the owner's rows (the rest of the id is Powertools' hash)."""
        run: Callable[..., dict[str, Any]] = idempotent_function(
            self._submit_once,
            data_keyword_argument="payload",
            persistence_store=self._persistence,
            config=self._config,
            key_prefix=idempotency_owner_prefix(owner),
        )
        return run

    def _submit_once(self, *, payload: dict[str, Any], request: AnyRequest) -> dict[str, Any]:
        return self._submit(payload["owner"], request).model_dump(mode="json")

    def submit(
        self, owner: str, key: str, request: AnyRequest, lambda_context: Any = None
    ) -> tuple[JobAccepted, bool]:
        """(the response, whether it was replayed from an earlier request).

        With the Lambda context, an in-progress record expires when the invocation would
        have timed out, so a crashed attempt does not block its retries for long.
        """
        if hasattr(lambda_context, "get_remaining_time_in_millis"):
            self._config.register_lambda_context(lambda_context)
        payload = {
            "owner": owner,
            "key": key,
            "request": request.model_dump(mode="json", exclude_none=True),
        }
        try:
            result = self._runner(owner)(payload=payload, request=request)
        except IdempotencyValidationError as exc:
            raise Conflict(
                f"{IDEMPOTENCY_HEADER}: {key[:60]!r} was already used with a different request "
                "body; use a new key for a new job",
                field=IDEMPOTENCY_HEADER,
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            ) from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Conflict(
                f"{IDEMPOTENCY_HEADER}: a request with key {key[:60]!r} is still in progress",
                field=IDEMPOTENCY_HEADER,
                code=ErrorCode.IDEMPOTENCY_IN_PROGRESS,
                retry_after_seconds=IN_PROGRESS_RETRY_AFTER_SECONDS,
            ) from exc
        except IdempotencyPersistenceLayerError as exc:
            raise ServiceUnavailable(
                "the idempotency store is unavailable; nothing was accepted, retry shortly",
                retry_after_seconds=UNAVAILABLE_RETRY_AFTER_SECONDS,
            ) from exc
        return JobAccepted.model_validate(result), isinstance(result, _Replayed)
