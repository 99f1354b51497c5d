"""Re-creating the last apply without Terraform: the emulator's request recorder.

Terraform against the emulator is slow mostly by design of the AWS provider (it waits ~25 s
for every SQS queue's attributes to "propagate"), and the emulator starts empty on every
``up``. So the first ``up`` seeds the emulator's random generator and records every request
of the apply; a later ``up`` with the same configuration seeds the same way and replays the
recording into the fresh emulator, which rebuilds the same resources with the same ids, so
Terraform's state and outputs stay true. The result is verified; any mismatch falls back to
a full apply.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from sdfleet_cli.local.errors import EmulatorError

#: Any fixed number: the same seed and the same request order give the same resource ids.
RANDOM_SEED: Final = 20_261_128
RECORDER_ENV: Final = "MOTO_RECORDER_FILEPATH"
#: Files that change what the apply creates.
CONFIG_SUFFIXES: Final = (".tf", ".tfvars", ".json", ".tpl", ".sh", ".yaml", ".yml", ".hcl")
REPLAY_TIMEOUT_SECONDS: Final = 30.0
LOCAL_TFVARS_NAME: Final = "local.tfvars"
_HOP_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _post(endpoint_url: str, path: str) -> None:
    request = urllib.request.Request(endpoint_url + path, method="POST", data=b"")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the loopback emulator
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise EmulatorError(f"{endpoint_url}{path}: {exc}") from exc


def seed(endpoint_url: str) -> None:
    _post(endpoint_url, f"/moto-api/seed?a={RANDOM_SEED}")


def start_recording(endpoint_url: str) -> None:
    _post(endpoint_url, "/moto-api/recorder/reset-recording")
    _post(endpoint_url, "/moto-api/recorder/start-recording")


def stop_recording(endpoint_url: str) -> None:
    _post(endpoint_url, "/moto-api/recorder/stop-recording")


def reset(endpoint_url: str) -> None:
    """Forgets every resource (used before falling back to a full apply)."""
    _post(endpoint_url, "/moto-api/reset")


def replay(recording: Path, endpoint_url: str) -> int:
    """Sends every recorded request, in order, to ``endpoint_url``; returns how many."""
    count = 0
    with recording.open() as lines:
        for line in lines:
            if not line.strip():
                continue
            entry = json.loads(line)
            body = entry.get("body") or ""
            data = base64.b64decode(body) if entry.get("body_encoded") else body.encode()
            recorded = urllib.parse.urlsplit(entry["url"])
            url = endpoint_url + recorded.path + (f"?{recorded.query}" if recorded.query else "")
            headers = {
                name: value
                for name, value in entry.get("headers", {}).items()
                if name.lower() not in _HOP_HEADERS
            }
            request = urllib.request.Request(  # noqa: S310 - the loopback emulator
                url, data=data or None, method=entry["method"], headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=REPLAY_TIMEOUT_SECONDS):  # noqa: S310
                    pass
            except urllib.error.HTTPError:
                pass  # the original got the same answer (e.g. a 404 while polling)
            except (urllib.error.URLError, OSError) as exc:
                raise EmulatorError(f"replaying {entry['method']} {url}: {exc}") from exc
            count += 1
    return count


def _shapes_local_apply(source_dir: Path, path: Path) -> bool:
    """Configuration files, without examples and other environments' variables."""
    parts = path.relative_to(source_dir).parts
    if not path.is_file() or path.suffix not in CONFIG_SUFFIXES:
        return False
    if ".terraform" in parts or parts[0] in {"examples", "scripts"}:
        return False
    return not (parts[0] == "environments" and path.name != LOCAL_TFVARS_NAME)


def config_fingerprint(
    source_dir: Path, extra: Mapping[str, str], files: Iterable[Path] = ()
) -> str:
    """A hash of the Terraform configuration, the variables and any extra input files."""
    digest = hashlib.sha256()
    paths = sorted(path for path in source_dir.rglob("*") if _shapes_local_apply(source_dir, path))
    for path in [*paths, *sorted(files)]:
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps(dict(extra), sort_keys=True).encode())
    return digest.hexdigest()
