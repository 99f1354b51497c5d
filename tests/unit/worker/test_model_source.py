"""Model sources: S3 prefixes (downloaded once, verified) against the emulator, hub ids, paths."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sdfleet.aws import AwsClients
from sdfleet.settings import WorkerSettings
from sdfleet_cli.cli import EXIT_OK, EXIT_USAGE
from sdfleet_cli.cli import main as sdfleet_main
from tests.conftest import FleetResources
from worker.errors import ModelLoadError
from worker.generation import Generator
from worker.model_source import (
    DOWNLOAD_MARKER,
    MANIFEST_NAME,
    PUBLISH_COMMAND,
    parse_s3_uri,
    publish,
    resolve_model,
    s3_cache_dir,
)
from worker.tiny_model import ensure_tiny_model

pytestmark = pytest.mark.emulator


@pytest.fixture()
def tiny_copy(generator: Generator, model_cache: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model folder (tests write manifests into it)."""
    folder = tmp_path / "source"
    shutil.copytree(ensure_tiny_model(model_cache), folder)
    return folder


def upload_plain(s3: Any, folder: Path, bucket: str, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())


@pytest.fixture()
def kms_bucket(fleet: FleetResources) -> str:
    """A bucket encrypted with SSE-KMS by default, as Terraform makes the fleet's bucket."""
    key_id = fleet.clients.client("kms").create_key()["KeyMetadata"]["KeyId"]
    name = f"{fleet.bucket}-kms"
    s3 = fleet.clients.s3()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_id,
                    }
                }
            ]
        },
    )
    return name


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def listed_etags(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    return {item["Key"][len(prefix) :]: item["ETag"].strip('"') for item in listing}


def count_downloads(s3: Any) -> list[str]:
    keys: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: keys.append(params["Key"])
    )
    return keys


def test_manifest_model_downloads_once_verifies_and_loads(
    fleet: FleetResources, tiny_copy: Path, tmp_path: Path
) -> None:
    s3 = fleet.clients.s3()
    uri = f"s3://{fleet.bucket}/models/tiny/"
    published = [p for p in tiny_copy.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert publish(s3, tiny_copy, uri) == len(published) + 1  # and the manifest
    cache = tmp_path / "cache"
    fetched = count_downloads(s3)
    settings = WorkerSettings(model_source=uri, model_cache_dir=str(cache), device="cpu")
    generator = Generator.load(settings, s3)
    assert generator.model_name == uri
    local = Path(resolve_model(uri, cache, s3).location)
    assert local == s3_cache_dir(cache, uri)
    assert (local / MANIFEST_NAME).is_file() and (local / DOWNLOAD_MARKER).is_file()
    first = len(fetched)
    assert first >= 8
    # A restart with the same listing reuses the verified copy: nothing is fetched again.
    Generator.load(settings, s3)
    assert len(fetched) == first


def test_a_changed_model_under_the_prefix_is_fetched_again(
    fleet: FleetResources, tiny_copy: Path, tmp_path: Path
) -> None:
    s3 = fleet.clients.s3()
    uri = f"s3://{fleet.bucket}/models/v/"
    publish(s3, tiny_copy, uri)
    cache = tmp_path / "cache"
    local = Path(resolve_model(uri, cache, s3).location)
    config = json.loads((tiny_copy / "scheduler" / "scheduler_config.json").read_text())
    config["steps_offset"] = 0
    (tiny_copy / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    publish(s3, tiny_copy, uri)
    assert Path(resolve_model(uri, cache, s3).location) == local
    reread = json.loads((local / "scheduler" / "scheduler_config.json").read_text())
    assert reread["steps_offset"] == 0


def test_a_tampered_file_fails_the_manifest_and_leaves_no_model(
    fleet: FleetResources, tiny_copy: Path, tmp_path: Path
) -> None:
    s3 = fleet.clients.s3()
    uri = f"s3://{fleet.bucket}/models/bad/"
    publish(s3, tiny_copy, uri)
    weights = tiny_copy / "vae" / "diffusion_pytorch_model.safetensors"
    corrupted = bytearray(weights.read_bytes())
    corrupted[-1] ^= 0xFF  # same size, different content
    s3.put_object(
        Bucket=fleet.bucket,
        Key="models/bad/vae/diffusion_pytorch_model.safetensors",
        Body=bytes(corrupted),
    )
    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError, match="does not match its manifest SHA-256"):
        resolve_model(uri, cache, s3)
    assert not s3_cache_dir(cache, uri).exists()
    assert [p for p in cache.iterdir() if p.is_dir()] == []


def test_the_emulator_gives_sse_kms_objects_etags_that_are_not_their_md5(
    fleet: FleetResources, kms_bucket: str, tmp_path: Path
) -> None:
    """S3's behaviour the old ETag check broke on; the tests below rely on it."""
    s3 = fleet.clients.s3()
    body = tmp_path / "body.bin"
    body.write_bytes(b"weights" * 100)
    s3.upload_file(str(body), kms_bucket, "k/body.bin")
    s3.upload_file(str(body), fleet.bucket, "k/body.bin")
    assert listed_etags(s3, kms_bucket, "k/")["body.bin"] != md5_of(body)
    assert listed_etags(s3, fleet.bucket, "k/")["body.bin"] == md5_of(body)  # no SSE-KMS
    # Still one ETag per body, so conditional writes (the worker's output replacement) work.
    etag = s3.head_object(Bucket=kms_bucket, Key="k/body.bin")["ETag"]
    assert etag.strip('"') == listed_etags(s3, kms_bucket, "k/")["body.bin"]
    s3.put_object(Bucket=kms_bucket, Key="k/body.bin", Body=b"replaced", IfMatch=etag)
    assert s3.head_object(Bucket=kms_bucket, Key="k/body.bin")["ETag"] != etag


def test_a_prefix_without_a_manifest_is_refused_with_the_command_to_run(
    fleet: FleetResources, kms_bucket: str, tiny_copy: Path, tmp_path: Path
) -> None:
    """What `aws s3 sync` leaves on the fleet's bucket: the worker names the command to run."""
    s3 = fleet.clients.s3()
    upload_plain(s3, tiny_copy, kms_bucket, "synced/")
    uri = f"s3://{kms_bucket}/synced/"
    fetched = count_downloads(s3)
    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError) as refused:
        resolve_model(uri, cache, s3)
    assert f"no valid {MANIFEST_NAME}" in str(refused.value)
    assert f"`{PUBLISH_COMMAND} <local diffusers folder> {uri}`" in str(refused.value)
    assert fetched == []
    assert not s3_cache_dir(cache, uri).exists()


