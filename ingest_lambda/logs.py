"""Structured JSON logging through Powertools.

The handler owns the service logger; modules create ``Logger(service=SERVICE_NAME, child=True)``
so their records go through it (Powertools names a child after the module creating it).
"""

from __future__ import annotations

from typing import Final

from aws_lambda_powertools import Logger

SERVICE_NAME: Final = "sdfleet-ingest"


def service_logger() -> Logger:
    """The handler's logger; it owns the output format."""
    return Logger(service=SERVICE_NAME)
