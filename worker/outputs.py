"""Uploading a job's PNGs so that a worker that lost its lease never overwrites a winner's.

Outputs go straight to their final keys (``users/<owner>/outputs/<job_id>/NN.png``) with S3
conditional writes:

* a first write uses ``If-None-Match: *``: it never replaces an existing object;
* when an object is already there (a crashed or stale earlier attempt left it), the worker
  reads its ETag, then proves it holds the job's lease (a conditional DynamoDB write), and
  only then replaces exactly that object with ``If-Match: <etag>``.

A stale worker can therefore never replace an object written after its lease was taken over:
its conditions name a state that the new holder has already changed, and its lease check
fails. The new holder's objects are the ones its ``finish`` records, and only the worker that
wins ``finish`` (a conditional write on the lease) deletes the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from sdfleet.keys import output_key
from sdfleet.store import JobStore
from worker.errors import OutputConflict

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Replacing a stale object races only with other stale writers; a few rounds settle it.
MAX_CONFLICT_ROUNDS: Final = 5
_CONFLICT_CODES: Final = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412"})


def _is_conflict(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _CONFLICT_CODES or status in (409, 412)


def _is_missing(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code in {"404", "NoSuchKey", "NotFound"}


class OutputWriter:
    def __init__(
        self, s3: S3Client, bucket: str, store: JobStore, worker_id: str, lease_seconds: float
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._store = store
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds

    def upload(self, owner: str, job_id: str, pngs: list[bytes], attempt: int) -> list[str]:
        """Writes every PNG; raises :class:`sdfleet.errors.LeaseLost` if the job moved on."""
        keys = []
        for index, png in enumerate(pngs):
            key = output_key(owner, job_id, index)
            self._put(
                job_id,
                key,
                png,
                {"job-id": job_id, "worker-id": self._worker_id, "attempt": str(attempt)},
            )
            keys.append(key)
        return keys

    def discard(self, keys: list[str]) -> None:
        """Deletes this worker's objects of a job whose result was not committed (cancelled)."""
        if not keys:
            return
        response = self._s3.delete_objects(
            Bucket=self._bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        errors = response.get("Errors", [])
        if errors:
            raise OutputConflict(f"could not delete {len(errors)} output(s): {errors[0]}")

    def _put(self, job_id: str, key: str, body: bytes, metadata: dict[str, str]) -> None:
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="image/png",
                Metadata=metadata,
                IfNoneMatch="*",
            )
            return
        except ClientError as exc:
            if not _is_conflict(exc):
                raise
        for _round in range(MAX_CONFLICT_ROUNDS):
            try:
                etag = self._s3.head_object(Bucket=self._bucket, Key=key)["ETag"]
            except ClientError as exc:
                if not _is_missing(exc):
                    raise
                etag = None
            # Only the lease holder may replace what is there (raises LeaseLost otherwise).
            self._store.renew_lease(job_id, self._worker_id, self._lease_seconds)
            try:
                if etag is None:
                    self._s3.put_object(
                        Bucket=self._bucket,
                        Key=key,
                        Body=body,
                        ContentType="image/png",
                        Metadata=metadata,
                        IfNoneMatch="*",
                    )
                else:
                    self._s3.put_object(
                        Bucket=self._bucket,
                        Key=key,
                        Body=body,
                        ContentType="image/png",
                        Metadata=metadata,
                        IfMatch=etag,
                    )
                return
            except ClientError as exc:
                if not _is_conflict(exc) and not _is_missing(exc):
                    raise
        raise OutputConflict(f"{key}: still changing after {MAX_CONFLICT_ROUNDS} rounds")
