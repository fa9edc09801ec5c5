"""A streamed ``GET`` to a Docker engine over HTTP/1.0, on a connection of its own.

Docker writes a container's log one line at a time and flushes each: over HTTP/1.1 every line
is a chunk of the chunked transfer coding, which the reader then undoes line by line. Asked over
HTTP/1.0 the engine sends the body as it is and closes the connection at its end. Measured with
``bench/remote_logs.py`` (200k lines, 2 hosts x 2 containers): 0.61-0.72x of ``ssh docker logs``
over HTTP/1.1, 0.75-0.81x over HTTP/1.0.

:func:`open_get` takes the connection from the docker SDK's own adapter for unix sockets (the
engine's socket, or the one forwarded over SSH), so it connects exactly as the SDK does; for any
other transport it returns None and the caller uses the SDK.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit


class PlainGet:
    """One HTTP/1.0 ``GET``'s response: its status, its body as it arrives, and a close that
    any thread may call to end a read that waits (:class:`workbench.threads.Stream`)."""

    def __init__(self, conn: Any, path: str) -> None:
        self._conn = conn
        conn._http_vsn, conn._http_vsn_str = 10, "HTTP/1.0"
        conn.connect()
        self._sock = conn.sock  # http.client hands it to the response (conn.sock = None)
        self._sock.settimeout(None)  # a followed log may be quiet for as long as it likes
        http.client.HTTPConnection.request(conn, "GET", path, headers={"Host": "docker"})
        self._response = http.client.HTTPConnection.getresponse(conn)
        self.status_code = self._response.status

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """The body in reads of whatever has arrived (at most ``size`` bytes each)."""
        while True:
            data = self._response.read1(size)
            if not data:
                return
            yield data

    def cancel(self) -> None:
        """End the connection, waking a read that waits on it (from any thread)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.cancel()
        with contextlib.suppress(OSError):
            self._response.close()
        with contextlib.suppress(OSError):
            self._conn.close()


def open_get(api: Any, url: str, params: Mapping[str, Any]) -> PlainGet | None:
    """``GET url?params`` on a new connection of the SDK's unix socket adapter, over HTTP/1.0;
    None when the engine is not reached through a unix socket (the caller uses the SDK)."""
    from docker.transport.unixconn import UnixHTTPAdapter

    adapter = api.get_adapter(url)
    if not isinstance(adapter, UnixHTTPAdapter):
        return None
    pool = adapter.get_connection(url)
    parts = urlsplit(url)
    path = parts.path + (f"?{urlencode(params)}" if params else "")
    return PlainGet(pool._new_conn(), path)
