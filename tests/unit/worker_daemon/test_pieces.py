"""Pure pieces of the daemon: tenants, retry classification, seeds, the step callback."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from worker.errors import GenerationCancelled, UnknownSender
from worker.inputs import derived_seed
from worker.lease_keeper import JobLease
from worker.lifecycle import Drain, DrainReason
from worker.pipeline_call import step_callback
from worker.retry import is_transient, redelivery_delay, transient_retry
from worker.tenants import TenantMap, batch_job_id


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "x"},
            # Only the key the code reads: botocore-stubs want all five metadata keys.
            "ResponseMetadata": {"HTTPStatusCode": status},  # type: ignore[typeddict-item]
        },
        "PutObject",
    )


def test_tenant_map_resolves_and_refuses() -> None:
    tenants = TenantMap({"AIDA1": "acme"})
    assert tenants.tenant_for("AIDA1") == "acme"
    with pytest.raises(UnknownSender, match="'AIDA2' is not in the sender_tenants map"):
        tenants.tenant_for("AIDA2")
    with pytest.raises(UnknownSender):
        tenants.tenant_for(None)


def test_tenant_map_checks_owner_ids() -> None:
    with pytest.raises(ValueError, match=r"sender_tenants\['AIDA1'\]: 'a/b'"):
        TenantMap({"AIDA1": "a/b"})


def test_tenant_map_knows_each_tenants_default_webhook_and_refuses_unknown_tenants() -> None:
    tenants = TenantMap({"AIDA1": "acme", "AIDA2": "globex"}, {"acme": "https://hooks.acme/x"})
    assert tenants.default_webhook_url("acme") == "https://hooks.acme/x"
    assert tenants.default_webhook_url("globex") is None
    with pytest.raises(ValueError, match=r"tenant_webhook_urls: 'acmee' is not a tenant"):
        TenantMap({"AIDA1": "acme"}, {"acmee": "https://hooks.acme/x"})


def test_batch_job_id_is_deterministic_and_valid() -> None:
    import re

    from sdfleet.messages import JOB_ID_PATTERN

    job_id = batch_job_id("6b3f0a7e-1111-2222-3333-444455556666")
    assert job_id == batch_job_id("6b3f0a7e-1111-2222-3333-444455556666")
    assert re.match(JOB_ID_PATTERN, job_id)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (client_error("ThrottlingException", 400), True),
        (client_error("ProvisionedThroughputExceededException", 400), True),
        (client_error("SlowDown", 503), True),
        (client_error("InternalError", 500), True),
        (client_error("AccessDenied", 403), False),
        (client_error("ConditionalCheckFailedException", 400), False),
        (EndpointConnectionError(endpoint_url="http://x"), True),
        (ValueError("bug"), False),
    ],
)
def test_transient_classification(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_transient_retry_retries_then_succeeds() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise client_error("ThrottlingException", 400)
        return "ok"

    assert transient_retry(flaky)() == "ok"
    assert len(calls) == 3


def test_transient_retry_does_not_retry_bugs() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise client_error("AccessDenied", 403)

    with pytest.raises(ClientError):
        transient_retry(broken)()
    assert len(calls) == 1


def test_redelivery_delay_grows_and_is_capped() -> None:
    assert [redelivery_delay(n, 120) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert redelivery_delay(30, 120) == 120
    assert redelivery_delay(3, 5) == 5


def test_derived_seed_is_stable_and_in_range() -> None:
    assert derived_seed("job-1") == derived_seed("job-1") != derived_seed("job-2")
    assert 0 <= derived_seed("job-1") < 2**32


def test_step_callback_reports_progress_and_stops_only_when_no_one_wants_result() -> None:
    a, b = JobLease("a"), JobLease("b")
    on_step = step_callback([a, b])
    on_step(1, 4)
    assert a.progress == (1, 4) and a.progress_dirty
    a.cancel_requested = True
    on_step(2, 4)  # b still wants its images
    b.lost = True
    with pytest.raises(GenerationCancelled):
        on_step(3, 4)


def test_drain_keeps_first_reason() -> None:
    drain = Drain()
    assert drain.request(DrainReason.SPOT, "terminate")
    assert not drain.request(DrainReason.SIGNAL, "SIGTERM")
    assert drain.requested and drain.reason is DrainReason.SPOT and drain.detail == "terminate"
