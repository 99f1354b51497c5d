"""Webhook delivery attempts, recorded on the job item (``webhook_attempts``) for the API.

Appending an attempt writes the item, so the stream sees it; the status does not change, so
it is not a transition and makes no event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

ATTEMPTS_ATTRIBUTE: Final = "webhook_attempts"


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    #: Timeout, connection error, 5xx or 429: tried again later.
    RETRYING = "retrying"
    #: Another 4xx: the receiver said no; never retried.
    REJECTED = "rejected"
    #: A 3xx: redirects are never followed.
    REDIRECT_REFUSED = "redirect_refused"
    #: The destination broke an SSRF rule at send time; never called.
    REFUSED = "refused"
    #: Retried for the whole delivery window without success; dead-lettered.
    GAVE_UP = "gave_up"

    @property
    def settles(self) -> bool:
        """Whether this ends the event's delivery (later events of the job may go)."""
        return self is not AttemptOutcome.RETRYING


class WebhookAttempt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str
    event_type: str
    attempt: int = Field(ge=1)
    at: datetime
    outcome: AttemptOutcome
    status_code: int | None = None
    latency_ms: float | None = None
    detail: str | None = Field(default=None, description="Refusal rule or error, when any.")
