"""From a claimed record to what the pipeline takes: the seed, and for img2img the input
image read from S3 under a size limit and decoded safely (:mod:`worker.images`)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from sdfleet.keys import adapter_key
from sdfleet.records import ErrorCode, JobRecord
from sdfleet.requests import JobKind, JobParams
from worker.errors import InvalidJobInput
from worker.retry import transient_retry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from worker.generation import GenerationJob

#: An input image larger than this is refused before it is read.
MAX_INPUT_BYTES: Final = 32 * 1024 * 1024
#: Seeds derived from the job id fit the request's seed range.
_SEED_BYTES: Final = 4


def derived_seed(job_id: str) -> int:
    """A job without a seed gets one from its id, so every attempt draws the same images."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:_SEED_BYTES], "big")


class InputLoader:
    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        max_input_pixels: int,
        adapter_dir: str | Path | None = None,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._max_pixels = max_input_pixels
        self._adapter_dir = Path(adapter_dir or tempfile.mkdtemp(prefix="sdfleet-adapters-"))

    def generation_job(self, record: JobRecord) -> GenerationJob:
        """Raises :class:`InvalidJobInput` for an input that can never work."""
        from worker.generation import GenerationJob

        params = record.params
        if not isinstance(params, JobParams):
            raise InvalidJobInput(
                ErrorCode.INVALID_INPUT.value, f"kind: {record.kind.value} is not a generation"
            )
        if params.seed is None:
            params = params.model_copy(update={"seed": derived_seed(record.job_id)})
        init_image = None
        if record.kind is JobKind.IMG2IMG:
            init_image = self.load_image(params)
        adapter_path = adapter_name = None
        if params.adapter_id is not None:
            from worker.adapter_cache import adapter_name as name_of

            adapter_name = name_of(record.owner, params.adapter_id)
            adapter_path = str(self.adapter_file(record.owner, params.adapter_id, adapter_name))
        return GenerationJob(
            job_id=record.job_id,
            kind=record.kind,
            params=params,
            init_image=init_image,
            adapter_path=adapter_path,
            adapter_name=adapter_name,
        )

    def adapter_file(self, owner: str, adapter_id: str, name: str) -> Path:
        """The owner's adapter as a local file. Its key is built from the record's owner, so
        another user's adapter id is simply not found. Every job asks S3 (a deleted adapter is
        never used again); the bytes are read only for a version not on disk yet."""
        key = adapter_key(owner, adapter_id)
        try:
            head = transient_retry(self._s3.head_object)(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise InvalidJobInput(
                    ErrorCode.INPUT_MISSING.value,
                    f"adapter_id: you have no model {adapter_id!r}",
                ) from exc
            raise
        etag = str(head.get("ETag", "")).strip('"')
        path = self._adapter_dir / f"{name}-{etag}.safetensors"
        if not path.is_file():
            data = transient_retry(self._s3.get_object)(Bucket=self._bucket, Key=key)["Body"]
            self._adapter_dir.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(".part")
            scratch.write_bytes(data.read())
            os.replace(scratch, path)
        return path

    def load_image(self, params: JobParams) -> Any:
        from worker.images import decode_input_image

        key = params.input_key or ""
        try:
            response = transient_retry(self._s3.get_object)(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise InvalidJobInput(
                    ErrorCode.INPUT_MISSING.value, f"input_key: {key!r} does not exist"
                ) from exc
            raise
        size = int(response.get("ContentLength", 0))
        if size > MAX_INPUT_BYTES:
            response["Body"].close()
            raise InvalidJobInput(
                ErrorCode.INVALID_INPUT.value,
                f"input_key: {key!r} is {size} bytes, over the limit of {MAX_INPUT_BYTES}",
            )
        data = response["Body"].read()
        return decode_input_image(
            data, max_pixels=self._max_pixels, width=params.width, height=params.height
        )
