"""Model sources: S3 prefixes (downloaded once, verified) against the emulator, hub ids, paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sdfleet.aws import AwsClients
from sdfleet.settings import WorkerSettings
from tests.conftest import FleetResources
from worker.errors import ModelLoadError
from worker.generation import Generator
from worker.model_source import (
    DOWNLOAD_MARKER,
    MANIFEST_NAME,
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


def test_without_a_manifest_sizes_and_etags_are_checked(
    fleet: FleetResources, tiny_copy: Path, tmp_path: Path
) -> None:
    s3 = fleet.clients.s3()
    upload_plain(s3, tiny_copy, fleet.bucket, "plain/")
    uri = f"s3://{fleet.bucket}/plain"
    local = Path(resolve_model(uri, tmp_path / "cache", s3).location)
    assert (local / "model_index.json").read_bytes() == (
        tiny_copy / "model_index.json"
    ).read_bytes()
    assert not (local / MANIFEST_NAME).exists()


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