def test_a_published_model_loads_where_etags_are_not_md5s(
    fleet: FleetResources, kms_bucket: str, tiny_copy: Path, tmp_path: Path
) -> None:
    """SSE-KMS single-part ETags and a multipart upload's ETag: none is an MD5, all load."""
    s3 = fleet.clients.s3()
    # Above boto3's 8 MiB multipart threshold: uploaded in parts, its ETag ends in "-2".
    large = tiny_copy / "text_encoder" / "large-extra.bin"
    large.write_bytes(bytes(range(256)) * (9 * 4096))
    uri = f"s3://{kms_bucket}/models/sd/"
    publish(s3, tiny_copy, uri)
    etags = listed_etags(s3, kms_bucket, "models/sd/")
    assert etags["text_encoder/large-extra.bin"].endswith("-2")
    for relative, etag in etags.items():
        assert etag != md5_of(tiny_copy / relative), relative
    head = s3.head_object(
        Bucket=kms_bucket, Key="models/sd/model_index.json", ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"]  # S3's own checksum, set at upload
    cache = tmp_path / "cache"
    settings = WorkerSettings(model_source=uri, model_cache_dir=str(cache), device="cpu")
    assert Generator.load(settings, s3).model_name == uri
    local = s3_cache_dir(cache, uri)
    assert (local / "text_encoder" / "large-extra.bin").read_bytes() == large.read_bytes()


def test_only_the_manifests_files_are_downloaded(
    fleet: FleetResources, tiny_copy: Path, tmp_path: Path
) -> None:
    s3 = fleet.clients.s3()
    uri = f"s3://{fleet.bucket}/models/extra/"
    publish(s3, tiny_copy, uri)
    s3.put_object(Bucket=fleet.bucket, Key="models/extra/unet/stray.bin", Body=b"not the model")
    local = Path(resolve_model(uri, tmp_path / "cache", s3).location)
    assert (local / "unet" / "config.json").is_file()
    assert not (local / "unet" / "stray.bin").exists()


@pytest.mark.parametrize(
    "manifest",
    [
        b"not json",
        json.dumps({"version": 1, "files": {}}).encode(),
        json.dumps({"version": 1, "files": {"model_index.json": {"size": "1"}}}).encode(),
        json.dumps(
            {"version": 2, "files": {"model_index.json": {"size": 1, "sha256": "0"}}}
        ).encode(),
    ],
)
def test_an_unusable_manifest_is_refused_with_the_command_to_run(
    fleet: FleetResources, tiny_copy: Path, tmp_path: Path, manifest: bytes
) -> None:
    s3 = fleet.clients.s3()
    uri = f"s3://{fleet.bucket}/models/broken/"
    publish(s3, tiny_copy, uri)
    s3.put_object(Bucket=fleet.bucket, Key=f"models/broken/{MANIFEST_NAME}", Body=manifest)
    with pytest.raises(ModelLoadError, match=PUBLISH_COMMAND):
        resolve_model(uri, tmp_path / "cache", s3)


def test_sdfleet_models_publish_uploads_what_the_worker_loads(
    fleet: FleetResources,
    kms_bucket: str,
    tiny_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in fleet.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SDFLEET_BUCKET", kms_bucket)
    assert sdfleet_main(["models", "publish", str(tiny_copy), "--aws"]) == EXIT_OK
    uri = f"s3://{kms_bucket}/models/{tiny_copy.name}/"
    assert uri in capsys.readouterr().out
    local = Path(resolve_model(uri, tmp_path / "cache", fleet.clients.s3()).location)
    assert (local / MANIFEST_NAME).is_file()
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    assert sdfleet_main(["models", "publish", str(empty), uri, "--aws"]) == EXIT_USAGE
    assert "no model_index.json" in capsys.readouterr().err


def test_a_manifest_listing_a_missing_file_fails(
    fleet: FleetResources, tiny_copy: Path, tmp_path: Path
) -> None:
    s3 = fleet.clients.s3()
    uri = f"s3://{fleet.bucket}/models/partial/"
    publish(s3, tiny_copy, uri)
    s3.delete_object(Bucket=fleet.bucket, Key="models/partial/unet/config.json")
    with pytest.raises(ModelLoadError, match=r"unet/config\.json is in the manifest but missing"):
        resolve_model(uri, tmp_path / "cache", s3)


def test_an_empty_prefix_fails_clearly(fleet: FleetResources, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="holds no objects"):
        resolve_model(f"s3://{fleet.bucket}/nothing/", tmp_path, fleet.clients.s3())


def test_an_unreachable_s3_uses_the_verified_copy(
    fleet: FleetResources, tiny_copy: Path, tmp_path: Path
) -> None:
    uri = f"s3://{fleet.bucket}/models/offline/"
    publish(fleet.clients.s3(), tiny_copy, uri)
    cache = tmp_path / "cache"
    local = resolve_model(uri, cache, fleet.clients.s3()).location
    dead = AwsClients(endpoint_url="http://127.0.0.1:9", max_attempts=1).s3()
    assert resolve_model(uri, cache, dead).location == local
    with pytest.raises(ModelLoadError, match="cannot list"):
        resolve_model(uri, tmp_path / "empty-cache", dead)


def test_keys_that_would_escape_the_cache_are_refused(
    fleet: FleetResources, tmp_path: Path
) -> None:
    s3 = fleet.clients.s3()
    s3.put_object(Bucket=fleet.bucket, Key="evil/../../outside.json", Body=b"{}")
    with pytest.raises(ModelLoadError, match="unsafe key"):
        resolve_model(f"s3://{fleet.bucket}/evil/", tmp_path, s3)


def test_uri_parsing_and_hub_ids(tmp_path: Path) -> None:
    assert parse_s3_uri("s3://b/p/q") == ("b", "p/q/")
    assert parse_s3_uri("s3://b") == ("b", "")
    hub = resolve_model("stable-diffusion-v1-5/stable-diffusion-v1-5", tmp_path)
    assert not hub.is_local
    assert hub.hub_cache_dir == str(tmp_path / "hub")
    with pytest.raises(ModelLoadError, match="needs an S3 client"):
        resolve_model("s3://b/p/", tmp_path)
