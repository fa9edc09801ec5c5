"""The Docker engine of a host, through SSH: the host's docker socket forwarded by asyncssh to a
private local unix socket, and the docker SDK on that (:class:`RemoteEngine`); the local engine
for the ``local`` environment (:class:`LocalEngine`); and SFTP on the same connection.

::

    remote_engine(host, env)      async with: an Engine on the host's docker socket
    environment_engine(env, host) async with: the same for any environment (local: local socket)
    start_sftp(conn, where)       an SFTP client on a connection (one line if the server has none)

Engine calls through the tunnel must run in threads (:func:`workbench.engine.blocking`): the
forward is served by the event loop, so a blocking call on the loop would wait forever.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from typing import TYPE_CHECKING, Any

from .engine import Engine, blocking
from .errors import Unreachable
from .model import DEFAULT_SOCKET, Environment, Host
from .ssh import connect_target, reason_of, resolve

if TYPE_CHECKING:
    import asyncssh


KEEPALIVE = 10.0
"""Seconds a connection may be quiet before it is asked whether the host is still there; after
three unanswered asks it is closed (a host gone without a word ends its streams within about
40 s). ``ServerAliveInterval`` in ~/.ssh/config overrides it (0 turns it off)."""


class LocalEngine:
    """``async with LocalEngine() as engine``: the local engine (``DOCKER_HOST`` or socket)."""

    conn: asyncssh.SSHClientConnection | None = None

    def __init__(self) -> None:
        self.engine: Engine | None = None

    async def __aenter__(self) -> Engine:
        self.engine = await blocking(Engine.local)
        return self.engine

    async def __aexit__(self, *exc: object) -> None:
        if self.engine is not None:
            await blocking(self.engine.close)
            self.engine = None


class RemoteEngine:
    """``async with RemoteEngine(host, env) as engine``: the host's Docker engine over SSH.

    The host's docker socket is forwarded to ``<private 0700 dir>/docker.sock`` and the docker
    SDK talks to that. :attr:`conn` is the SSH connection (for SFTP and commands).
    """

    def __init__(self, host: Host, env: str | None = None) -> None:
        self.host = host
        self.env = env
        self.conn: asyncssh.SSHClientConnection | None = None
        self.engine: Engine | None = None
        self.socket: str | None = None
        """The local end of the forward."""
        self._listener: Any = None
        self._folder: str | None = None
        self.user = ""
        """The SSH user, once connected (from workbench.yaml, ~/.ssh/config or the default)."""
        self.where = host.spec
        """``user@host:port`` once connected, for messages."""

    async def __aenter__(self) -> Engine:
        _import_sdk_meanwhile()  # the SDK's 0.3 s import overlaps the SSH handshake's waits
        target = await resolve(self.host)
        self.conn = await connect_target(target, self.env)
        if target.options.config.get("ServerAliveInterval", None) is None:
            self.conn.set_keepalive(KEEPALIVE)  # a host gone silently ends every stream
        remote = self.host.docker_socket or DEFAULT_SOCKET
        user = self.user = str(target.options.username)
        where = self.where = f"{user}@{target.address}"
        try:
            self._folder = _private_folder()
            self.socket = os.path.join(self._folder, "docker.sock")
            _quiet_writes_after_close()
            self._listener = await self.conn.forward_local_path(self.socket, remote)
            client = await blocking(lambda: _docker_client(self.socket))
        except Exception as exc:
            reason = await _socket_problem(self.conn, remote, user, exc)
            await self._close()
            raise Unreachable(f"docker socket {remote} on {where} does not answer ({reason})",
                              f"check that Docker runs there and that {user} may use it, or set "
                              "docker_socket for this host in workbench.yaml") from None
        except BaseException:
            await self._close()
            raise
        self.engine = Engine(client, where=where)
        return self.engine

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _close(self) -> None:
        if self.engine is not None:
            await blocking(self.engine.close)
            self.engine = None
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        if self.conn is not None:
            self.conn.close()
            await self.conn.wait_closed()
            self.conn = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


async def start_sftp(conn: asyncssh.SSHClientConnection, where: str) -> asyncssh.SFTPClient:
    """An SFTP client on ``conn`` (``where``: ``user@host:port``, for messages)."""
    import asyncssh

    try:
        return await conn.start_sftp_client()
    except asyncssh.ChannelOpenError as exc:
        raise Unreachable(f"{where} offers no SFTP: the server refused its sftp subsystem "
                          f"({reason_of(exc)})", "enable SFTP in that host's sshd_config (e.g. "
                          "'Subsystem sftp internal-sftp') and reload sshd") from None
    except (asyncssh.Error, OSError) as exc:
        raise Unreachable(f"cannot start SFTP on {where} ({reason_of(exc)})",
                          "check that sshd there offers SFTP, then run it again") from None


class _ClosedWrites:
    """A filter for asyncio's logger: drops its "socket.send() raised exception." warning. The
    forward writes what the SSH channel still brings for a docker request whose reader has
    closed its socket (a log stream closed at Ctrl-C or esc) until the channel closes: the data
    is not wanted, and the warning went to the user's terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "socket.send() raised exception."


