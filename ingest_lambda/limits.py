"""The ingest API's fixed limits (the configurable ones live in ``IngestSettings``)."""

from __future__ import annotations

from typing import Final

from sdfleet.store import LIST_LIMIT_MAX

#: Largest request body accepted; a job request is a few KiB at most (prompts <= 2000 chars).
MAX_BODY_BYTES: Final = 64 * 1024
#: Jobs per page of ``GET /jobs`` when ``limit`` is not given; at most ``LIST_LIMIT_MAX``.
LIST_LIMIT_DEFAULT: Final = 20
LIST_LIMIT: Final = LIST_LIMIT_MAX
#: Idempotency-Key header: 1..255 visible ASCII characters.
IDEMPOTENCY_KEY_MAX_CHARS: Final = 255
#: How long a used Idempotency-Key keeps returning the same job.
IDEMPOTENCY_TTL_SECONDS: Final = 24 * 3600
#: Retry-After sent with 429 (too many active jobs): roughly a few jobs' worth of time.
QUOTA_RETRY_AFTER_SECONDS: Final = 30
#: Retry-After sent with 503 (a dependency failed and nothing was accepted).
UNAVAILABLE_RETRY_AFTER_SECONDS: Final = 5
#: S3 DeleteObjects takes at most this many keys per call.
DELETE_BATCH_SIZE: Final = 1000
