"""The SSH connection's socket: the packets of one loop turn leave in one write, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from workbench.sshsocket import CoalescingTransport, Direct


class _Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


def test_writes_of_one_turn_leave_together_in_order() -> None:
    async def run() -> list[bytes]:
        inner = _Recorder()
        wire = CoalescingTransport(inner, asyncio.get_running_loop())
        wire.write(b"ignore")
        wire.write(b"packet-1")
        assert inner.writes == []  # nothing before the turn ends
        assert wire.get_write_buffer_size() == len(b"ignorepacket-1")
        await asyncio.sleep(0)
        wire.write(b"packet-2")
        await asyncio.sleep(0)
        return inner.writes

    assert asyncio.run(run()) == [b"ignorepacket-1", b"packet-2"]


def test_close_sends_what_was_written_and_abort_drops_it() -> None:
    async def run() -> tuple[_Recorder, _Recorder]:
        loop = asyncio.get_running_loop()
        closing, aborting = _Recorder(), _Recorder()
        a, b = CoalescingTransport(closing, loop), CoalescingTransport(aborting, loop)
        a.write(b"last words")
        a.close()
        b.write(b"never sent")
        b.abort()
        await asyncio.sleep(0)
        return closing, aborting

    closing, aborting = asyncio.run(run())
    assert closing.writes == [b"last words"] and closing.closed
    assert aborting.writes == [] and aborting.aborted


def test_direct_connection_carries_bytes_both_ways() -> None:
    """Through a real TCP socket: what the protocol writes arrives, what comes back is read."""

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data.upper())

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            self.got = bytearray()
            self.done = asyncio.get_running_loop().create_future()

        def connection_made(self, transport: Any) -> None:
            transport.write(b"ssh-")
            transport.write(b"2.0")

        def data_received(self, data: bytes) -> None:
            self.got += data
            if len(self.got) >= 7 and not self.done.done():
                self.done.set_result(bytes(self.got))

    async def run() -> tuple[bytes, bool]:
        server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await Direct().create_connection(Client, "127.0.0.1", port)
        got = await client.done
        transport.close()
        server.close()
        await server.wait_closed()
        return got, isinstance(client, Client)

    assert asyncio.run(run()) == (b"SSH-2.0", True)
