"""The IMDSv2 client and the termination watcher against the fake metadata service."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from sdfleet.aws import AwsClients
from sdfleet.settings import WorkerSettings
from tests.integration.worker.fake_imds import FakeImds
from tests.support.polling import wait_until
from worker.lifecycle import Drain, DrainReason, TerminationWatcher, record_lifecycle_heartbeat
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


@pytest.mark.parametrize(
    ("leave", "held"),
    [
        (lambda f: f.set_lifecycle_state("Terminated"), True),
        (lambda f: f.notify_spot(), False),
    ],
)
def test_a_lifecycle_drain_holds_the_hook_until_the_worker_stops(
    imds: FakeImds,
    moto_endpoint: str,
    hook_heartbeats: list[dict[str, str]],
    leave: Any,
    held: bool,
) -> None:
    autoscaling = AwsClients(moto_endpoint, "us-east-1").autoscaling()
    drain = Drain()
    watcher = TerminationWatcher(
        InstanceMetadata(imds.url),
        drain,
        poll_seconds=0.05,
        hook_heartbeat=partial(
            record_lifecycle_heartbeat,
            autoscaling,
            hook_name="drain-hook",
            asg_name="sdfleet-workers",
            instance_id=imds.instance_id,
        ),
        hook_heartbeat_seconds=0.05,
    )
    watcher.start()
    try:
        time.sleep(0.3)
        assert hook_heartbeats == []  # in service: nothing to hold
        leave(imds)
        assert drain.wait(3)
        if held:
            wait_until(lambda: len(hook_heartbeats) >= 3, 5, "three hook heartbeats")
            assert hook_heartbeats[0] == {
                "LifecycleHookName": "drain-hook",
                "AutoScalingGroupName": "sdfleet-workers",
                "InstanceId": imds.instance_id,
            }
        else:
            time.sleep(0.5)  # a spot notice has no hook to hold
            assert hook_heartbeats == []
    finally:
        watcher.stop()
    stopped_at = len(hook_heartbeats)
    time.sleep(0.3)
    assert len(hook_heartbeats) == stopped_at


def test_the_worker_holds_its_hook_only_under_one(
    moto_endpoint: str,
    hook_heartbeats: list[dict[str, str]],
    worker_settings: Callable[..., WorkerSettings],
) -> None:
    from worker.stages import _hook_heartbeat

    clients = AwsClients(moto_endpoint, "us-east-1")
    under_a_hook = worker_settings(lifecycle_hook_name="drain-hook", asg_name="sdfleet-workers")
    heartbeat = _hook_heartbeat(under_a_hook, clients, "i-0abc")
    assert heartbeat is not None
    heartbeat()
    assert hook_heartbeats == [
        {
            "LifecycleHookName": "drain-hook",
            "AutoScalingGroupName": "sdfleet-workers",
            "InstanceId": "i-0abc",
        }
    ]
    assert _hook_heartbeat(under_a_hook, clients, None) is None
    assert _hook_heartbeat(worker_settings(), clients, "i-0abc") is None
