"""Finishes a worker wheelhouse: ``requirements.txt`` = the GPU lock + the sdfleet wheel's hash.

Instances install with ``pip install --no-index --find-links <wheelhouse> --require-hashes
--no-deps -r requirements.txt``: every file, ours included, must match a hash written here,
and a wheel the lock names but the wheelhouse lacks fails the install instead of being
fetched from an index.

    python mk/wheelhouse.py worker/requirements-gpu.lock build/wheelhouse
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def finish(lock: Path, wheelhouse: Path) -> Path:
    wheels = sorted(wheelhouse.glob("sdfleet-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"{wheelhouse}: expected one sdfleet-*.whl, found {len(wheels)}")
    (wheel,) = wheels
    version = wheel.name.split("-")[1]
    pinned = {name.lower().replace("_", "-") for name in _PINNED.findall(lock.read_text())}
    present = {p.name.split("-")[0].lower().replace("_", "-") for p in wheelhouse.glob("*.whl")}
    missing = sorted(pinned - present)
    if missing:
        raise SystemExit(f"{wheelhouse}: no wheel for {missing} (rerun make worker-wheelhouse)")
    requirements = wheelhouse / "requirements.txt"
    requirements.write_text(
        lock.read_text() + f"sdfleet=={version} \\\n    --hash=sha256:{sha256(wheel)}\n"
    )
    return requirements


def main(argv: list[str]) -> int:
    lock, wheelhouse = (Path(arg) for arg in argv)
    print(finish(lock, wheelhouse))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
