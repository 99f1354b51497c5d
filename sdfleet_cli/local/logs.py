"""``sdfleet logs``: the local stack's log files, tailed and followed, one prefix per file.

Files: ``up.log`` (the stack, the API adapter, the scaler), ``emulator.log``, ``terraform.log``
and ``worker-<instance>.log`` per worker process (Powertools JSON lines).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Final

FOLLOW_POLL_SECONDS: Final = 0.5


def log_files(logs_dir: Path, component: str | None = None) -> list[Path]:
    files = sorted(logs_dir.glob("*.log"))
    if component:
        files = [path for path in files if path.stem.startswith(component)]
    return files


def _tail(path: Path, lines: int) -> list[str]:
    with path.open(errors="replace") as handle:
        return list(deque(handle, maxlen=lines))


def show_logs(
    logs_dir: Path,
    write: Callable[[str], None],
    lines: int = 20,
    component: str | None = None,
    follow: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """The last ``lines`` of each file; with ``follow``, then whatever is appended (new worker
    logs included) until ``should_stop()`` or Ctrl-C."""
    offsets: dict[Path, int] = {}
    for path in log_files(logs_dir, component):
        for line in _tail(path, lines):
            write(f"[{path.stem}] {line.rstrip()}")
        offsets[path] = path.stat().st_size
    while follow and not should_stop():
        for path in log_files(logs_dir, component):
            size = path.stat().st_size
            start = offsets.get(path, 0)
            if size < start:
                start = 0  # truncated or replaced: read it again
            if size > start:
                with path.open(errors="replace") as handle:
                    handle.seek(start)
                    for line in handle:
                        write(f"[{path.stem}] {line.rstrip()}")
                    offsets[path] = handle.tell()
        time.sleep(FOLLOW_POLL_SECONDS)
