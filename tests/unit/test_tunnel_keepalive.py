"""Every SSH connection to a host asks now and then whether the host is still there, so a host
gone without a word (its network lost) ends the streams through it instead of leaving them
waiting forever; ``ServerAliveInterval`` in ~/.ssh/config has the last word (0: never ask).
The connection is a fake that records what it is told (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workbench import tunnel
from workbench.errors import Unreachable
from workbench.model import Host


class Connection:
    """Records its keepalive; the forward fails, which ends the opening right there."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        """What ~/.ssh/config set (asyncssh applies it to the connection itself)."""
        self.closed = False

    def set_keepalive(self, interval: float | None = None, count_max: int | None = None) -> None:
        assert count_max is None
        self.interval = interval or 0.0

    async def forward_local_path(self, path: str, remote: str) -> Any:
        raise OSError("no forward here")

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        pass


@pytest.mark.parametrize(("settings", "interval"), [
    ("", tunnel.KEEPALIVE), ("  ServerAliveInterval 5\n", 5.0), ("  ServerAliveInterval 0\n", 0.0)])
async def test_a_connection_asks_whether_its_host_is_there(
        isolated_env: Path, monkeypatch: pytest.MonkeyPatch, settings: str,
        interval: float) -> None:
    ssh = isolated_env / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "config").write_text(f"Host h1\n{settings}")
    made: list[Connection] = []

    async def connect(target: Any, env: str | None) -> Connection:
        made.append(Connection(float(target.options.keepalive_interval)))
        return made[-1]

    monkeypatch.setattr(tunnel, "connect_target", connect)
    with pytest.raises(Unreachable):
        async with tunnel.RemoteEngine(Host("h1", "root"), "staging"):
            pass
    [conn] = made
    assert conn.interval == interval and conn.closed


def test_asyncios_warning_for_writes_after_a_reader_closed_is_dropped_and_no_other() -> None:
    import logging

    from workbench import tunnel

    tunnel._quiet_writes_after_close()
    tunnel._quiet_writes_after_close()  # once is enough: one filter
    found = logging.getLogger("asyncio")
    assert sum(isinstance(f, tunnel._ClosedWrites) for f in found.filters) == 1

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.WARNING, __file__, 1, msg, None, None)

    assert not found.filter(record("socket.send() raised exception."))
    assert found.filter(record("Task exception was never retrieved"))
