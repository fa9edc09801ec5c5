"""A bounded hand-off of chunks between two threads (:class:`Pipe`): an image streamed from one
engine to another passes through it, so a transfer holds a few megabytes in memory, never the
whole image, and either side's failure or a cancel ends both threads at once."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

LIMIT = 4 << 20
"""Bytes waiting in a pipe, at most (plus one chunk)."""


class Aborted(Exception):
    """One side of a transfer stopped: the other side ends too."""


class Pipe:
    """Chunks handed from one thread to another, at most ``limit`` bytes waiting (plus the chunk
    that crossed it); either side may abort it, which wakes the other (a writer waiting on a full
    pipe, a reader on an empty one)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._items: deque[bytes] = deque()
        self._limit = limit
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self._abort = ""

    @property
    def waiting(self) -> int:
        """Bytes handed over and not taken yet."""
        return self._bytes

    def put(self, chunk: bytes) -> bool:
        """Hand ``chunk`` over, waiting while the pipe is full; False once it was aborted."""
        with self._cond:
            while self._bytes >= self._limit and not self._abort:
                self._cond.wait()
            if self._abort:
                return False
            self._items.append(chunk)
            self._bytes += len(chunk)
            self._cond.notify_all()
            return True

    def close(self) -> None:
        """The writer is done: the reader gets what is left, then the end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self, reason: str) -> None:
        """Stop both sides: the writer's next put is refused, the reader raises
        :class:`Aborted` (the first reason wins)."""
        with self._cond:
            if not self._abort:
                self._abort = reason
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            with self._cond:
                while not self._items and not self._closed and not self._abort:
                    self._cond.wait()
                if self._abort:
                    raise Aborted(self._abort)
                if not self._items:
                    return
                chunk = self._items.popleft()
                self._bytes -= len(chunk)
                self._cond.notify_all()
            yield chunk
