"""``python -m worker`` (run as ``python benchmarks/faulty_worker.py``) with AWS errors
injected: each S3, DynamoDB and SQS request fails with HTTP 500 at ``SDFLEET_BENCH_FAULT_RATE``
(0..1) before it is sent, through botocore's ``before-send`` event, so botocore's own retries
and the worker's handling see a real error response. Every injected error is appended to
``SDFLEET_BENCH_FAULT_LOG`` (one line each)."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any, Final

from botocore.awsrequest import AWSResponse

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sdfleet.aws import AwsClients  # noqa: E402

RATE_ENV: Final = "SDFLEET_BENCH_FAULT_RATE"
LOG_ENV: Final = "SDFLEET_BENCH_FAULT_LOG"
FAULTED_SERVICES: Final = frozenset({"s3", "dynamodb", "sqs"})


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def _error_response(service: str, url: str) -> AWSResponse:
    if service == "s3":
        body = b"<Error><Code>InternalError</Code><Message>injected fault</Message></Error>"
        headers = {"Content-Type": "application/xml"}
    else:
        prefix = "com.amazonaws.dynamodb.v20120810#" if service == "dynamodb" else ""
        body = json.dumps(
            {"__type": f"{prefix}InternalServerError", "message": "injected fault"}
        ).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(url, 500, headers, _Body(body))  # type: ignore[arg-type]


def install(rate: float, log: Path | None) -> None:
    """Wraps ``AwsClients.client`` so each new client of a faulted service injects errors."""
    original = AwsClients.client

    def client(self: AwsClients, service: str) -> Any:
        made = original(self, service)
        if service in FAULTED_SERVICES and not getattr(made, "_sdfleet_faulted", False):
            made._sdfleet_faulted = True

            def inject(request: Any, **kwargs: Any) -> AWSResponse | None:
                if random.random() >= rate:
                    return None
                if log is not None:
                    with log.open("a") as out:
                        out.write(f"{service} {kwargs.get('event_name', '')}\n")
                return _error_response(service, request.url)

            made.meta.events.register("before-send", inject)
        return made

    AwsClients.client = client  # type: ignore[method-assign]


def main() -> int:
    rate = float(os.environ.get(RATE_ENV, "0") or 0)
    log = os.environ.get(LOG_ENV)
    if rate > 0:
        install(rate, Path(log) if log else None)
    from worker.__main__ import main as worker_main

    return worker_main([])


if __name__ == "__main__":
    sys.exit(main())
