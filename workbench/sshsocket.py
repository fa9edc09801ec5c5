"""The TCP connection an SSH connection runs on, with the packets of one event-loop turn sent
together.

asyncssh writes every SSH packet to its transport on its own, and puts an empty ``IGNORE``
packet before each one, so one small request is two ``send`` calls; reading 20 containers of a
host (inspects, probes, release records) took about a thousand. On loopback each ``send`` also
runs the receiver's TCP path, which made them a third of ``status``'s time. Here the writes made
in one turn of the loop are joined and sent once, at the end of that turn (``call_soon``): the
same bytes in the same order, a fraction of the system calls, and no added wait.

asyncssh takes the connection from :class:`Direct` through its ``tunnel`` option (any object
with ``create_connection``), used only when no ``ProxyJump``/``ProxyCommand`` applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes of one loop turn reach the socket as one write."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._parts:
            self._loop.call_soon(self._flush)
        self._parts.append(bytes(data))

    def _flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and not self._inner.is_closing():
            self._inner.write(b"".join(parts))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        self._flush()  # what was written before close still goes out, as asyncio promises
        self._inner.close()

    def abort(self) -> None:
        self._parts.clear()
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + sum(len(p) for p in self._parts)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()


class _Protocol(asyncio.Protocol):
    """Hands the real transport, wrapped, to the SSH connection, and passes everything on."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        self.inner.connection_made(wrapped)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Direct:
    """A plain TCP connection to the SSH server, in the shape asyncssh's ``tunnel`` takes."""

    async def create_connection(self, session_factory: Callable[[], asyncio.Protocol],
                                host: str, port: int) -> tuple[asyncio.BaseTransport, Any]:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(
            lambda: _Protocol(session_factory()), host, port)
        return transport, protocol.inner
