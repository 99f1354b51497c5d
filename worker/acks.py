"""Deleting finished messages off the critical path.

Once ``finish`` (or a skip or a failure) is recorded, deleting the message is bookkeeping:
if it never happens the message comes back, its record is terminal and the next receive
deletes it. So deletes go through a background thread and the worker moves on to its next
receive at once. ``stop`` flushes what is pending (a drain deletes everything it finished).
"""

from __future__ import annotations

import queue
import threading
from typing import Final

from aws_lambda_powertools import Logger

from worker.gateways import QueueGateway
from worker.lanes import ReceivedMessage
from worker.retry import transient_retry

FLUSH_TIMEOUT_SECONDS: Final = 30.0

logger = Logger(service="sdfleet-worker", child=True)


class Acknowledger:
    def __init__(self, gateway: QueueGateway) -> None:
        self._gateway = gateway
        self._queue: queue.Queue[ReceivedMessage | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="acks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Deletes everything queued so far, then stops the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(FLUSH_TIMEOUT_SECONDS)
        self._thread = None

    def ack(self, message: ReceivedMessage) -> None:
        if self._thread is None:
            self._delete(message)  # not started (a caller driving the worker by hand)
        else:
            self._queue.put(message)

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            self._delete(message)

    def _delete(self, message: ReceivedMessage) -> None:
        try:
            transient_retry(self._gateway.delete)(message)
        except Exception:
            # It comes back later; its record is terminal then, so it is simply deleted.
            logger.exception("delete_message failed", extra={"message_id": message.message_id})
