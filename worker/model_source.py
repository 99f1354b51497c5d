"""Where the model comes from: ``tiny``, a local directory, an ``s3://`` prefix or a hub id.

An S3 prefix is downloaded once into the model cache and verified before use. The prefix must
hold ``sdfleet-manifest.json`` (``{"version": 1, "files": {path: {"size": n, "sha256": hex}}}``,
written by ``sdfleet models publish``): exactly the files it lists are downloaded, and each must
have that size and SHA-256. A prefix without a manifest is refused with the command to run. An
ETag is never taken for a checksum: it is the body's MD5 only for single-part uploads without
SSE-KMS, and the fleet's bucket is SSE-KMS by default. Objects uploaded with an S3 additional
checksum (``publish`` asks for SHA-256) are also checked by botocore as they download.
The download goes to a scratch directory that is renamed into place only when verified, so a
crash never leaves a half model behind. A marker records the listing it was made from: a
worker restart reuses the cache while the listing is unchanged, and re-downloads when the
model under the prefix was replaced.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from worker.errors import ModelLoadError
from worker.file_lock import file_lock
from worker.tiny_model import ensure_tiny_model

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TINY: Final = "tiny"
MANIFEST_NAME: Final = "sdfleet-manifest.json"
MANIFEST_VERSION: Final = 1
#: Written last into a verified download; holds the listing it was made from.
DOWNLOAD_MARKER: Final = ".sdfleet-download.json"
_HASH_CHUNK: Final = 8 * 1024 * 1024
_HUB_ID: Final = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: The S3 additional checksum ``publish`` asks for (S3 stores it; downloads verify it).
UPLOAD_CHECKSUM_ALGORITHM: Final = "SHA256"
PUBLISH_COMMAND: Final = "sdfleet models publish"


@dataclass(frozen=True)
class ResolvedModel:
    """What ``from_pretrained`` gets: a local directory, or a hub id with its cache."""

    location: str
    source: str
    is_local: bool
    hub_cache_dir: str | None = None


@dataclass(frozen=True)
class S3Object:
    key: str
    relative: str
    size: int
    etag: str


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix ending in ``/`` or empty)."""
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ModelLoadError(f"model_source: {uri!r} has no bucket (expected s3://bucket/prefix/)")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def _safe_relative(relative: str, source: str) -> str:
    """Object keys become local paths: refuse anything that would escape the cache folder."""
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts:
        raise ModelLoadError(f"model_source: {source!r} holds an unsafe key {relative!r}")
    return str(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def list_model_objects(s3: S3Client, bucket: str, prefix: str, source: str) -> list[S3Object]:
    objects: list[S3Object] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue  # a console-made "folder" placeholder
            relative = _safe_relative(key[len(prefix) :], source)
            etag = item.get("ETag", "").strip('"')
            objects.append(S3Object(key, relative, int(item.get("Size", 0)), etag))
    objects.sort(key=lambda o: o.relative)
    return objects


def _manifest_missing(uri: str) -> ModelLoadError:
    return ModelLoadError(
        f"model_source: {uri!r} has no valid {MANIFEST_NAME}; publish the model with "
        f"`{PUBLISH_COMMAND} <local diffusers folder> {uri}` (a plain copy such as `aws s3 sync` "
        "carries no checksum the worker can trust: an ETag is not an MD5 on an SSE-KMS bucket)"
    )


def read_manifest(path: Path, uri: str) -> dict[str, dict[str, Any]]:
    """The manifest's ``files`` map, each entry with an int ``size`` and a hex ``sha256``."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        version = manifest["version"]
        files: dict[str, dict[str, Any]] = manifest["files"]
        if not isinstance(files, dict) or not files:
            raise TypeError("files must be a non-empty object")
        for relative, entry in files.items():
            if not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str):
                raise TypeError(f"{relative}: needs an integer size and a sha256 string")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"model_source: {uri!r}: unreadable {MANIFEST_NAME} ({exc}); publish it again with "
            f"`{PUBLISH_COMMAND} <local diffusers folder> {uri}`"
        ) from exc
    if version != MANIFEST_VERSION:
        raise ModelLoadError(
            f"model_source: {uri!r}: {MANIFEST_NAME} version {version!r} is not "
            f"{MANIFEST_VERSION}; publish it again with `{PUBLISH_COMMAND}`"
        )
    return {_safe_relative(relative, uri): entry for relative, entry in files.items()}


def _check_listing(files: dict[str, dict[str, Any]], objects: list[S3Object], uri: str) -> None:
    """Fails before any download when a manifest file is absent or of another size."""
    listed = {obj.relative: obj for obj in objects}
    for relative, expected in sorted(files.items()):
        obj = listed.get(relative)
        if obj is None:
            raise ModelLoadError(
                f"model_source: {uri!r}: {relative} is in the manifest but missing"
            )
        if obj.size != expected["size"]:
            raise ModelLoadError(
                f"model_source: {uri!r}: {relative} is {obj.size} bytes, "
                f"manifest says {expected['size']}"
            )


def _verify_files(directory: Path, files: dict[str, dict[str, Any]], uri: str) -> None:
    for relative, expected in sorted(files.items()):
        path = directory / relative
        size = path.stat().st_size
        if size != expected["size"]:
            raise ModelLoadError(
                f"model_source: {uri!r}: {relative} is {size} bytes, "
                f"manifest says {expected['size']}"
            )
        if _sha256(path) != expected["sha256"]:
            raise ModelLoadError(
                f"model_source: {uri!r}: {relative} does not match its manifest SHA-256"
            )


def _listing(objects: list[S3Object]) -> list[dict[str, Any]]:
    """What the cache marker compares: a changed key, size or ETag means a re-published model
    (the ETag only tells versions apart here; the manifest's SHA-256 is the integrity check)."""
    return [{"key": o.key, "size": o.size, "etag": o.etag} for o in objects]


def s3_cache_dir(cache_dir: Path, uri: str) -> Path:
    bucket, prefix = parse_s3_uri(uri)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{bucket}-{prefix.strip('/')}").strip("-")[:80]
    digest = hashlib.sha256(uri.encode()).hexdigest()[:12]
    return cache_dir / f"s3-{name}-{digest}"


def download_s3_model(s3: S3Client, uri: str, cache_dir: Path) -> Path:
    """The verified local copy of the model under ``uri``, downloading it if needed."""
    bucket, prefix = parse_s3_uri(uri)
    target = s3_cache_dir(cache_dir, uri)
    marker = target / DOWNLOAD_MARKER
    with file_lock(cache_dir / f".{target.name}.lock"):
        try:
            objects = list_model_objects(s3, bucket, prefix, uri)
        except (BotoCoreError, ClientError) as exc:
            if marker.is_file():
                # S3 is unreachable but a verified copy exists: start with it.
                return target
            raise ModelLoadError(f"model_source: cannot list {uri!r}: {exc}") from exc
        if not objects:
            raise ModelLoadError(
                f"model_source: {uri!r} holds no objects; publish a model there with "
                f"`{PUBLISH_COMMAND} <local diffusers folder> {uri}`"
            )
        manifest_object = next((o for o in objects if o.relative == MANIFEST_NAME), None)
        if manifest_object is None:
            raise _manifest_missing(uri)
        listing = _listing(objects)
        if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == listing:
            return target
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
        try:
            s3.download_file(bucket, manifest_object.key, str(scratch / MANIFEST_NAME))
            files = read_manifest(scratch / MANIFEST_NAME, uri)
            _check_listing(files, objects, uri)
            # Exactly the manifest's files: anything else under the prefix is not the model.
            for relative in sorted(files):
                path = scratch / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, prefix + relative, str(path))
            _verify_files(scratch, files, uri)
            (scratch / DOWNLOAD_MARKER).write_text(json.dumps(listing), encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            os.replace(scratch, target)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise ModelLoadError(f"model_source: downloading {uri!r} failed: {exc}") from exc
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    return target


def resolve_model(source: str, cache_dir: str | Path, s3: S3Client | None = None) -> ResolvedModel:
    """Turns the ``model_source`` setting into something ``from_pretrained`` can load."""
    cache = Path(cache_dir)
    if source == TINY:
        return ResolvedModel(str(ensure_tiny_model(cache)), source, is_local=True)
    if source.startswith("s3://"):
        if s3 is None:
            raise ModelLoadError(f"model_source: {source!r} needs an S3 client")
        return ResolvedModel(str(download_s3_model(s3, source, cache)), source, is_local=True)
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelLoadError(
                f"model_source: {source!r} is a directory without model_index.json "
                "(expected a diffusers save_pretrained folder)"
            )
        return ResolvedModel(str(path), source, is_local=True)
    if _HUB_ID.match(source) and not source.startswith((".", "/", "~")):
        return ResolvedModel(source, source, is_local=False, hub_cache_dir=str(cache / "hub"))
    raise ModelLoadError(
        f"model_source: {source!r} is not 'tiny', an existing directory, an s3:// URI "
        "or a hub id (owner/name)"
    )


def write_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of every file under ``directory`` (the manifest itself excluded)."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        # Dotfiles are local bookkeeping (build and download markers), not model files.
        if path.is_file() and relative != MANIFEST_NAME and not path.name.startswith("."):
            files[relative] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    manifest = {"version": MANIFEST_VERSION, "files": files}
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def publish(s3: S3Client, directory: Path, uri: str) -> int:
    """Uploads a model folder with its manifest; returns the number of files uploaded.

    Every object is uploaded with S3's SHA-256 additional checksum, and the manifest goes last,
    so a worker never sees a manifest whose files are not all in place.
    """
    if not (directory / "model_index.json").is_file():
        raise ModelLoadError(
            f"publish: {str(directory)!r} has no model_index.json "
            "(expected a diffusers save_pretrained folder)"
        )
    if not uri.startswith("s3://"):
        raise ModelLoadError(f"publish: {uri!r} must be an s3://bucket/prefix/ URI")
    bucket, prefix = parse_s3_uri(uri)
    manifest = write_manifest(directory)
    names = [*manifest["files"], MANIFEST_NAME]
    for relative in names:
        s3.upload_file(
            str(directory / relative),
            bucket,
            prefix + relative,
            ExtraArgs={"ChecksumAlgorithm": UPLOAD_CHECKSUM_ALGORITHM},
        )
    return len(names)


def main(argv: list[str] | None = None) -> int:
    """``python -m worker.model_source publish DIR URI``: the same as ``sdfleet models publish``
    for a host with only the worker installed."""
    from sdfleet.aws import AwsClients
    from sdfleet.settings import WorkerSettings

    parser = argparse.ArgumentParser(
        prog="python -m worker.model_source",
        description=f"Publish a diffusers model folder to S3 with a SHA-256 manifest "
        f"(also `{PUBLISH_COMMAND}`).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    publish_cmd = commands.add_parser("publish", help="upload DIRECTORY to s3://bucket/prefix/")
    publish_cmd.add_argument("directory", type=Path)
    publish_cmd.add_argument("uri")
    args = parser.parse_args(argv)
    s3 = AwsClients.from_settings(WorkerSettings()).s3()
    try:
        count = publish(s3, args.directory, args.uri)
    except ModelLoadError as exc:
        parser.error(str(exc))
    print(f"uploaded {count} files to {args.uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
