"""workbench/plainget.py against a unix socket server in the test: the request goes out as
HTTP/1.0 on a connection of its own, the body comes as it arrives (no chunked coding), and a
cancel from another thread ends a read that waits."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import HANG_GUARD

from workbench.plainget import PlainGet, open_get


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[bytes], threading.Event]]:
    """A socket that answers one request with two parts of a body, then holds the connection
    open (a followed log) until the client goes."""
    path = str(tmp_path / "d.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    seen: list[bytes] = []
    sent = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            seen.append(request)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/vnd.docker.raw-stream"
                         b"\r\n\r\nfirst part\n")
            conn.sendall(b"second part\n")
            sent.set()
            while conn.recv(4096):  # until the client closes its end
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, seen, sent
    listener.close()
    thread.join(timeout=HANG_GUARD)  # a hang guard only


def test_a_get_is_http_1_0_and_its_body_comes_as_it_arrives_until_cancelled(
        server: tuple[str, list[bytes], threading.Event]) -> None:
    path, seen, sent = server
    api = docker.APIClient(base_url=f"unix://{path}", version="1.41")
    url = f"{api.base_url}/v1.41/containers/c1/logs"
    got = open_get(api, url, {"follow": 1, "timestamps": 1})
    assert isinstance(got, PlainGet) and got.status_code == 200
    assert seen[0].startswith(b"GET /v1.41/containers/c1/logs?follow=1&timestamps=1 HTTP/1.0\r\n")
    sent.wait()
    body = b""
    chunks = got.chunks()
    for chunk in chunks:  # both parts, then the read waits for more
        body += chunk
        if body == b"first part\nsecond part\n":
            break
    threading.Thread(target=got.cancel).start()  # from another thread, as Stream.close does
    assert list(chunks) == []  # the waiting read ended
    got.close()
    api.close()


def test_other_transports_are_left_to_the_sdk() -> None:
    api = docker.APIClient(base_url="tcp://127.0.0.1:2375", version="1.41")
    assert open_get(api, f"{api.base_url}/v1.41/containers/c1/logs", {}) is None
    api.close()
