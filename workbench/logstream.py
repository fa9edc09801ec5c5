"""Log lines from reader threads to the event stream, in batches, bounded, never lost silently.

::

    reader thread --feed(lines)--> LogPump (deque, bounded) --flush()--> LogLines(source, batch,
    reader thread --feed(lines)--> LogPump                                         dropped)
                                       ^ LogHub.run(): flushes every pump on the event loop

A reader never waits for the consumer. When the consumer falls behind (a slow terminal, a busy
TUI) and a pump holds more than ``limit`` lines, the oldest are dropped and counted; the next
batch carries that count in ``LogLines.dropped``.

:class:`LineSplitter` turns byte chunks into lines (keeping a partial last line), and
:class:`DockerLogDecoder` demultiplexes Docker's stdout/stderr log stream.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections import deque
from collections.abc import Iterable

from .events import Emit, LogLines

DEFAULT_LIMIT = 50_000
"""Lines a pump holds before it drops the oldest."""
BATCH = 5_000
"""Most lines in one LogLines event."""
INTERVAL = 0.1
"""Seconds between flushes."""


SWITCH_INTERVAL = 0.02
"""Seconds a thread holds the GIL before another may run (Python's default is 0.005)."""


def favour_throughput() -> None:
    """Let reader threads run in longer slices: fewer GIL hand-overs between a log reader and
    the UI's event loop. With 5 ms slices a 200k-line log reached the TUI's Log at ~90k
    lines/s on a 2-CPU machine; with 20 ms, ~120k (``bench/logs.py``). 20 ms still keeps the
    UI above 50 frames a second."""
    import sys

    sys.setswitchinterval(SWITCH_INTERVAL)


class LogPump:
    """One source's lines between reader threads and the event loop."""

    def __init__(self, emit: Emit, source: str, limit: int = DEFAULT_LIMIT) -> None:
        self.emit = emit
        self.source = source
        self._lines: deque[str] = deque(maxlen=limit)
        self._dropped = 0
        self._lock = threading.Lock()
        self.total = 0
        self.tail: deque[str] = deque(maxlen=50)
        """The last lines fed, for failure reports."""

    def feed(self, lines: Iterable[str]) -> None:
        """Add lines (thread-safe, never blocks on the consumer)."""
        batch = lines if isinstance(lines, list | tuple) else list(lines)
        if not batch:
            return
        with self._lock:
            before = len(self._lines)
            self._lines.extend(batch)
            self._dropped += before + len(batch) - len(self._lines)
            self.total += len(batch)
            self.tail.extend(batch[-50:])

    def flush(self) -> int:
        """Emit what is waiting as LogLines batches; returns the number of lines emitted."""
        with self._lock:
            if not self._lines and not self._dropped:
                return 0
            lines = tuple(self._lines)
            self._lines.clear()
            dropped, self._dropped = self._dropped, 0
        for start in range(0, max(len(lines), 1), BATCH):
            self.emit(LogLines(self.source, lines[start:start + BATCH], dropped))
            dropped = 0
        return len(lines)


class LogHub:
    """The pumps of one operation and the task that flushes them on the event loop."""

    def __init__(self, emit: Emit, interval: float = INTERVAL, limit: int = DEFAULT_LIMIT) -> None:
        self.emit = emit
        self.interval = interval
        self.limit = limit
        self.pumps: dict[str, LogPump] = {}
        self._task: asyncio.Task[None] | None = None

    def pump(self, source: str) -> LogPump:
        if source not in self.pumps:
            self.pumps[source] = LogPump(self.emit, source, self.limit)
        return self.pumps[source]

    def flush(self) -> None:
        for pump in list(self.pumps.values()):
            pump.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.flush()

    async def __aenter__(self) -> LogHub:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.flush()


MAX_LINE = 65_536
"""Bytes of a line without an end that are held back; more is passed on as a line (a progress
bar drawn with ``\\r`` never ends its line, and holding it would grow without bound)."""


class LineSplitter:
    """Bytes in, complete lines out; a partial last line waits for the rest."""

    def __init__(self) -> None:
        self._rest = b""

    def split(self, chunk: bytes) -> list[str]:
        data = self._rest + chunk if self._rest else chunk
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) <= MAX_LINE:
                self._rest = data
                return []
            cut = _whole_chars(data)
            self._rest = data[cut:]
            return [data[:cut].decode("utf-8", "replace")]
        self._rest = data[end + 1:]
        return data[:end].decode("utf-8", "replace").split("\n")

    def finish(self) -> list[str]:
        """The partial line left at the end, if any."""
        rest, self._rest = self._rest, b""
        return [rest.decode("utf-8", "replace")] if rest else []


class ChunkedBody:
    """HTTP/1.1 chunked transfer coding undone incrementally: raw bytes in, body bytes out."""

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0
        """Bytes of the current chunk still to come; -1 while its closing CRLF is awaited."""
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos, size = 0, len(buf)
        while pos < size and not self.done:
            if self._left > 0:
                take = min(self._left, size - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._left = -1
            elif self._left < 0:
                if size - pos < 2:
                    break
                pos += 2
                self._left = 0
            else:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                length = int(buf[pos:end].split(b";", 1)[0], 16)
                pos = end + 2
                self._left = length
                self.done = length == 0
        self._buf = b"" if self.done else buf[pos:]
        return b"".join(out)


def _whole_chars(data: bytes) -> int:
    """The length of ``data`` without a UTF-8 character cut short at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # ASCII or the first byte of a character
            need = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if need > back else len(data)
    return len(data)


_HEADER = struct.Struct(">BxxxI")


class DockerLogDecoder:
    """Docker's multiplexed log stream (an 8-byte header per frame) to lines, in order.

    Consecutive frames of one stream are joined before splitting, so a chunk of thousands of
    one-line frames costs one decode and one split.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._splitters = {1: LineSplitter(), 2: LineSplitter()}

    def feed(self, chunk: bytes) -> list[str]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[str] = []
        parts: list[bytes] = []
        current = 0
        pos, size = 0, len(buf)
        while size - pos >= 8:
            stream, length = _HEADER.unpack_from(buf, pos)
            if size - pos - 8 < length:
                break
            if stream != current and parts:
                out += self._splitter(current).split(b"".join(parts))
                parts = []
            current = stream
            parts.append(buf[pos + 8:pos + 8 + length])
            pos += 8 + length
        if parts:
            out += self._splitter(current).split(b"".join(parts))
        self._buf = buf[pos:]
        return out

    def finish(self) -> list[str]:
        return [line for splitter in self._splitters.values() for line in splitter.finish()]

    def _splitter(self, stream: int) -> LineSplitter:
        return self._splitters.get(stream) or self._splitters[1]
