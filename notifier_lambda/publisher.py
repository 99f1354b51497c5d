"""Publishes job events on the EventBridge bus (``source`` sdfleet.jobs, detail-type per status)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdfleet.errors import SdfleetError
from sdfleet.events import EVENT_SOURCE, JobEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class PublishFailed(SdfleetError):
    pass


class EventPublisher:
    def __init__(self, events: EventBridgeClient, bus_name: str) -> None:
        self._events = events
        self._bus = bus_name

    def publish(self, event: JobEvent) -> None:
        response = self._events.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": event.type,
                    "Detail": event.to_body(),
                    "EventBusName": self._bus,
                    "Resources": [],
                    "Time": event.occurred_at,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            code, text = entry.get("ErrorCode"), entry.get("ErrorMessage")
            raise PublishFailed(f"EventBridge refused {event.id}: {code} {text}")
