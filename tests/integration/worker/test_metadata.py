"""The IMDSv2 client and the termination watcher against the fake metadata service."""

from __future__ import annotations

import pytest

from tests.integration.worker.fake_imds import FakeImds
from worker.lifecycle import Drain, DrainReason, TerminationWatcher
from worker.metadata import InstanceMetadata, MetadataUnavailable, SpotNotice


def test_token_flow_and_items(imds: FakeImds) -> None:
    client = InstanceMetadata(imds.url)
    assert client.instance_id() == imds.instance_id
    assert client.spot_notice() is None
    assert client.target_lifecycle_state() == "InService"
    # One token for all three reads.
    assert [m for m, _ in imds.requests].count("PUT") == 1

    imds.notify_spot("terminate", "2026-11-28T03:00:00Z")
    imds.set_lifecycle_state(None)
    assert client.spot_notice() == SpotNotice(action="terminate", time="2026-11-28T03:00:00Z")
    assert client.target_lifecycle_state() is None


def test_expired_token_is_renewed_once(imds: FakeImds) -> None:
    client = InstanceMetadata(imds.url)
    client.instance_id()
    imds.revoke_tokens()
    assert client.instance_id() == imds.instance_id
    assert [m for m, _ in imds.requests].count("PUT") == 2


def test_unreachable_service_raises() -> None:
    client = InstanceMetadata("http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(MetadataUnavailable, match=r"127\.0\.0\.1:9"):
        client.spot_notice()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda f: f.notify_spot(), DrainReason.SPOT),
        (lambda f: f.set_lifecycle_state("Terminated"), DrainReason.LIFECYCLE),
    ],
)
def test_watcher_requests_drain(imds: FakeImds, change, reason: DrainReason) -> None:
    drain = Drain()
    watcher = TerminationWatcher(InstanceMetadata(imds.url), drain, poll_seconds=0.1)
    watcher.check()
    assert not drain.requested
    change(imds)
    watcher.check()
    assert drain.requested and drain.reason is reason


def test_watcher_thread_polls_until_notice(imds: FakeImds) -> None:
    drain = Drain()
    watcher = TerminationWatcher(InstanceMetadata(imds.url), drain, poll_seconds=0.05)
    watcher.start()
    try:
        assert not drain.wait(0.3)
        imds.set_lifecycle_state("Warmed:Terminated")
        assert drain.wait(3)
        assert drain.reason is DrainReason.LIFECYCLE
        assert drain.detail == "Warmed:Terminated"
    finally:
        watcher.stop()
