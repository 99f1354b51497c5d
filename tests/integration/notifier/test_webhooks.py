"""Acceptance: transitions become signed webhooks, once per job and in order, with stable ids;
retries on 5xx until delivered; no retry on 410; SSRF refusals at send are recorded and the
destination is never called; the whole window spent dead-letters with the reason."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from sdfleet.events import event_id
from sdfleet.records import ErrorCode, JobError, JobStatus
from sdfleet.webhook_attempts import AttemptOutcome
from tests.integration.notifier.conftest import EventsStack, drain
from tests.integration.notifier.receiver import Receiver

pytestmark = pytest.mark.emulator

S = JobStatus


def _statuses(receiver: Receiver, path: str) -> list[str]:
    return [d.body["status"] for d in receiver.for_path(path)]


def test_each_transition_once_in_order_signed_with_stable_ids(
    stack: EventsStack, receiver: Receiver
) -> None:
    store = stack.store
    ok = stack.new_job(receiver.url("/ok"))
    bad = stack.new_job(receiver.url("/bad"))
    gone = stack.new_job(receiver.url("/gone"))
    store.claim(ok.job_id, "w1", lease_seconds=60)
    store.finish(
        ok.job_id, "w1", outputs=[f"users/{ok.owner}/outputs/{ok.job_id}/0.png"], seeds=[1]
    )
    store.claim(bad.job_id, "w1", lease_seconds=60)
    # What the worker writes for a poison input (an input that cannot be decoded).
    store.fail(
        bad.job_id, JobError(code=ErrorCode.INVALID_INPUT, message="not an image"), worker_id="w1"
    )
    store.cancel(gone.job_id)
    expected = {
        "/ok": (ok.job_id, [S.QUEUED, S.RUNNING, S.SUCCEEDED]),
        "/bad": (bad.job_id, [S.QUEUED, S.RUNNING, S.FAILED]),
        "/gone": (gone.job_id, [S.QUEUED, S.CANCELLED]),
    }
    poller = stack.poller(stack.notifier())
    drain(poller, lambda: len(receiver.deliveries) >= 8)
    for _ in range(5):  # nothing more comes
        poller.poll_once()
    for path, (job_id, statuses) in expected.items():
        deliveries = receiver.for_path(path)
        assert [d.body["status"] for d in deliveries] == statuses, path
        assert all(d.signature_ok for d in deliveries)
        assert [d.event_id for d in deliveries] == [event_id(job_id, s) for s in statuses]
        assert [d.body["id"] for d in deliveries] == [d.event_id for d in deliveries]
    failed = receiver.for_path("/bad")[-1].body
    assert failed["error"] == {"code": "invalid_input", "message": "not an image"}
    assert receiver.for_path("/ok")[-1].body["output_keys"] == [
        f"users/{ok.owner}/outputs/{ok.job_id}/0.png"
    ]
    # The same 8 transitions on the bus, detail-type per status.
    published = stack.bus_events()
    assert sorted((e["detail"]["job_id"], e["detail-type"]) for e in published) == sorted(
        (job_id, f"job.{s.value}") for job_id, statuses in expected.values() for s in statuses
    )
    # Every attempt is on the job record.
    record = store.get(ok.job_id)
    assert [(a.event_type, a.outcome, a.status_code) for a in record.webhook_attempts] == [
        (f"job.{s.value}", AttemptOutcome.DELIVERED, 200) for s in expected["/ok"][1]
    ]
    # Redelivery (a fresh reader from the stream's start) repeats the same ids.
    first_ids = [d.event_id for d in receiver.deliveries]
    again = stack.poller(stack.notifier())
    drain(again, lambda: len(receiver.deliveries) >= 16)
    assert sorted(d.event_id for d in receiver.deliveries[8:]) == sorted(first_ids)


def test_500_three_times_then_200_is_delivered_on_the_fourth_attempt(
    stack: EventsStack, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (500, {}) if n <= 3 else (200, {})
    job = stack.new_job(receiver.url("/flaky"))
    poller = stack.poller(stack.notifier())
    drain(poller, lambda: receiver.counts.get("/flaky", 0) >= 4)
    attempts = stack.store.get(job.job_id).webhook_attempts
    assert [(a.attempt, a.outcome, a.status_code) for a in attempts] == [
        (1, AttemptOutcome.RETRYING, 500),
        (2, AttemptOutcome.RETRYING, 500),
        (3, AttemptOutcome.RETRYING, 500),
        (4, AttemptOutcome.DELIVERED, 200),
    ]
    assert all(d.event_id == event_id(job.job_id, S.QUEUED) for d in receiver.deliveries)
    assert all(d.signature_ok for d in receiver.deliveries)


def test_410_is_not_retried(stack: EventsStack, receiver: Receiver) -> None:
    receiver.answer = lambda path, n: (410, {})
    job = stack.new_job(receiver.url("/gone"))
    poller = stack.poller(stack.notifier())
    drain(poller, lambda: stack.store.get(job.job_id).webhook_attempts)
    for _ in range(10):
        poller.poll_once()
    assert receiver.counts == {"/gone": 1}
    (attempt,) = stack.store.get(job.job_id).webhook_attempts
    assert (attempt.outcome, attempt.status_code) == (AttemptOutcome.REJECTED, 410)


def test_429_retry_after_is_honoured(stack: EventsStack, receiver: Receiver) -> None:
    receiver.answer = lambda path, n: (429, {"Retry-After": "2"}) if n == 1 else (200, {})
    job = stack.new_job(receiver.url("/busy"))
    poller = stack.poller(stack.notifier())
    started = time.monotonic()
    drain(poller, lambda: receiver.counts.get("/busy", 0) >= 2)
    assert time.monotonic() - started >= 1.5  # SQS held it for the Retry-After
    outcomes = [a.outcome for a in stack.store.get(job.job_id).webhook_attempts]
    assert outcomes == [AttemptOutcome.RETRYING, AttemptOutcome.DELIVERED]


DNS = {"intranet.example.com": ["10.20.30.40"]}


def table_resolver(host: str, port: int) -> Sequence[str]:
    """DNS is the edge: a name that resolves to a private address."""
    if host in DNS:
        return DNS[host]
    raise OSError("unknown")


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1:{port}/never", "loopback_address"),
        ("http://169.254.169.254/latest/meta-data/", "metadata_address"),
        ("http://10.0.0.1/hook", "private_address"),
        ("http://[::1]:{port}/never", "loopback_address"),
        ("http://intranet.example.com:{port}/never", "private_address"),
    ],
)
def test_ssrf_destinations_are_refused_at_send_recorded_and_never_called(
    stack: EventsStack, receiver: Receiver, url: str, rule: str
) -> None:
    port = receiver.url("/").split(":")[2].split("/")[0]
    # Loopback receivers are off here, as in production: the receiver must never be called.
    settings = stack.settings_with(webhook_allow_loopback=False)
    job = stack.new_job(url.format(port=port))
    poller = stack.poller(stack.notifier(settings, resolve=table_resolver))
    drain(poller, lambda: stack.store.get(job.job_id).webhook_attempts)
    (attempt,) = stack.store.get(job.job_id).webhook_attempts
    assert attempt.outcome is AttemptOutcome.REFUSED
    assert attempt.detail is not None and rule in attempt.detail
    assert receiver.deliveries == []


def test_a_redirect_is_never_followed(stack: EventsStack, receiver: Receiver) -> None:
    receiver.answer = lambda path, n: (
        (302, {"Location": "http://169.254.169.254/latest/meta-data/"})
        if path == "/moved"
        else (200, {})
    )
    job = stack.new_job(receiver.url("/moved"))
    poller = stack.poller(stack.notifier())
    drain(poller, lambda: stack.store.get(job.job_id).webhook_attempts)
    for _ in range(5):
        poller.poll_once()
    (attempt,) = stack.store.get(job.job_id).webhook_attempts
    assert (attempt.outcome, attempt.status_code) == (AttemptOutcome.REDIRECT_REFUSED, 302)
    assert receiver.counts == {"/moved": 1}


def test_after_the_window_the_delivery_is_dead_lettered_with_the_reason(
    stack: EventsStack, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (503, {})
    offset = [0.0]
    notifier = stack.notifier(clock=lambda: time.time() + offset[0])
    job = stack.new_job(receiver.url("/down"))
    poller = stack.poller(notifier)
    drain(poller, lambda: stack.store.get(job.job_id).webhook_attempts)
    offset[0] = 86_400.0  # a day later, the next attempt fails too
    drain(
        poller,
        lambda: stack.store.get(job.job_id).webhook_attempts[-1].outcome is AttemptOutcome.GAVE_UP,
    )
    *retried, last = stack.store.get(job.job_id).webhook_attempts
    assert retried and all(a.outcome is AttemptOutcome.RETRYING for a in retried)
    assert last.status_code == 503
    for _ in range(5):  # and nothing is tried after that
        poller.poll_once()
    assert len(stack.store.get(job.job_id).webhook_attempts) == len(retried) + 1
    (dead,) = stack.dead_letters()
    assert dead["delivery"]["event"]["id"] == event_id(job.job_id, S.QUEUED)
    assert "HTTP 503" in dead["reason"]
