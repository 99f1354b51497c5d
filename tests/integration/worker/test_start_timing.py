"""The worker times its start from EC2's launch (the identity document's pendingTime) to
ready and records it in the emulator's S3, with the start path told from its history: a
launch, a launch into the warm pool, a resume from the pool, a restart of the process."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sdfleet.starts import START_RECORDS_PREFIX, StartPath, StartRecordStore
from tests.conftest import FleetResources
from tests.integration.worker.fake_imds import FakeImds
from tests.support.aws_resources import unique
from worker.metadata import InstanceMetadata
from worker.start_timing import HISTORY_FILE, StartTimer

pytestmark = pytest.mark.emulator

LAUNCHED = datetime(2026, 12, 7, 20, 0, 0, tzinfo=UTC)


def _timer(
    imds: FakeImds,
    store: StartRecordStore | None,
    state_dir: Path,
    *,
    boot: float,
    load: float,
    launched: datetime = LAUNCHED,
) -> StartTimer:
    imds.restart_instance(launched.strftime("%Y-%m-%dT%H:%M:%SZ"))
    started = launched + timedelta(seconds=boot)
    return StartTimer(
        state_dir=str(state_dir),
        metadata=InstanceMetadata(imds.url),
        store=store,
        process_started_at=started,
        clock=lambda: started + timedelta(seconds=load),
    )


@pytest.fixture()
def store(fleet: FleetResources) -> StartRecordStore:
    return StartRecordStore(fleet.clients.s3(), fleet.bucket)


def test_a_launch_is_timed_from_pending_time_and_recorded(
    imds: FakeImds, store: StartRecordStore, tmp_path: Path
) -> None:
    record = _timer(imds, store, tmp_path, boot=71.5, load=24.0).ready(
        entering_pool=False, model_load_seconds=12.5
    )
    assert record is not None
    assert record.start_path is StartPath.LAUNCH
    assert (record.boot_seconds, record.load_seconds) == (71.5, 24.0)
    assert record.launch_to_ready_seconds == 95.5
    assert (record.image_id, record.instance_type) == (imds.image_id, imds.instance_type)
    (key,) = store.record_keys()
    assert key.startswith(f"{START_RECORDS_PREFIX}{imds.instance_id}/20261207T200000Z-")
    assert store.get(key) == record


def test_the_path_comes_from_the_instance_history(
    imds: FakeImds, store: StartRecordStore, tmp_path: Path
) -> None:
    def path(
        launched: datetime = LAUNCHED, *, boot: float = 60, entering_pool: bool = False
    ) -> StartPath:
        timer = _timer(imds, store, tmp_path, boot=boot, load=30, launched=launched)
        record = timer.ready(entering_pool=entering_pool)
        assert record is not None
        return record.start_path

    assert path(entering_pool=True) is StartPath.LAUNCH_TO_POOL
    # systemd restarted the process on the same start: timed already, not a boot sample.
    assert path(boot=200) is StartPath.RESTART
    # Stopped in the pool, started into service: a new pendingTime.
    later = LAUNCHED + timedelta(hours=3)
    assert path(later) is StartPath.RESUME
    assert path(later, boot=200) is StartPath.RESTART
    assert len(list(store.record_keys())) == 4  # every start kept, each under its own key

    # A history left by another instance (state baked into an AMI) says nothing of this one.
    imds.instance_id = "i-0fedcba9876543210"
    assert path(later + timedelta(hours=1)) is StartPath.LAUNCH
    assert imds.instance_id in (tmp_path / HISTORY_FILE).read_text()


def test_one_start_is_recorded_once_per_process(
    imds: FakeImds, store: StartRecordStore, tmp_path: Path
) -> None:
    timer = _timer(imds, store, tmp_path, boot=50, load=20)
    first = timer.ready(entering_pool=True)
    assert timer.ready(entering_pool=False) is first
    assert len(list(store.record_keys())) == 1


def test_without_metadata_or_s3_the_start_is_logged_and_the_worker_goes_on(
    imds: FakeImds, fleet: FleetResources, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = FakeImds().start()
    closed.stop()  # nothing listens there now: not on EC2
    timer = StartTimer(
        state_dir=str(tmp_path),
        metadata=InstanceMetadata(closed.url, timeout=0.5),
        store=StartRecordStore(fleet.clients.s3(), fleet.bucket),
        process_started_at=LAUNCHED,
    )
    assert timer.ready(entering_pool=False) is None
    assert not (tmp_path / HISTORY_FILE).exists()

    missing = StartRecordStore(fleet.clients.s3(), unique("no-such-bucket"))
    with caplog.at_level(logging.WARNING):
        record = _timer(imds, missing, tmp_path, boot=60, load=30).ready(entering_pool=False)
    assert record is not None and record.start_path is StartPath.LAUNCH
    assert "start record not written" in caplog.text
