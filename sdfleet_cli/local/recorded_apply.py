"""The recorded Terraform apply onto the emulator, tried once more from empty if it fails.

While the recorder is on the emulator answers one request at a time, so under load a request
can wait long enough for the provider's SDK to send it again after the emulator has done it:
a fresh apply then fails on an empty emulator with "ResourceInUseException: Table already
exists" (seen once in CI, on the reliability smoke's stack). Such a failure says nothing about
the configuration, so the apply runs once more on an emptied emulator; a second failure is
reported as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from sdfleet_cli.local import snapshot
from sdfleet_cli.local.errors import TerraformError
from sdfleet_cli.local.terraform import LocalTerraform

logger = logging.getLogger(__name__)

#: A first try and one more from an emptied emulator.
APPLY_ATTEMPTS: Final = 2


def apply_recorded(
    terraform: LocalTerraform,
    endpoint_url: str,
    variables: Mapping[str, str],
    attempts: int = APPLY_ATTEMPTS,
) -> int:
    """Seeds the emulator, records ``terraform apply`` and returns the attempt that
    succeeded (1 or more). Before another attempt the emulator is emptied, so the recording
    holds one clean apply."""
    if attempts < 1:
        raise ValueError(f"attempts: must be >= 1 (got {attempts})")
    for attempt in range(1, attempts):
        try:
            _apply_once(terraform, endpoint_url, variables)
        except TerraformError as exc:
            logger.warning(
                "terraform apply failed (attempt %d of %d: %s); once more on an emptied emulator",
                attempt,
                attempts,
                exc,
            )
            snapshot.reset(endpoint_url)
        else:
            return attempt
    _apply_once(terraform, endpoint_url, variables)
    return attempts


def _apply_once(terraform: LocalTerraform, endpoint_url: str, variables: Mapping[str, str]) -> None:
    snapshot.seed(endpoint_url)
    snapshot.start_recording(endpoint_url)
    try:
        terraform.apply(endpoint_url, variables)
    finally:
        snapshot.stop_recording(endpoint_url)
