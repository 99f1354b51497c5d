"""The fairness key of an interactive message: who the worker takes turns between.

The ingest API sends each web job with ``MessageGroupId`` = :func:`fair_key` of its owner.
Workers start the interactive lane's jobs round robin over these keys
(:mod:`worker.fair_window`), and on AWS the same attribute makes the lane an SQS fair queue
(SQS favours quiet groups once one group's backlog dominates). It is a hash, so the queue's
metadata holds no user id, and it is only a scheduling hint: who owns a job is always read
from its record (:mod:`worker.intake`).
"""

from __future__ import annotations

import hashlib
from typing import Final

#: Hex characters of the hash kept (64 bits: collisions between users are negligible).
FAIR_KEY_CHARS: Final = 16


def fair_key(owner: str) -> str:
    """The ``MessageGroupId`` of ``owner``'s interactive messages."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:FAIR_KEY_CHARS]
