"""The ``context`` object Lambda passes to a handler; Powertools reads these attributes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Final

ACCOUNT_ID: Final = "123456789012"
DEFAULT_TIMEOUT_MS: Final = 30_000


@dataclass
class LambdaContext:
    function_name: str = "sdfleet-local"
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    region: str = "us-east-1"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed_ms = (time.monotonic() - self._started) * 1000
        return max(0, int(self.timeout_ms - elapsed_ms))
