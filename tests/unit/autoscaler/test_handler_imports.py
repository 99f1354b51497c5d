"""The Lambda handler must stay small: no simulator, plotting or ML imports."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("matplotlib", "torch", "diffusers", "transformers", "rich", "autoscaler.simulator")


def test_handler_import_is_light() -> None:
    code = (
        "import sys, autoscaler.handler\n"
        f"heavy = [m for m in sys.modules if m.startswith({HEAVY!r})]\n"
        "print(heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
