"""Lanes, the lease keeper and guarded output writes against the emulator (no generation)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from sdfleet.errors import LeaseLost
from sdfleet.keys import output_key
from sdfleet.messages import Lane
from sdfleet.records import JobRecord
from sdfleet.requests import JobKind
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.integration.worker.conftest import params
from tests.support.polling import wait_until
from worker.gateways import SqsGateway
from worker.lanes import LanePoller
from worker.lease_keeper import LeaseKeeper
from worker.outputs import OutputWriter


def poller(fleet: FleetResources, wait: int = 1, visibility: int = 10) -> LanePoller:
    return LanePoller(
        fleet.clients.sqs(),
        [(Lane.INTERACTIVE, fleet.queues.interactive_url), (Lane.BATCH, fleet.queues.batch_url)],
        wait_time_seconds=wait,
        max_messages=4,
        visibility_timeout_seconds=visibility,
    )


def test_interactive_lane_is_drained_before_batch(fleet: FleetResources) -> None:
    sqs = fleet.clients.sqs()
    for i in range(6):
        sqs.send_message(QueueUrl=fleet.queues.batch_url, MessageBody=f"batch-{i}")
    sqs.send_message(QueueUrl=fleet.queues.interactive_url, MessageBody="web")
    lanes = poller(fleet)
    first = lanes.poll()
    assert [(m.lane, m.body) for m in first] == [(Lane.INTERACTIVE, "web")]
    assert first[0].sender_id and first[0].receive_count == 1 and first[0].sent_timestamp_ms
    second = lanes.poll()
    assert {m.lane for m in second} == {Lane.BATCH} and 1 <= len(second) <= 4


def test_empty_lanes_long_poll_interactive(fleet: FleetResources) -> None:
    """The receives the poller makes, read from the real client's request parameters (no
    stopwatch): both lanes at once, then one long poll on the interactive lane only."""
    sqs = fleet.clients.sqs()
    receives: list[tuple[str, int]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        receives.append((params["QueueUrl"], params.get("WaitTimeSeconds", 0)))

    sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage", record)
    lanes = LanePoller(
        sqs,
        [(Lane.INTERACTIVE, fleet.queues.interactive_url), (Lane.BATCH, fleet.queues.batch_url)],
        wait_time_seconds=1,
        max_messages=4,
        visibility_timeout_seconds=10,
    )
    interactive, batch = fleet.queues.interactive_url, fleet.queues.batch_url
    assert lanes.poll() == []
    assert receives == [(interactive, 0), (batch, 0), (interactive, 1)]
    receives.clear()
    assert lanes.poll(long_poll=False) == []
    assert receives == [(interactive, 0), (batch, 0)]


def _running_job(store: JobStore, job_id: str, worker: str, lease: float = 5) -> JobRecord:
    store.create(JobRecord(job_id=job_id, owner="user-1", kind=JobKind.TXT2IMG, params=params()))
    return store.claim(job_id, worker, lease)


def test_lease_keeper_keeps_message_hidden_renews_lease_and_sees_cancel(
    fleet: FleetResources, job_store: JobStore
) -> None:
    sqs = fleet.clients.sqs()
    sqs.send_message(QueueUrl=fleet.queues.interactive_url, MessageBody="m")
    [message] = poller(fleet, visibility=4).poll()
    before = _running_job(job_store, "hb-1", "w1", lease=4)
    beat = LeaseKeeper(
        SqsGateway(sqs),
        job_store,
        worker_id="w1",
        renew_seconds=1,
        visibility_timeout_seconds=4,
        lease_seconds=4,
    )
    beat.hold_messages([message])
    lease = beat.hold_job("hb-1")
    lease.report_progress(3, 10)
    beat.start()
    try:
        # Longer than both the visibility timeout and the lease (4 s, extended every second).
        time.sleep(5.5)
        assert poller(fleet, wait=0).poll(long_poll=False) == []
        record = job_store.get("hb-1")
        assert record.lease_expires_at is not None and before.lease_expires_at is not None
        assert record.lease_expires_at > before.lease_expires_at
        assert (record.progress_step, record.progress_total) == (3, 10)
        job_store.request_cancel("hb-1")
        wait_until(lambda: lease.cancel_requested, 3, "the cancel request to reach the lease")
        assert lease.cancel_requested
    finally:
        beat.stop()


def test_a_first_step_writes_progress_without_waiting_for_a_tick(
    fleet: FleetResources, job_store: JobStore
) -> None:
    _running_job(job_store, "hb-first", "w1", lease=600)
    beat = LeaseKeeper(
        SqsGateway(fleet.clients.sqs()),
        job_store,
        worker_id="w1",
        renew_seconds=300,
        visibility_timeout_seconds=600,
        lease_seconds=600,
        tick_seconds=300,
    )
    lease = beat.hold_job("hb-first")
    beat.start()
    try:
        lease.report_progress(1, 30)
        wait_until(lambda: job_store.get("hb-first").progress_step == 1, 20, "the first progress")
        # Later steps wait for the (here, five-minute) tick: at most one write a second.
        lease.report_progress(2, 30)
        time.sleep(0.5)
        assert job_store.get("hb-first").progress_step == 1
    finally:
        beat.stop()


class _HeldRenewals(JobStore):
    """The real store, with each lease renewal held in flight until the test lets it go."""

    def __init__(self, store: JobStore) -> None:
        super().__init__(store._db, store.table_name)
        self.renewing = threading.Event()
        self.let_go = threading.Event()

    def renew_lease(self, *args: Any, **kwargs: Any) -> JobRecord:
        self.renewing.set()
        assert self.let_go.wait(30)
        return super().renew_lease(*args, **kwargs)


def test_releasing_a_job_waits_for_its_renewal_in_flight(
    fleet: FleetResources, job_store: JobStore
) -> None:
    _running_job(job_store, "hb-race", "w1", lease=60)
    store = _HeldRenewals(job_store)
    beat = LeaseKeeper(
        SqsGateway(fleet.clients.sqs()),
        store,
        worker_id="w1",
        renew_seconds=1,
        visibility_timeout_seconds=60,
        lease_seconds=60,
    )
    beat.hold_job("hb-race")
    ticking = threading.Thread(target=beat.beat, args=(time.monotonic() + 5,))
    ticking.start()
    assert store.renewing.wait(10)
    released = threading.Event()

    def release() -> None:
        beat.release_job("hb-race")
        released.set()

    releasing = threading.Thread(target=release)
    releasing.start()
    # The release must not return while the renewal could still land after it.
    assert not released.wait(0.3)
    store.let_go.set()
    ticking.join(10)
    assert released.wait(10)
    releasing.join(10)
    # Released for good: the next tick renews nothing.
    store.renewing.clear()
    beat.beat(time.monotonic() + 10)
    assert not store.renewing.is_set()


def test_lease_keeper_notices_lost_lease(fleet: FleetResources, job_store: JobStore) -> None:
    _running_job(job_store, "hb-2", "w1", lease=5)
    later = job_store.get("hb-2").lease_expires_at
    assert later is not None
    job_store.claim("hb-2", "w2", 5, now=later + timedelta(seconds=1))
    beat = LeaseKeeper(
        SqsGateway(fleet.clients.sqs()),
        job_store,
        worker_id="w1",
        renew_seconds=1,
        visibility_timeout_seconds=10,
        lease_seconds=5,
    )
    lease = beat.hold_job("hb-2")
    beat.beat(time.monotonic() + 2)
    assert lease.lost and not lease.cancel_requested


def test_loser_never_overwrites_winner_outputs(fleet: FleetResources, job_store: JobStore) -> None:
    s3 = fleet.clients.s3()
    record = _running_job(job_store, "out-1", "stale", lease=5)
    stale = OutputWriter(s3, fleet.bucket, job_store, "stale", 5)
    fresh = OutputWriter(s3, fleet.bucket, job_store, "fresh", 5)
    # The stale worker wrote one image, then lost its lease to "fresh".
    stale.upload(record.owner, "out-1", [b"stale-0"], attempt=1)
    expiry = job_store.get("out-1").lease_expires_at
    assert expiry is not None
    job_store.claim("out-1", "fresh", 60, now=expiry + timedelta(seconds=1))
    keys = fresh.upload(record.owner, "out-1", [b"fresh-0", b"fresh-1"], attempt=2)
    assert keys == [output_key("user-1", "out-1", 0), output_key("user-1", "out-1", 1)]
    # The stale worker tries again: its conditional writes and its lease check both refuse.
    with pytest.raises(LeaseLost):
        stale.upload(record.owner, "out-1", [b"stale-0", b"stale-1"], attempt=1)
    bodies = [s3.get_object(Bucket=fleet.bucket, Key=k)["Body"].read() for k in keys]
    assert bodies == [b"fresh-0", b"fresh-1"]
    head = s3.head_object(Bucket=fleet.bucket, Key=keys[0])
    assert head["Metadata"]["worker-id"] == "fresh"
