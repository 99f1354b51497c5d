"""Per-user fairness inside the interactive lane: a window of held messages, started round
robin over their fairness keys.

SQS hands out a standard queue's messages roughly in arrival order, so a worker that takes
the next ones would run all 20 of one user's jobs before another user's single job sent a
moment later. Instead the worker keeps up to ``window`` interactive messages received and
held (the lease keeper keeps them invisible, so holding them costs no delivery and counts
nothing towards the DLQ), and hands out the next ones by key (the ``MessageGroupId`` the
ingest API sets, :mod:`sdfleet.fairness`): the key started least often so far first, a tie
to the key with the smaller backlog, then the oldest. A key entering the window starts level
with the least-served key already there, so a newcomer is next but cannot then claim a run
of turns for the time it was absent.

The lanes' order is kept: the window is the interactive lane, so while it holds anything no
batch message is received. With an empty window the poller tries the batch lane, then
long-polls the interactive lane, as :class:`worker.lanes.LanePoller` does.

The price: a worker holds up to ``window`` messages it has not started, which another worker
could have started sooner; a window larger than one user's active-job quota
(``max_active_jobs_per_user``, 20) sees past any one user's whole backlog.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable

from sdfleet.messages import Lane
from worker.lanes import SQS_MAX_MESSAGES, LanePoller, ReceivedMessage


def fairness_key(message: ReceivedMessage) -> str:
    """A message without a key is a tenant of its own, as in an SQS fair queue."""
    return message.group_id or f"message:{message.message_id}"


class FairPoller:
    """A :class:`worker.groups.Receiver` that starts interactive messages in fair order."""

    def __init__(
        self,
        lanes: LanePoller,
        *,
        window: int,
        hold: Callable[[list[ReceivedMessage]], None],
    ) -> None:
        if window < 1:
            raise ValueError(f"window: must be >= 1 (got {window})")
        first_lane, self._url = lanes.lanes[0]
        if first_lane is not Lane.INTERACTIVE:
            raise ValueError("lanes: the fair window needs the interactive lane first")
        self._lanes = lanes
        self._size = window
        self._hold = hold
        self._lock = threading.Lock()
        self._window: list[ReceivedMessage] = []
        self._served: dict[str, int] = {}

    @property
    def waiting(self) -> list[ReceivedMessage]:
        """The held messages not handed out yet, in arrival order."""
        with self._lock:
            return list(self._window)

    def poll(self, *, long_poll: bool = True, limit: int | None = None) -> list[ReceivedMessage]:
        count = self._lanes.max_messages if limit is None else max(1, limit)
        with self._lock:
            self._top_up()
            if self._window:
                return self._take(count)
            for lane, url in self._lanes.lanes[1:]:
                messages = self._lanes.receive(lane, url, 0, count)
                if messages:
                    return messages
            wait = self._lanes.wait_time_seconds
            if not long_poll or wait == 0:
                return []
            messages = self._lanes.receive(Lane.INTERACTIVE, self._url, wait, SQS_MAX_MESSAGES)
            if not messages:
                return []
            self._admit(messages)
            return self._take(count)

    def forget(self) -> list[ReceivedMessage]:
        """Empties the window (drain): the caller returns these messages to the queue."""
        with self._lock:
            held, self._window = self._window, []
            self._served.clear()
            return held

    # -- the window ----------------------------------------------------------------------
    def _top_up(self) -> None:
        """Short polls until the window is full or the lane has nothing visible."""
        for _ in range(math.ceil(self._size / SQS_MAX_MESSAGES) + 1):
            room = self._size - len(self._window)
            if room <= 0:
                return
            messages = self._lanes.receive(Lane.INTERACTIVE, self._url, 0, room)
            if not messages:
                return
            self._admit(messages)

    def _admit(self, messages: list[ReceivedMessage]) -> None:
        self._hold(messages)
        present = {fairness_key(m) for m in self._window}
        level = min((self._served.get(key, 0) for key in present), default=0)
        for message in messages:
            key = fairness_key(message)
            if key not in present:
                self._served[key] = level
                present.add(key)
            self._window.append(message)

    def _take(self, count: int) -> list[ReceivedMessage]:
        taken: list[ReceivedMessage] = []
        while self._window and len(taken) < count:
            backlog = Counter(fairness_key(m) for m in self._window)
            heads: dict[str, int] = {}
            for index, message in enumerate(self._window):
                heads.setdefault(fairness_key(message), index)
            key = min(heads, key=lambda k: (self._served[k], backlog[k], heads[k]))
            taken.append(self._window.pop(heads[key]))
            self._served[key] += 1
        remaining = {fairness_key(m) for m in self._window}
        self._served = {k: v for k, v in self._served.items() if k in remaining}
        return taken
