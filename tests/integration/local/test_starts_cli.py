"""``sdfleet starts`` against the emulator: the workers' start records, summarized per start
path, filtered, and written as the samples file ``sdfleet simulate --start-samples`` reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.simulator.start_samples import load_start_samples
from sdfleet.starts import StartPath, StartRecord, StartRecordStore
from sdfleet_cli.cli import EXIT_FAILED, EXIT_OK, main
from sdfleet_cli.starts import collect, summarize
from tests.conftest import FleetResources

pytestmark = pytest.mark.emulator

BAKED = "ami-0baked0000000000a"
PLAIN = "ami-0plain0000000000b"


def put(
    store: StartRecordStore,
    number: int,
    path: StartPath,
    boot: float,
    load: float,
    *,
    image_id: str = BAKED,
    days_ago: float = 1.0,
) -> StartRecord:
    launched = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    started = launched + timedelta(seconds=boot)
    record = StartRecord(
        instance_id=f"i-{number:017x}",
        start_path=path,
        launched_at=launched,
        process_started_at=started,
        ready_at=started + timedelta(seconds=load),
        image_id=image_id,
        instance_type="g5.xlarge",
    )
    store.put(record)
    return record


@pytest.fixture()
def store(fleet: FleetResources) -> StartRecordStore:
    store = StartRecordStore(fleet.clients.s3(), fleet.bucket)
    for number, boot in enumerate((60.0, 70.0, 80.0, 90.0, 100.0), start=1):
        put(store, number, StartPath.LAUNCH, boot, 20.0)
    put(store, 6, StartPath.RESUME, 20.0, 25.0)
    put(store, 7, StartPath.RESTART, 400.0, 20.0)
    put(store, 8, StartPath.LAUNCH, 300.0, 20.0, image_id=PLAIN)
    put(store, 9, StartPath.LAUNCH, -2.0, 20.0)  # the instance's clock was behind EC2's
    put(store, 10, StartPath.LAUNCH, 65.0, 20.0, days_ago=40)
    return store


def test_the_summary_is_per_path_and_leaves_out_what_is_not_a_sample(
    store: StartRecordStore,
) -> None:
    since = datetime.now(UTC) - timedelta(days=30)
    collected = collect(store, since=since, image_id=BAKED)
    assert (collected.filtered, collected.impossible, collected.truncated) == (2, 1, False)
    launch, resume = summarize(collected.records)
    assert (launch.path, launch.starts, launch.launch_to_ready_p50) == (StartPath.LAUNCH, 5, 100)
    assert (launch.launch_to_ready_p10, launch.launch_to_ready_p90) == pytest.approx((84, 116))
    assert (launch.boot_p50, launch.load_p50) == (80, 20)
    assert (resume.path, resume.starts, resume.launch_to_ready_p50) == (StartPath.RESUME, 1, 45)
    assert collect(store, max_records=3).truncated


def test_records_launched_before_since_are_skipped_by_their_key_unread(
    store: StartRecordStore, fleet: FleetResources
) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    fleet.clients.s3().put_object(
        Bucket=fleet.bucket,
        Key=f"fleet/starts/i-0000000000000000b/{old:%Y%m%dT%H%M%SZ}-{old:%Y%m%dT%H%M%SZ}.json",
        Body=b"not a start record",
    )
    since = datetime.now(UTC) - timedelta(days=30)
    skipped = collect(store, since=since)
    assert (skipped.filtered, skipped.unreadable, len(skipped.records)) == (2, 0, 8)
    everything = collect(store)
    assert (everything.filtered, everything.unreadable, len(everything.records)) == (0, 1, 9)


def test_the_command_writes_the_samples_simulate_reads(
    store: StartRecordStore,
    fleet: FleetResources,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name, value in fleet.env().items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "starts.json"
    assert main(
        ["starts", "--aws", "--image-id", BAKED, "--since-days", "30", "--out", str(out)]
    ) == (EXIT_OK)
    printed = capsys.readouterr().out
    assert "2 record(s) left out by the filters" in printed
    assert "1 record(s) with a negative part" in printed
    samples = load_start_samples(out)
    assert sorted(samples.launch) == [(b, 20.0) for b in (60.0, 70.0, 80.0, 90.0, 100.0)]
    assert samples.resume == ((20.0, 25.0),)
    assert samples.source.startswith(f"s3://{fleet.bucket}/fleet/starts/")

    assert main(["starts", "--aws", "--json", "--image-id", PLAIN]) == EXIT_OK
    (plain,) = json.loads(capsys.readouterr().out)
    assert (plain["path"], plain["starts"], plain["launch_to_ready_p50"]) == ("launch", 1, 320)

    assert main(["starts", "--aws", "--since-days", "0"]) == EXIT_FAILED
    assert "--since-days: must be 1..3650 (got 0)" in capsys.readouterr().err
    assert main(["starts", "--aws", "--image-id", "ami-none"]) == EXIT_FAILED  # no starts
    assert "no measured starts: workers record them on EC2" in capsys.readouterr().out
