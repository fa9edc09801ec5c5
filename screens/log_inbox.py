"""Batches handed to a LogView from any thread (:meth:`screens.log_view.LogView.post`), waiting
for the UI thread: bounded at ``limit`` lines (older whole batches beyond that are dropped and
counted), taken all at once so that the view makes one ``Log.write_lines`` call for them."""

from __future__ import annotations

import threading
from collections import deque

from textual.message import Message

from workbench.events import LogLines


class FlushInbox(Message, bubble=False):
    """Posted (thread-safely) when :meth:`LogInbox.put` put the first batch into an empty
    inbox: the view takes them all."""


class LogInbox:
    """Thread-safe: :meth:`put` from any thread, :meth:`take_all` on the UI thread."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._events: deque[LogLines] = deque()
        self._lines = 0
        self._producer_dropped = 0  # from batches the inbox had to drop
        self._buffer_dropped = 0
        self._lock = threading.Lock()
        self._scheduled = False

    def put(self, event: LogLines) -> bool:
        """Add a batch; True when the UI thread must be told (the first since it last took)."""
        with self._lock:
            self._events.append(event)
            self._lines += len(event.lines)
            while len(self._events) > 1 and self._lines - len(self._events[0].lines) >= (
                self.limit
            ):
                old = self._events.popleft()
                self._lines -= len(old.lines)
                self._producer_dropped += old.dropped
                self._buffer_dropped += len(old.lines)
            if self._scheduled:
                return False
            self._scheduled = True
            return True

    def take_all(self) -> tuple[list[LogLines], int, int]:
        """The batches waiting, and the lines dropped (producer, buffer) since the last take."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
            self._lines = 0
            dropped = self._producer_dropped, self._buffer_dropped
            self._producer_dropped = self._buffer_dropped = 0
            self._scheduled = False
        return events, *dropped
