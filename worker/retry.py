"""Which errors are transient, and the tenacity policy the worker wraps AWS calls in.

botocore already retries each call a few times (standard mode); this policy wraps a whole
step (download, upload, finish) so a short outage does not cost the job. When it gives up the
message goes back to the queue with a backoff delay (see :func:`redelivery_delay`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

STEP_ATTEMPTS: Final = 4
STEP_WAIT_INITIAL_SECONDS: Final = 0.2
STEP_WAIT_MAX_SECONDS: Final = 5.0
#: Redelivery backoff after a failed attempt: base * 2^(receive_count - 1), capped.
REDELIVERY_BASE_SECONDS: Final = 2
REDELIVERY_MAX_SECONDS: Final = 300
_THROTTLING: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    if isinstance(
        exc,
        EndpointConnectionError | ConnectionClosedError | ReadTimeoutError | ConnectTimeoutError,
    ):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error.get("Code", "") in _THROTTLING or status >= 500
    return False


def transient_retry(func: Callable[..., T]) -> Callable[..., T]:
    """Decorator: retry ``func`` on transient AWS errors with exponential backoff + jitter."""
    return retry(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(STEP_ATTEMPTS),
        wait=wait_exponential_jitter(initial=STEP_WAIT_INITIAL_SECONDS, max=STEP_WAIT_MAX_SECONDS),
        reraise=True,
    )(func)


def redelivery_delay(receive_count: int, cap: int) -> int:
    """Seconds a failed message stays invisible before its next attempt."""
    exponent = max(0, min(receive_count - 1, 16))
    return int(min(REDELIVERY_BASE_SECONDS * 2**exponent, REDELIVERY_MAX_SECONDS, cap))
