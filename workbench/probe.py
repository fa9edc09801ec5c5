"""HTTP probes of containers and proxies: one GET, answered with a status code and a head.

A probe speaks HTTP/1.0 over a connection it is given (``asyncio.open_connection`` locally, an
SSH direct-tcpip channel through the tunnel), so it never goes through ``http_proxy`` or
``https_proxy`` from the user's environment, and never blocks a thread. The path is checked
before it is written: a health path is validated when the project loads, and a path with
spaces or control characters is refused here too, so nothing raw reaches a request line.
"""

from __future__ import annotations

import asyncio
import re

from .site import Connect

TIMEOUT = 3.0
"""Seconds for connecting, and for each read of the answer."""
_PATH = re.compile(r"/[\x21-\x7e]*")
"""A request path: '/' and printable ASCII, no spaces or control characters."""


async def get(connect: Connect, address: str, port: int, path: str) -> tuple[str, str]:
    """GET ``path`` from ``address:port`` through ``connect``: (status code or why there is
    none, the response head)."""
    if not _PATH.fullmatch(path):
        return f"bad path {path!r}", ""
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await connect(address, port)
    except Exception as exc:  # OSError, a timeout, or an asyncssh channel error
        return (f"cannot connect: {exc}".splitlines() or ["cannot connect"])[0], ""
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 16384:  # the whole head
            async with asyncio.timeout(TIMEOUT):
                chunk = await reader.read(4096)
            if not chunk:
                break
            data += chunk if isinstance(chunk, bytes) else str(chunk).encode("latin-1")
        head = data.decode("latin-1")
        parts = head.split("\r\n", 1)[0].split()
        return (parts[1] if len(parts) >= 2 else "no HTTP answer"), head
    except (TimeoutError, OSError):
        return "no HTTP answer", ""
    finally:
        writer.close()


async def status(connect: Connect, address: str, port: int, path: str) -> str:
    """The status code of GET ``path`` (or why there is none)."""
    return (await get(connect, address, port, path))[0]


async def header(connect: Connect, address: str, port: int, path: str, name: str) -> str:
    """The value of header ``name`` in the answer to GET ``path`` ("" when there is none)."""
    _status, head = await get(connect, address, port, path)
    return header_value(head, name)


def header_value(head: str, name: str) -> str:
    """The value of header ``name`` in a response ``head`` ("" when there is none)."""
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""
