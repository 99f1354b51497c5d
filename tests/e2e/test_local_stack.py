"""Acceptance: `sdfleet up` runs the whole fleet; web and batch jobs finish; 0 -> N -> 0 workers.

`sdfleet up` runs in the background with its own state directory and ports. Two users get
tokens; one uploads an image and submits txt2img and img2img through the HTTP API; 20 jobs go
through `sdfleet submit --wait`; every output is a valid PNG; the fleet scales out from zero
and back to zero after the quiet time; Ctrl-C stops everything and leaves no process behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import requests

from tests.support.polling import wait_until
from tests.support.tools import missing, require_terraform_with_mirror

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.terraform]

READY_TIMEOUT_SECONDS = 240
JOB_TIMEOUT_SECONDS = 150
IDLE_SECONDS = 8
QUIET_SECONDS = 15
SCALE_TO_ZERO_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 60
TINY = {"steps": 2, "width": 64, "height": 64}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Same ports each run (unless taken) so the recorded apply can be replayed. Below Linux's
#: ephemeral range (32768-60999): inside it, the stack's own client connections (hundreds
#: during its Terraform apply) could hold one as a source port when the API or the web app
#: binds it ("Address already in use": 9 browser tests errored so on one CI run).
FIXED_PORTS = (25_661, 25_662, 25_663)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def descendants(root: int) -> set[int]:
    """Every live process whose parent chain reaches ``root`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Stack:
    process: subprocess.Popen[str]
    state_dir: Path
    console: Path
    state: dict[str, str]

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sdfleet_cli.cli", *args, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def worker_counts(self) -> list[int]:
        return [int(n) for n in re.findall(r"^workers: (\d+)$", self.console.read_text(), re.M)]


def _preconditions() -> None:
    require_terraform_with_mirror()
    root = Path(__file__).resolve().parents[2]
    for path, what in (
        ("terraform/environments/local.tfvars", "the Terraform root with local.tfvars"),
        ("autoscaler/handler.py", "the scaler Lambda handler"),
        ("ingest_lambda/handler.py", "the ingest Lambda handler"),
        ("worker/tiny_model.py", "the tiny model builder"),
    ):
        if not (root / path).exists():
            missing(what, f"{path} is not in this checkout")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _preconditions()
    base = tmp_path_factory.mktemp("stack")
    # Its own state directory (not a developer's .sdfleet), kept between runs so the
    # Terraform apply is replayed, not redone, when the configuration has not changed.
    root = Path(__file__).resolve().parents[2]
    state_dir = Path(os.environ.get("SDFLEET_E2E_STATE_DIR", root / ".sdfleet" / "e2e-stack"))
    ports = [port if port_free(port) else free_port() for port in FIXED_PORTS]
    console = base / "up.console"
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with console.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sdfleet_cli.cli",
                "up",
                "--state-dir",
                str(state_dir),
                "--emulator-port",
                str(ports[0]),
                "--api-port",
                str(ports[1]),
                "--frontend-port",
                str(ports[2]),
                "--max-workers",
                "2",
                "--scaler-interval",
                "2",
                "--idle-seconds",
                str(IDLE_SECONDS),
                "--quiet-seconds",
                str(QUIET_SECONDS),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
            start_new_session=True,
        )
    state_file = state_dir / "local.json"

    def not_ready() -> NoReturn:
        process.kill()
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}" for p in (state_dir / "logs").glob("*.log")
        )
        pytest.fail(f"sdfleet up did not get ready:\n{console.read_text()}\n{logs}")

    def ready() -> bool:
        # Ready, and the fleet's first size report printed.
        if state_file.exists() and re.search(r"^workers: \d+$", console.read_text(), re.M):
            return True
        if process.poll() is not None:
            not_ready()
        return False

    try:
        wait_until(ready, READY_TIMEOUT_SECONDS, "sdfleet up to get ready", interval=0.5)
    except AssertionError:
        not_ready()
    stack = Stack(process, state_dir, console, json.loads(state_file.read_text()))
    try:
        yield stack
    finally:
        if process.poll() is None:
            # A failed test still stops the stack the normal way first.
            children = descendants(process.pid)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                for pid in [process.pid, *children]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


def _token(stack: Stack, user: str) -> dict[str, str]:
    result = stack.cli("token", user)
    assert result.returncode == 0, result.stderr
    return {"Authorization": f"Bearer {result.stdout.strip()}"}


def _png(data: bytes) -> tuple[int, int]:
    from PIL import Image

    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _wait_http_job(api: str, headers: dict[str, str], job_id: str) -> dict[str, object]:
    last: dict[str, object] = {}

    def finished() -> dict[str, object] | None:
        view = requests.get(f"{api}/jobs/{job_id}", headers=headers, timeout=30).json()
        last.clear()
        last.update(view)
        return dict(last) if last["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(
        finished, JOB_TIMEOUT_SECONDS, lambda: f"job {job_id} to finish: {last}", interval=1
    )


def test_whole_fleet_end_to_end(stack: Stack, tmp_path: Path) -> None:
    api = stack.state["api_url"]
    assert stack.worker_counts()[:1] == [0], "the fleet must start at zero workers"
    alice, bob = _token(stack, "alice"), _token(stack, "bob")
    assert requests.get(f"{api}/jobs", timeout=30).status_code == 401

    # An input image, uploaded with the presigned POST the API hands out.
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    ticket = requests.post(
        f"{api}/uploads", json={"content_type": "image/png"}, headers=alice, timeout=30
    )
    assert ticket.status_code == 201, ticket.text
    upload = ticket.json()
    posted = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("input.png", buffer.getvalue(), "image/png")},
        timeout=30,
    )
    assert posted.status_code in (200, 201, 204), posted.text

    created = {}
    for kind, extra in (
        ("txt2img", {}),
        ("img2img", {"input_key": upload["key"], "strength": 0.6}),
    ):
        response = requests.post(
            f"{api}/jobs",
            json={"kind": kind, "prompt": f"a {kind} lighthouse", **TINY, **extra},
            headers={**alice, "Idempotency-Key": f"e2e-{kind}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        created[kind] = response.json()["job_id"]
    assert (
        requests.get(f"{api}/jobs/{created['txt2img']}", headers=bob, timeout=30).status_code == 404
    )

    # 20 batch jobs straight onto SQS, waited for and downloaded by the CLI.
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "".join(
            json.dumps({"kind": "txt2img", "prompt": f"batch {n}", "seed": n, **TINY}) + "\n"
            for n in range(20)
        )
    )
    out_dir = tmp_path / "out"
    submitted = stack.cli(
        "submit",
        str(jobs),
        "--wait",
        "--out",
        str(out_dir),
        "--timeout",
        str(JOB_TIMEOUT_SECONDS),
        timeout=JOB_TIMEOUT_SECONDS + 60,
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "20 succeeded, 0 did not" in submitted.stdout
    batch_pngs = sorted(out_dir.glob("b-*/*.png"))
    assert len(batch_pngs) == 20
    assert {_png(path.read_bytes()) for path in batch_pngs} == {(64, 64)}

    for kind, job_id in created.items():
        view = _wait_http_job(api, alice, job_id)
        assert view["status"] == "succeeded", view
        outputs = view["outputs"]
        assert isinstance(outputs, list) and outputs
        for output in outputs:
            image = requests.get(output["url"], timeout=30)
            assert image.status_code == 200
            assert _png(image.content) == (64, 64), kind

    status = stack.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert max(stack.worker_counts()) >= 1, "the fleet never scaled out"

    wait_until(
        lambda: stack.worker_counts()[-1] == 0,
        SCALE_TO_ZERO_TIMEOUT_SECONDS,
        lambda: f"the fleet back at zero: {stack.worker_counts()}",
        interval=1,
    )
    counts = stack.worker_counts()
    assert counts[0] == 0 and max(counts) >= 1 and counts[-1] == 0, counts
    fleet = json.loads(stack.cli("status", "--json").stdout)
    assert fleet["desired_capacity"] == 0
    assert fleet["instances"] == []

    # Ctrl-C: everything stops, nothing is left behind.
    children = descendants(stack.process.pid)
    assert children, "up should have children (emulator at least)"
    os.kill(stack.process.pid, signal.SIGINT)
    assert stack.process.wait(timeout=STOP_TIMEOUT_SECONDS) == 0
    assert "stopped" in stack.console.read_text()
    time.sleep(0.5)
    assert [pid for pid in children if alive(pid)] == []
    assert not (stack.state_dir / "local.json").exists()
