"""Where the model comes from: ``tiny``, a local directory, an ``s3://`` prefix or a hub id.

An S3 prefix is downloaded once into the model cache and verified before use:
- if the prefix holds ``sdfleet-manifest.json`` (``{"version": 1, "files": {path: {"size": n,
  "sha256": hex}}}``, written by ``python -m worker.model_source publish``), every listed file
  must be present with that size and SHA-256;
- otherwise every object's size must match its listing, and single-part uploads (whose ETag is
  the MD5 of the body) must match their ETag.
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
_SINGLE_PART_ETAG: Final = re.compile(r"^[0-9a-f]{32}$")


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


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
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


def _verify(directory: Path, objects: list[S3Object], source: str) -> None:
    manifest_path = directory / MANIFEST_NAME
    if manifest_path.is_file():
        _verify_manifest(directory, manifest_path, source)
        return
    for obj in objects:
        path = directory / obj.relative
        size = path.stat().st_size
        if size != obj.size:
            raise ModelLoadError(
                f"model_source: {source!r}: {obj.relative} is {size} bytes, listing says {obj.size}"
            )
        if _SINGLE_PART_ETAG.match(obj.etag) and _md5(path) != obj.etag:
            raise ModelLoadError(
                f"model_source: {source!r}: {obj.relative} does not match its ETag {obj.etag}"
            )


def _verify_manifest(directory: Path, manifest_path: Path, source: str) -> None:
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = manifest["version"]
        files: dict[str, dict[str, Any]] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"model_source: {source!r}: unreadable {MANIFEST_NAME}: {exc}"
        ) from exc
    if version != MANIFEST_VERSION:
        raise ModelLoadError(
            f"model_source: {source!r}: {MANIFEST_NAME} version {version!r} is not "
            f"{MANIFEST_VERSION}"
        )
    for relative, expected in sorted(files.items()):
        path = directory / _safe_relative(relative, source)
        if not path.is_file():
            raise ModelLoadError(
                f"model_source: {source!r}: {relative} is in the manifest but missing"
            )
        size = path.stat().st_size
        if size != expected.get("size"):
            raise ModelLoadError(
                f"model_source: {source!r}: {relative} is {size} bytes, "
                f"manifest says {expected.get('size')}"
            )
        if _sha256(path) != expected.get("sha256"):
            raise ModelLoadError(
                f"model_source: {source!r}: {relative} does not match its manifest SHA-256"
            )


def _listing(objects: list[S3Object]) -> list[dict[str, Any]]:
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
            raise ModelLoadError(f"model_source: {uri!r} holds no objects")
        listing = _listing(objects)
        if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == listing:
            return target
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
        try:
            for obj in objects:
                path = scratch / obj.relative
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj.key, str(path))
            _verify(scratch, objects, uri)
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
    """Uploads a model folder with its manifest; returns the number of files uploaded."""
    bucket, prefix = parse_s3_uri(uri)
    manifest = write_manifest(directory)
    names = [*manifest["files"], MANIFEST_NAME]
    for relative in names:
        s3.upload_file(str(directory / relative), bucket, prefix + relative)
    return len(names)


def main(argv: list[str] | None = None) -> int:
    from sdfleet.aws import AwsClients
    from sdfleet.settings import WorkerSettings

    parser = argparse.ArgumentParser(
        prog="python -m worker.model_source",
        description="Publish a diffusers model folder to S3 with a SHA-256 manifest.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    publish_cmd = commands.add_parser("publish", help="upload DIRECTORY to s3://bucket/prefix/")
    publish_cmd.add_argument("directory", type=Path)
    publish_cmd.add_argument("uri")
    args = parser.parse_args(argv)
    directory: Path = args.directory
    if not (directory / "model_index.json").is_file():
        parser.error(f"directory {str(directory)!r} has no model_index.json")
    if not args.uri.startswith("s3://"):
        parser.error(f"uri {args.uri!r} must start with s3://")
    s3 = AwsClients.from_settings(WorkerSettings()).s3()
    count = publish(s3, directory, args.uri)
    print(f"uploaded {count} files to {args.uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
