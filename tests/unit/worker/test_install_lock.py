"""The GPU worker's lock: every pin hashed, the torch CUDA build paired with xformers' CUDA
major (both CUDA 12), every dependency of the worker covered; and the wheelhouse's
requirements file adds the sdfleet wheel's own hash."""

from __future__ import annotations

import configparser
import hashlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]
LOCK = REPO / "worker" / "requirements-gpu.lock"
_PIN = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?: \\\n\s+--hash=sha256:[0-9a-f]{64})*)", re.M
)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, tuple[str, int]]:
    return {
        _normal(name): (version, hashes.count("--hash="))
        for name, version, hashes in _PIN.findall(LOCK.read_text())
    }


def test_every_pin_has_a_hash() -> None:
    pins = _pins()
    assert len(pins) > 20
    assert {name for name, (_, hashes) in pins.items() if hashes == 0} == set()


def test_torch_is_the_cuda_12_build_xformers_links() -> None:
    pins = _pins()
    assert pins["torch"][0] == "2.10.0"  # the last PyPI torch on CUDA 12 (2.11+: CUDA 13)
    assert "xformers" in pins
    cuda = {name for name in pins if name.startswith("nvidia-") or name.startswith("cuda-")}
    assert "nvidia-cuda-runtime-cu12" in cuda
    # Nothing from CUDA 13 (whose packages have no -cu12 suffix, or are cuda-toolkit 13).
    assert {n for n in cuda if n.startswith("nvidia-") and not n.endswith("-cu12")} == set()
    assert not pins.get("cuda-toolkit", ("", 0))[0].startswith("13")


def test_lock_covers_the_worker_requirements() -> None:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    options = config["options"]
    extras = config["options.extras_require"]
    wanted = [options["install_requires"], extras["worker"], extras["gpu"]]
    names = {
        _normal(re.split(r"[\[<>=!~ ;]", line.strip(), maxsplit=1)[0])
        for block in wanted
        for line in block.strip().splitlines()
        if line.strip()
    }
    assert names - set(_pins()) == set()


def _wheelhouse_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wheelhouse", REPO / "mk" / "wheelhouse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wheelhouse_requirements_add_the_sdfleet_wheel_hash(tmp_path: Path) -> None:
    wheelhouse = _wheelhouse_module()
    lock = tmp_path / "lock"
    lock.write_text("pydantic-core==2.50.5 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    (tmp_path / "pydantic_core-2.50.5-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"x")
    ours = tmp_path / "sdfleet-0.1.0-py3-none-any.whl"
    ours.write_bytes(b"our wheel")
    requirements = wheelhouse.finish(lock, tmp_path).read_text()
    digest = hashlib.sha256(b"our wheel").hexdigest()
    assert requirements.startswith(lock.read_text())
    assert requirements.endswith(f"sdfleet==0.1.0 \\\n    --hash=sha256:{digest}\n")


def test_wheelhouse_refuses_a_missing_wheel(tmp_path: Path) -> None:
    wheelhouse = _wheelhouse_module()
    lock = tmp_path / "lock"
    lock.write_text("torch==2.10.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    (tmp_path / "sdfleet-0.1.0-py3-none-any.whl").write_bytes(b"our wheel")
    with pytest.raises(SystemExit, match="no wheel for \\['torch'\\]"):
        wheelhouse.finish(lock, tmp_path)


def test_prod_tfvars_bakes_from_the_current_locks_wheelhouse() -> None:
    """`make worker-wheelhouse-upload` puts the wheelhouse under the lock's first 12 hex of
    sha256; prod.tfvars' example bakes from that prefix, so a new lock shows here."""
    tfvars = (REPO / "terraform" / "environments" / "prod.tfvars").read_text()
    (uri,) = re.findall(r'^worker_wheelhouse_uri\s*=\s*"([^"]+)"', tfvars, re.M)
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    assert uri.endswith(f"/wheelhouse/{digest}/")
    assert re.search(r"^worker_ami_bake\s*=\s*true$", tfvars, re.M)
