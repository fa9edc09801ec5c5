"""An environment's state root: release records, the lock and secrets files, on its server.

Remote hosts keep it under ``/var/lib/workbench/<project>/<env>/`` and are reached over SFTP;
the ``local`` environment keeps it under ``$XDG_STATE_HOME/workbench/<project>/local/``.
Both stores offer the same few async operations, so the lock and the release log have one
implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol, TypeVar

from .paths import state_dir

if TYPE_CHECKING:
    import asyncssh

REMOTE_ROOT = "/var/lib/workbench"
T = TypeVar("T")


class Store(Protocol):
    """Files under one state root; paths are relative (``releases/orders.jsonl``)."""

    where: str

    async def read(self, path: str) -> bytes | None: ...
    async def write(self, path: str, data: bytes, mode: int = 0o644) -> None: ...
    async def append(self, path: str, data: bytes) -> None: ...
    async def create(self, path: str, data: bytes) -> bool: ...
    async def remove(self, path: str) -> None: ...


def local_root(project: str, env: str) -> Path:
    return state_dir() / project / env


def remote_root(project: str, env: str) -> PurePosixPath:
    return PurePosixPath(REMOTE_ROOT) / project / env


class LocalStore:
    """A state root on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    async def read(self, path: str) -> bytes | None:
        return await asyncio.to_thread(self._read, path)

    async def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        await asyncio.to_thread(self._write, path, data, mode)

    async def append(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(self._append, path, data)

    async def create(self, path: str, data: bytes) -> bool:
        return await asyncio.to_thread(self._create, path, data)

    async def remove(self, path: str) -> None:
        await asyncio.to_thread(self._remove, path)

    def _path(self, path: str) -> Path:
        full = self.root / path
        full.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return full

    def _read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, path: str, data: bytes, mode: int) -> None:
        full = self._path(path)
        temp = full.with_name(f".{full.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, full)

    def _append(self, path: str, data: bytes) -> None:
        with self._path(path).open("ab") as handle:
            handle.write(data)

    def _create(self, path: str, data: bytes) -> bool:
        try:
            fd = os.open(self._path(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return True

    def _remove(self, path: str) -> None:
        (self.root / path).unlink(missing_ok=True)


class SFTPStore:
    """A state root on a server, over the deploy's SSH connection."""

    def __init__(self, sftp: asyncssh.SFTPClient, root: PurePosixPath, where: str) -> None:
        self.sftp = sftp
        self.root = root
        self.where = f"{where}:{root}"
        self._made: set[str] = set()
        """Folders this store has made or found: made once, not once per write."""

    async def _dir(self, path: str) -> str:
        full = self.root / path
        folder = str(full.parent)
        if folder not in self._made:
            await self.sftp.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        return str(full)

    async def read(self, path: str) -> bytes | None:
        import asyncssh

        try:
            async with self.sftp.open(str(self.root / path), "rb", encoding=None) as handle:
                return bytes(await handle.read())
        except asyncssh.SFTPNoSuchFile:
            return None

    async def _in_folder(self, path: str, action: Callable[[str], Awaitable[T]]) -> T:
        """``action(full path)`` once its folder exists; made again if it went away meanwhile."""
        import asyncssh

        try:
            return await action(await self._dir(path))
        except asyncssh.SFTPNoSuchFile:
            self._made.discard(str((self.root / path).parent))
            return await action(await self._dir(path))

    async def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        import asyncssh

        async def write(full: str) -> None:
            temp = f"{full}.{os.getpid()}.tmp"
            async with self.sftp.open(temp, "wb", asyncssh.SFTPAttrs(permissions=mode),
                                      encoding=None) as handle:
                await handle.write(data)
            await self.sftp.chmod(temp, mode)
            await self.sftp.posix_rename(temp, full)

        await self._in_folder(path, write)

    async def append(self, path: str, data: bytes) -> None:
        async def append(full: str) -> None:
            async with self.sftp.open(full, "ab", encoding=None) as handle:
                await handle.write(data)

        await self._in_folder(path, append)

    async def create(self, path: str, data: bytes) -> bool:
        import asyncssh

        async def create(full: str) -> bool:
            try:
                async with self.sftp.open(full, "xb", encoding=None) as handle:
                    await handle.write(data)
            except (asyncssh.SFTPFailure, asyncssh.SFTPFileAlreadyExists):
                return False
            return True

        return await self._in_folder(path, create)

    async def remove(self, path: str) -> None:
        import asyncssh

        with contextlib.suppress(asyncssh.SFTPNoSuchFile):
            await self.sftp.remove(str(self.root / path))
