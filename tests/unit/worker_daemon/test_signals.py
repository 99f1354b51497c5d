"""The signal handlers in a real process: the first SIGTERM drains, the second exits at once.
(The full worker's drain is tested in tests/integration/worker/test_lifecycle.py.)"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = """
import sys, time
from worker.lifecycle import Drain, install_signal_handlers
drain = Drain()
install_signal_handlers(drain)
print("ready", flush=True)
while not drain.requested:
    time.sleep(0.01)
print("draining", drain.reason.value, drain.detail, flush=True)
time.sleep(60)  # a long batch still finishing
sys.exit(0)
"""


def _start() -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_first_sigterm_drains_second_exits_at_once() -> None:
    process = _start()
    try:
        process.send_signal(signal.SIGTERM)
        assert process.stdout is not None
        assert process.stdout.readline().split() == ["draining", "signal", "SIGTERM"]
        time.sleep(0.3)
        assert process.poll() is None  # still finishing its batch
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
