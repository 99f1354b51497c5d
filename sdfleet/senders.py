"""Who sent an SQS message, and which job records it may name.

SQS stamps every message with a ``SenderId`` the sender cannot choose: an IAM user's id
(``AIDA…``), an account id, or for an assumed role ``<role id>:<session name>`` (``AROA…:name``).
The session name is the caller's choice, so every rule here keys on the part before the first
``:`` (the role id). That key is what ``sender_tenants`` and ``ingest_sender_id`` name.

* Interactive lane: only the ingest API's role may send. Its messages name a record the API
  created in that lane; any owner is possible (the API authenticated the user).
* Batch lane: the sender's tenant (``sender_tenants``) owns the job. A message's ``job_id`` J is
  namespaced as ``<tenant>.<J>`` (a ``.`` is never part of J nor of a tenant), so one tenant can
  never name, squat or fail another tenant's record, nor a web job (web ids have no ``.``).
  A batch message without a ``job_id`` gets ``b-<MessageId>``: SQS assigns MessageIds, so that
  id cannot be chosen or taken by anyone either.
"""

from __future__ import annotations

import re
from typing import Final

#: Batch tenants become the first part of record ids, S3 keys and URLs: keep them plain.
TENANT_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
NAMESPACE_SEPARATOR: Final = "."


def sender_key(sender_id: str | None) -> str | None:
    """The part of a ``SenderId`` its sender cannot choose: the role id of an assumed role."""
    if not sender_id:
        return None
    key = sender_id.split(":", 1)[0].strip()
    return key or None


def check_tenant(tenant: str) -> str:
    if not TENANT_PATTERN.fullmatch(tenant):
        raise ValueError(
            f"tenant: {tenant!r} must match {TENANT_PATTERN.pattern} (it prefixes record ids)"
        )
    return tenant


def namespaced_job_id(tenant: str, job_id: str) -> str:
    """The record id of a batch job ``job_id`` sent by ``tenant``."""
    return f"{check_tenant(tenant)}{NAMESPACE_SEPARATOR}{job_id}"


def tenant_of_job_id(record_id: str) -> str | None:
    """The tenant whose namespace ``record_id`` lies in; None for a web (interactive) id."""
    tenant, separator, _ = record_id.partition(NAMESPACE_SEPARATOR)
    return tenant if separator else None


def is_ingest_sender(sender_id: str | None, ingest_sender_id: str | None) -> bool:
    """True only when both are known and name the same principal (role id part)."""
    key, ingest = sender_key(sender_id), sender_key(ingest_sender_id)
    return key is not None and ingest is not None and key == ingest
