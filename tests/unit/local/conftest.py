"""Fixtures of the local tools' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sdfleet.aws import AwsClients
from tests.conftest import free_port


@pytest.fixture()
def aws_in_process() -> Iterator[AwsClients]:
    """An emulator started in this process (never a shared one), for tests that look at its
    objects or depend on its own changes to moto."""
    from sdfleet_cli.emulator import start_emulator

    port = free_port()
    server = start_emulator("127.0.0.1", port)
    try:
        yield AwsClients(endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1")
    finally:
        server.stop()
