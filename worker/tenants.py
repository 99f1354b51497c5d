"""SQS SenderId -> tenant: the owner of a batch job is never taken from the message body.

Keys are sender keys (:func:`sdfleet.senders.sender_key`): an IAM user id, an account id, or
the role id of an assumed role. A ``SenderId`` of ``AROA…:<session>`` is looked up by its role
id alone, because the session name is whatever the caller chose.
"""

from __future__ import annotations

from collections.abc import Mapping

from sdfleet.messages import batch_job_id
from sdfleet.senders import check_tenant, sender_key
from worker.errors import UnknownSender


class TenantMap:
    """The configured ``sender_tenants`` map and each tenant's default webhook URL
    (``tenant_webhook_urls``), checked once at start-up."""

    def __init__(
        self, sender_tenants: Mapping[str, str], webhook_urls: Mapping[str, str] | None = None
    ) -> None:
        for sender, tenant in sender_tenants.items():
            if ":" in sender:
                raise ValueError(
                    f"sender_tenants: key {sender!r} names a role session; map the role id "
                    f"{sender.split(':', 1)[0]!r} (a session name is the caller's choice)"
                )
            try:
                check_tenant(tenant)
            except ValueError as exc:
                raise ValueError(
                    f"sender_tenants[{sender!r}]: {tenant!r} is not a valid tenant id ({exc})"
                ) from exc
        self._map = dict(sender_tenants)
        tenants = set(self._map.values())
        for tenant in webhook_urls or {}:
            if tenant not in tenants:
                # A typo would silently send no webhooks: refuse to start instead.
                raise ValueError(
                    f"tenant_webhook_urls: {tenant!r} is not a tenant of sender_tenants "
                    f"(known: {', '.join(sorted(tenants)) or 'none'})"
                )
        self._webhook_urls = dict(webhook_urls or {})

    def tenant_for(self, sender_id: str | None) -> str:
        key = sender_key(sender_id)
        if key is None or key not in self._map:
            raise UnknownSender(sender_id)
        return self._map[key]

    def default_webhook_url(self, tenant: str) -> str | None:
        """Where the events of ``tenant``'s batch jobs go when a message names no URL."""
        return self._webhook_urls.get(tenant)

    def __len__(self) -> int:
        return len(self._map)


__all__ = ["TenantMap", "batch_job_id"]