def _quiet_writes_after_close() -> None:
    found = logging.getLogger("asyncio")
    if not any(isinstance(f, _ClosedWrites) for f in found.filters):
        found.addFilter(_ClosedWrites())


def _private_folder() -> str:
    """A fresh 0700 folder short enough for a unix socket path (about 100 bytes at most)."""
    folder = tempfile.mkdtemp(prefix="wb-ssh-")
    if len(folder) > 80:
        os.rmdir(folder)
        folder = tempfile.mkdtemp(prefix="wb-ssh-", dir="/tmp")
    return folder


async def _socket_problem(conn: Any, remote: str, user: str, exc: Exception) -> str:
    """Why the forwarded socket failed: ask sshd to open it once more, to tell the cases apart."""
    import asyncssh

    if conn is None or isinstance(exc, OSError):
        return reason_of(exc)
    try:
        _, writer = await conn.open_unix_connection(remote)
    except asyncssh.ChannelOpenError:
        return f"sshd cannot open it: it is missing, or {user} may not use it"
    except (asyncssh.Error, OSError):
        return reason_of(exc)
    writer.close()
    return reason_of(exc)


def _import_sdk_meanwhile() -> None:
    """Import the docker SDK on a thread now (once per process), while the caller waits on the
    network; :func:`_docker_client` then finds it imported, or waits for it under
    :mod:`~workbench.sdk`'s lock. A failure here is left for that real import to report."""
    global _sdk_import
    if _sdk_import is None:
        from . import sdk

        _sdk_import = threading.Thread(target=_quietly, args=(sdk.load,), daemon=True,
                                       name="workbench-sdk-import")
        _sdk_import.start()


_sdk_import: threading.Thread | None = None


def _quietly(load: Any) -> None:
    try:
        load()
    except Exception:  # the import in _docker_client raises it again, where it is mapped
        return


def _docker_client(path: str) -> Any:
    """A docker client on the forwarded socket; creating it asks the engine for its API version
    (one round trip, which also proves the socket answers: no separate ping)."""
    from . import sdk

    sdk.load()
    import docker

    return docker.DockerClient(base_url=f"unix://{path}", max_pool_size=64, timeout=120)


def remote_engine(host: Host, env: str | None = None) -> RemoteEngine:
    """``async with remote_engine(host, env) as engine``; ``env`` names the fix of key errors."""
    return RemoteEngine(host, env)


def environment_engine(env: Environment, host: Host | None = None) -> LocalEngine | RemoteEngine:
    """``async with environment_engine(env, host) as engine``: one path for every environment.

    ``host`` is one of ``env.hosts`` (optional when there is one); ignored for ``local``.
    """
    if env.is_local:
        return LocalEngine()
    if host is None:
        if len(env.hosts) != 1:
            raise ValueError(f"environment '{env.name}' has {len(env.hosts)} hosts: pick one")
        host = env.hosts[0]
    return RemoteEngine(host, env.name)
