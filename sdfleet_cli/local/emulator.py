"""The emulator as a child process (:mod:`sdfleet_cli.local.emulator_server`) on loopback.

A child (not a thread of ``up``) so its request log goes to its own file and its work does
not compete with the API adapter for ``up``'s GIL. Its state lives as long as it runs.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Final

from sdfleet_cli.local.errors import EmulatorError
from sdfleet_cli.local.processes import ChildProcess, wait_until
from sdfleet_cli.local.snapshot import RECORDER_ENV

#: A cold moto server imports every backend on first use; give it time on a busy machine.
START_TIMEOUT_SECONDS: Final = 60.0
#: moto's own endpoint that lists nothing and answers fast.
HEALTH_PATH: Final = "/moto-api/"
SERVER_MODULE: Final = "sdfleet_cli.local.emulator_server"


def is_healthy(endpoint_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(endpoint_url + HEALTH_PATH, timeout=timeout) as response:  # noqa: S310 - loopback URL we built
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


class Emulator:
    """Starts, checks and stops the moto server child."""

    def __init__(
        self,
        port: int,
        log_path: Path,
        host: str = "127.0.0.1",
        recording_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.endpoint_url = f"http://{host}:{port}"
        self._child = ChildProcess(
            "emulator",
            [sys.executable, "-m", SERVER_MODULE, "--host", host, "--port", str(port)],
            log_path,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                # Fixed hashing keeps moto's set/dict-driven choices the same on a replay.
                "PYTHONHASHSEED": "0",
                # Where the request recorder writes (see sdfleet_cli.local.snapshot).
                **({RECORDER_ENV: str(recording_path.resolve())} if recording_path else {}),
            },
        )

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def start(self) -> None:
        if is_healthy(self.endpoint_url):
            raise EmulatorError(
                f"port {self.port}: something already answers at {self.endpoint_url} "
                "(another `sdfleet up`?); pick another port with --emulator-port"
            )
        self._child.start()
        if (
            not wait_until(
                lambda: is_healthy(self.endpoint_url) or not self._child.running(),
                START_TIMEOUT_SECONDS,
            )
            or not self._child.running()
        ):
            status = self._child.poll()
            self._child.stop(grace_seconds=2)
            raise EmulatorError(
                f"the emulator did not answer at {self.endpoint_url} within "
                f"{START_TIMEOUT_SECONDS:.0f}s (exit status {status}); see {self._child.log_path}"
            )

    def running(self) -> bool:
        return self._child.running()

    def stop(self) -> None:
        self._child.stop(grace_seconds=5)
