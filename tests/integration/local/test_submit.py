"""``sdfleet submit``: line checks, batches of 10 onto the lane, job ids the worker will use."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from sdfleet.messages import JobMessage, Lane
from sdfleet.records import JobRecord, JobStatus
from sdfleet.requests import JobKind, JobParams
from sdfleet_cli.cli import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, main
from sdfleet_cli.local.state import LocalState, StateDir
from sdfleet_cli.local.submit import SQS_BATCH_MAX_ENTRIES, BatchSender, parse_lines
from sdfleet_cli.local.waiting import JobWatcher, download_outputs
from tests.conftest import FleetResources
from worker.tenants import batch_job_id

GOOD = {"kind": "txt2img", "prompt": "a red fox", "steps": 2, "width": 64, "height": 64}


def test_bad_lines_name_the_line_and_field_and_good_lines_survive() -> None:
    lines = [
        json.dumps(GOOD),
        "",
        "{not json",
        json.dumps({**GOOD, "steps": 500}),
        json.dumps({"kind": "img2img", "prompt": "x"}),
        json.dumps([1, 2]),
        json.dumps({**GOOD, "colour": "blue"}),
        json.dumps({**GOOD, "prompt": "a blue fox"}),
    ]
    parsed, problems = parse_lines(lines, Lane.BATCH, source="jobs.jsonl")
    assert [item.line for item in parsed] == [1, 8]
    assert parsed[0].message.client_ref == "jobs.jsonl:1"
    assert parsed[0].message.job_id is None
    assert parsed[0].message.lane is Lane.BATCH
    texts = [str(problem) for problem in problems]
    assert texts[0].startswith("line 3: not valid JSON")
    assert texts[1] == "line 4: steps: must be <= 100 (got 500)"
    assert texts[2] == "line 5: input_key: required for img2img"
    assert texts[3] == "line 6: must be a JSON object, got list"
    assert texts[4] == "line 7: colour: unknown field is not allowed"


@pytest.mark.emulator
def test_messages_go_out_in_batches_of_ten_with_derived_job_ids(fleet: FleetResources) -> None:
    lines = [json.dumps({**GOOD, "seed": n}) for n in range(23)]
    parsed, problems = parse_lines(lines, Lane.BATCH)
    assert problems == []
    submitted, refused = BatchSender(fleet.clients.sqs(), fleet.queues.batch_url).send(parsed)
    assert refused == []
    assert [job.line for job in submitted] == list(range(1, 24))
    received: dict[str, JobMessage] = {}
    sqs = fleet.clients.sqs()
    while len(received) < len(lines):
        batch = sqs.receive_message(
            QueueUrl=fleet.queues.batch_url, MaxNumberOfMessages=SQS_BATCH_MAX_ENTRIES
        ).get("Messages", [])
        assert batch, "messages went missing"
        for message in batch:
            received[batch_job_id(message["MessageId"])] = JobMessage.from_body(message["Body"])
    assert set(received) == {job.job_id for job in submitted}
    by_line = {job.line: received[job.job_id] for job in submitted}
    assert [by_line[line].params.seed for line in range(1, 24)] == list(range(23))


def _state(fleet: FleetResources, tmp_path: Path) -> StateDir:
    paths = StateDir(tmp_path / "state")
    paths.write(
        LocalState(
            api_url="http://127.0.0.1:1",
            aws_endpoint_url=fleet.clients.endpoint_url or "",
            region=fleet.clients.region,
            interactive_queue_url=fleet.queues.interactive_url,
            batch_queue_url=fleet.queues.batch_url,
            interactive_dlq_url=fleet.queues.interactive_dlq_url,
            batch_dlq_url=fleet.queues.batch_dlq_url,
            bucket=fleet.bucket,
            jobs_table=fleet.jobs_table,
            workers_table=fleet.workers_table,
            user_pool_id="unused",
            user_pool_client_id="unused",
            asg_name="unused",
            local_tenant="local",
            logs_dir=str(tmp_path / "logs"),
            pid=0,
        )
    )
    return paths


@pytest.mark.emulator
def test_cli_submit_reports_rejected_lines_and_exits_nonzero(
    fleet: FleetResources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _state(fleet, tmp_path)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "width": 63}) + "\n")
    status = main(["submit", str(jobs), "--state-dir", str(paths.root)])
    out = capsys.readouterr()
    assert status == EXIT_FAILED
    assert "line 2: width: must be a multiple of 8 in 64..1024 (got 63)" in out.err
    assert "submitted 1 job(s) to the batch lane" in out.out
    depth = fleet.clients.sqs().get_queue_attributes(
        QueueUrl=fleet.queues.batch_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert depth == "1"


@pytest.mark.emulator
def test_cli_wait_times_out_while_no_worker_runs(
    fleet: FleetResources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _state(fleet, tmp_path)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps(GOOD) + "\n")
    status = main(["submit", str(jobs), "--state-dir", str(paths.root), "--wait", "--timeout", "1"])
    assert status == EXIT_TIMEOUT
    assert "not started" in capsys.readouterr().out


@pytest.mark.emulator
def test_watcher_reads_records_and_downloads_outputs(fleet: FleetResources, tmp_path: Path) -> None:
    store = fleet.job_store()
    record = store.create(
        JobRecord(
            job_id="b-done",
            owner="local",
            kind=JobKind.TXT2IMG,
            params=JobParams(prompt="x"),
            lane=Lane.BATCH,
        )
    )
    key = f"users/local/outputs/{record.job_id}/00.png"
    fleet.clients.s3().put_object(Bucket=fleet.bucket, Key=key, Body=b"\x89PNG fake")
    store.claim(record.job_id, "w1", lease_seconds=60)
    store.finish(record.job_id, "w1", outputs=[key], seeds=[1])
    watcher = JobWatcher(fleet.clients.dynamodb(), fleet.jobs_table)
    records = watcher.wait(["b-done", "b-missing"], timeout=0)
    assert set(records) == {"b-done"}
    assert records["b-done"].status is JobStatus.SUCCEEDED
    (path,) = download_outputs(fleet.clients.s3(), fleet.bucket, records["b-done"], tmp_path)
    assert path == tmp_path / "b-done" / "00.png"
    assert path.read_bytes() == b"\x89PNG fake"


def _play_worker(fleet: FleetResources, owner: str, stop: threading.Event) -> None:
    """What a worker does with each batch message, without the model: the record under the
    tenant, claimed, one PNG, finished, message deleted."""
    sqs, store = fleet.clients.sqs(), fleet.job_store()
    while not stop.is_set():
        for message in sqs.receive_message(
            QueueUrl=fleet.queues.batch_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            parsed = JobMessage.from_body(message["Body"])
            job_id = batch_job_id(message["MessageId"])
            store.create(
                JobRecord(
                    job_id=job_id,
                    owner=owner,
                    kind=parsed.kind,
                    params=parsed.params,
                    lane=Lane.BATCH,
                )
            )
            key = f"users/{owner}/outputs/{job_id}/00.png"
            fleet.clients.s3().put_object(
                Bucket=fleet.bucket, Key=key, Body=b"\x89PNG " + job_id.encode()
            )
            store.claim(job_id, "w1", lease_seconds=60)
            store.finish(job_id, "w1", outputs=[key], seeds=[1])
            sqs.delete_message(
                QueueUrl=fleet.queues.batch_url, ReceiptHandle=message["ReceiptHandle"]
            )


@pytest.mark.emulator
def test_cli_submit_wait_exits_ok_once_every_job_succeeded(
    fleet: FleetResources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _state(fleet, tmp_path)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "seed": 2}) + "\n")
    out = tmp_path / "out"
    stop = threading.Event()
    worker = threading.Thread(target=_play_worker, args=(fleet, "local", stop), daemon=True)
    worker.start()
    try:
        status = main(
            [
                "submit",
                str(jobs),
                "--state-dir",
                str(paths.root),
                "--wait",
                "--timeout",
                "60",
                "--out",
                str(out),
            ]
        )
    finally:
        stop.set()
        worker.join(10)
    printed = capsys.readouterr().out
    assert status == EXIT_OK, printed
    assert "2 succeeded, 0 did not" in printed
    downloads = sorted(out.glob("b-*/00.png"))
    assert len(downloads) == 2
    assert all(p.read_bytes() == b"\x89PNG " + p.parent.name.encode() for p in downloads)
