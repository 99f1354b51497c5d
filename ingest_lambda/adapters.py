"""``/models``: the caller's trained adapters (LoRA), read from ``users/<sub>/models/``.

Everything is found under the caller's own prefix, so another user's adapter id is simply
"not found" (404), never "forbidden". An adapter is listed once its ``adapter.safetensors``
exists (a training in progress has only its checkpoint there)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from ingest_lambda.errors import NotFound
from ingest_lambda.models import ModelDeleted, ModelList, ModelSummary, ModelView
from sdfleet.keys import (
    ADAPTER_FILE,
    adapter_key,
    adapter_metadata_key,
    models_prefix,
    models_root,
)
from sdfleet.requests import is_adapter_id
from sdfleet.settings import IngestSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})
#: S3's DeleteObjects limit.
_DELETE_BATCH: Final = 1000


class AdapterService:
    def __init__(self, settings: IngestSettings, s3: S3Client) -> None:
        self._s3 = s3
        self._bucket = settings.bucket
        self._url_seconds = settings.output_url_expires_seconds

    def list_models(self, owner: str) -> ModelList:
        items: list[ModelSummary] = []
        root = models_root(owner)
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=root):
            for obj in page.get("Contents", []):
                adapter_id, _, name = obj["Key"].removeprefix(root).partition("/")
                if name == ADAPTER_FILE and is_adapter_id(adapter_id):
                    items.append(self._summary(owner, adapter_id, int(obj.get("Size", 0))))
        items.sort(key=lambda item: item.created_at or "", reverse=True)
        return ModelList(items=items)

    def get_model(self, owner: str, adapter_id: str) -> ModelView:
        size = self._size(owner, adapter_id)
        summary = self._summary(owner, adapter_id, size)
        url = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": adapter_key(owner, adapter_id),
                "ResponseContentDisposition": f'attachment; filename="{adapter_id}.safetensors"',
            },
            ExpiresIn=self._url_seconds,
        )
        return ModelView(
            **summary.model_dump(),
            download_url=url,
            expires_in=self._url_seconds,
            loss_curve=self._metadata(owner, adapter_id).get("loss_curve") or [],
        )

    def delete_model(self, owner: str, adapter_id: str) -> ModelDeleted:
        self._size(owner, adapter_id)
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self._bucket, Prefix=models_prefix(owner, adapter_id)
        ):
            keys += [obj["Key"] for obj in page.get("Contents", [])]
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = keys[start : start + _DELETE_BATCH]
            self._s3.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True},
            )
        return ModelDeleted(adapter_id=adapter_id, objects_deleted=len(keys))

    # -- reads -------------------------------------------------------------------------------
    def _size(self, owner: str, adapter_id: str) -> int:
        """The adapter file's size; 404 when the caller has no such adapter."""
        if not is_adapter_id(adapter_id):
            raise NotFound(f"model {adapter_id[:70]!r} not found", field="adapter_id")
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=adapter_key(owner, adapter_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound(f"model {adapter_id!r} not found", field="adapter_id") from exc
            raise
        return int(head.get("ContentLength", 0))

    def _metadata(self, owner: str, adapter_id: str) -> dict[str, Any]:
        try:
            body = self._s3.get_object(
                Bucket=self._bucket, Key=adapter_metadata_key(owner, adapter_id)
            )["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return {}
            raise
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def _summary(self, owner: str, adapter_id: str, size: int) -> ModelSummary:
        meta = self._metadata(owner, adapter_id)

        def number(name: str) -> int | None:
            value = meta.get(name)
            return int(value) if isinstance(value, str | int) and str(value).isdigit() else None

        return ModelSummary(
            adapter_id=adapter_id,
            base_model=meta.get("base_model"),
            rank=number("rank"),
            steps=number("steps"),
            instance_prompt=meta.get("instance_prompt"),
            created_at=meta.get("created_at"),
            size_bytes=size,
        )
