"""SQS SenderId -> tenant: the owner of a batch job is never taken from the message body."""

from __future__ import annotations

from collections.abc import Mapping

from sdfleet.keys import check_owner
from sdfleet.messages import batch_job_id
from worker.errors import UnknownSender


class TenantMap:
    """The configured ``sender_tenants`` map, checked once at start-up."""

    def __init__(self, sender_tenants: Mapping[str, str]) -> None:
        for sender, tenant in sender_tenants.items():
            try:
                check_owner(tenant)
            except ValueError as exc:
                raise ValueError(
                    f"sender_tenants[{sender!r}]: {tenant!r} is not a valid owner id"
                ) from exc
        self._map = dict(sender_tenants)

    def tenant_for(self, sender_id: str | None) -> str:
        if sender_id is None or sender_id not in self._map:
            raise UnknownSender(sender_id)
        return self._map[sender_id]

    def __len__(self) -> int:
        return len(self._map)


__all__ = ["TenantMap", "batch_job_id"]
