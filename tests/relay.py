"""A TCP relay from this namespace's loopback into a port of another network namespace, so that
load from threads of the test (tests/integration/traffic.py) reaches a port published on a CI
host in its own namespace (a Swarm proxy's ``mode: host`` port).

One thread enters the namespace (``setns``, as root) and only makes connections there; a socket
keeps the namespace it was made in, so the relay's other threads use it from here. Each
accepted connection is piped both ways by two threads. A connection the far side refuses is
closed at once: the client sees it fail, as it would without the relay. No clock decides
anything; :meth:`Relay.close` stops it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import socket
import threading
from types import TracebackType

from helpers import HANG_GUARD

CLONE_NEWNET = 0x40000000


class Relay:
    """``127.0.0.1:<port>`` here -> ``127.0.0.1:<target>`` in network namespace ``netns``."""

    def __init__(self, netns: str, target: int) -> None:
        self.netns, self.target = netns, target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._asks: queue.Queue[queue.Queue[socket.socket | None] | None] = queue.Queue()
        self._entered = threading.Event()
        self._failed: list[BaseException] = []
        self._closing = threading.Event()
        self._threads = [threading.Thread(target=self._connector, daemon=True),
                         threading.Thread(target=self._acceptor, daemon=True)]

    def __enter__(self) -> Relay:
        self._threads[0].start()
        self._entered.wait()
        if self._failed:
            raise self._failed[0]
        self._threads[1].start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._asks.put(None)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- threads --------------------------------------------------------------------------
    def _connector(self) -> None:
        """Enter the namespace (this thread only), then make the connections asked for."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {self.netns} failed")
            finally:
                os.close(fd)
        except BaseException as exc:
            self._failed.append(exc)
            self._entered.set()
            return
        self._entered.set()
        while True:
            ask = self._asks.get()
            if ask is None:
                return
            try:
                ask.put(socket.create_connection(("127.0.0.1", self.target), timeout=HANG_GUARD))
            except OSError:
                ask.put(None)

    def _acceptor(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        answer: queue.Queue[socket.socket | None] = queue.Queue()
        self._asks.put(answer)
        far = answer.get()
        if far is None:
            client.close()
            return
        far.settimeout(None)
        back = threading.Thread(target=_pipe, args=(far, client), daemon=True)
        back.start()
        _pipe(client, far)
        back.join()
        client.close()
        far.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until ``source`` ends, then end ``sink``'s sending side."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
