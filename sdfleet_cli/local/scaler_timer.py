"""The scaler Lambda's EventBridge schedule, locally: the real handler on a timer."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from sdfleet_cli.local.lambda_context import ACCOUNT_ID, LambdaContext

DEFAULT_INTERVAL_SECONDS: Final = 5.0

Handler = Callable[[dict[str, Any], Any], Any]
logger = logging.getLogger(__name__)


def scheduled_event(region: str, rule: str = "sdfleet-scaler-local") -> dict[str, Any]:
    """What EventBridge sends a Lambda on a schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


class ScalerTimer:
    def __init__(
        self,
        handler_factory: Callable[[], Handler],
        region: str,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._handler_factory = handler_factory
        self.region = region
        self.interval_seconds = interval_seconds
        self.invocations = 0
        self.failures = 0
        self.last_result: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scaler-timer", daemon=True)

    def invoke_once(self, handler: Handler) -> Any:
        context = LambdaContext(function_name="sdfleet-scaler-local", region=self.region)
        self.invocations += 1
        try:
            self.last_result = handler(scheduled_event(self.region), context)
        except Exception:
            self.failures += 1
            logger.exception("scaler invocation failed")
            return None
        logger.info("scaler decision: %s", self.last_result)
        return self.last_result

    def _run(self) -> None:
        handler = self._handler_factory()
        while not self._stop.is_set():
            self.invoke_once(handler)
            self._stop.wait(self.interval_seconds)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
