"""Open every host of an environment for a deploy: engine, state root, and container access.

A remote host gives its Docker engine through the forwarded socket, its state root over SFTP
(the environment's ``state_root``, else the SSH user's default: :func:`.state.remote_root`),
and reaches containers (for health checks) through SSH direct-tcpip channels. The ``local``
environment gives the local engine, a state root under ``$XDG_STATE_HOME`` and plain TCP.
Hosts are opened in parallel; if one cannot be reached, the others are closed again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from .errors import WorkbenchError
from .model import Environment, Host, Project
from .site import Site
from .state import LocalStore, local_root, remote_root, sftp_store
from .tunnel import LocalEngine, RemoteEngine, start_sftp


@contextlib.asynccontextmanager
async def open_sites(project: Project, env: Environment) -> AsyncIterator[list[Site]]:
    async with contextlib.AsyncExitStack() as stack:
        if env.is_local:
            engine = await stack.enter_async_context(LocalEngine())
            store = LocalStore(local_root(project.name, env.name))
            yield [Site("local", engine, store, asyncio.open_connection)]
            return
        opened = await asyncio.gather(*(_open(stack, project, env, host) for host in env.hosts),
                                      return_exceptions=True)
        for item in opened:
            if isinstance(item, BaseException):
                raise item
        yield [item for item in opened if isinstance(item, Site)]


@contextlib.asynccontextmanager
async def open_reachable(project: Project,
                         env: Environment) -> AsyncIterator[tuple[list[Site], dict[str, str]]]:
    """Every host of the environment that can be opened, and why each other one could not
    (host -> one line): for reading (status, diff), where one host down hides nothing else."""
    async with contextlib.AsyncExitStack() as stack:
        if env.is_local:
            try:
                engine = await stack.enter_async_context(LocalEngine())
            except WorkbenchError as exc:
                yield [], {"local": exc.line}
                return
            store = LocalStore(local_root(project.name, env.name))
            yield [Site("local", engine, store, asyncio.open_connection)], {}
            return
        opened = await asyncio.gather(*(_open(stack, project, env, host) for host in env.hosts),
                                      return_exceptions=True)
        failed: dict[str, str] = {}
        for host, item in zip(env.hosts, opened, strict=True):
            if isinstance(item, WorkbenchError):
                failed[host.spec] = item.line
            elif isinstance(item, Exception):
                failed[host.spec] = f"{type(item).__name__}: {item}".splitlines()[0]
            elif isinstance(item, BaseException):
                raise item
        yield [item for item in opened if isinstance(item, Site)], failed


async def _open(stack: contextlib.AsyncExitStack, project: Project, env: Environment,
                host: Host) -> Site:
    remote = RemoteEngine(host, env.name)
    engine = await stack.enter_async_context(remote)
    conn: Any = remote.conn
    sftp = await start_sftp(conn, remote.where)
    stack.callback(sftp.exit)  # the connection closes next: no wait for a dead host's reply
    root = remote_root(project.name, env.name, remote.user, env.state_root)
    store = await sftp_store(sftp, root, remote.where, remote.user, env.name)

    async def connect(address: str, port: int) -> Any:
        return await conn.open_connection(address, port)

    return Site(host.spec, engine, store, connect)
