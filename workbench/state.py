"""An environment's state root: release records, the lock and secrets files, on its server.

Where it is (:func:`remote_root`, :func:`local_root`): the environment's ``state_root`` when
workbench.yaml sets one; else ``/var/lib/workbench/<project>/<env>/`` for root and
``~/.local/state/workbench/<project>/<env>/`` for any other SSH user (a relative path is
relative to the user's home, where SFTP starts); the ``local`` environment keeps it under
``$XDG_STATE_HOME/workbench/<project>/local/``.

Both stores offer the same few async operations, so the lock and the release log have one
implementation. ``create`` and ``move`` never replace a file (exclusive create with the whole
content, rename that refuses an existing target): the lock is built on them. A store that
cannot do what it is asked (permission denied, disk full, connection lost) raises one line
naming the host, the path and the fix: :class:`~workbench.errors.Unreachable` (exit 3) over
SFTP, :class:`~workbench.errors.OperationFailed` (exit 1) on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path, PurePosixPath
from secrets import token_hex
from typing import TYPE_CHECKING, Protocol, TypeVar

from .errors import OperationFailed, Unreachable, WorkbenchError
from .paths import state_dir

if TYPE_CHECKING:
    import asyncssh

REMOTE_ROOT = "/var/lib/workbench"
USER_ROOT = ".local/state/workbench"
"""Where a user other than root keeps state roots: relative to their home (SFTP's start)."""
T = TypeVar("T")


class Store(Protocol):
    """Files under one state root; paths are relative (``releases/orders.jsonl``)."""

    where: str

    async def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        ...

    async def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Replace the file atomically (readers see the old or the new content)."""
        ...

    async def append(self, path: str, data: bytes) -> None: ...

    async def create(self, path: str, data: bytes) -> bool:
        """Create the file with ``data`` unless it exists (False then); never half-written."""
        ...

    async def move(self, path: str, to: str) -> bool:
        """Rename ``path`` to ``to`` atomically, never replacing ``to``; False when ``path`` is
        gone or ``to`` exists. Of several movers of one file, one succeeds."""
        ...

    async def remove(self, path: str) -> None: ...


def local_root(project: str, env: str) -> Path:
    return state_dir() / project / env


def remote_root(project: str, env: str, user: str = "root",
                state_root: str = "") -> PurePosixPath:
    """The state root on a host, as SFTP takes it (a relative one starts at the user's home)."""
    if state_root:
        return PurePosixPath(state_root.removeprefix("~/"))
    base = REMOTE_ROOT if user == "root" else USER_ROOT
    return PurePosixPath(base) / project / env


class LocalStore:
    """A state root on this machine."""

    def __init__(self, root: Path, env: str = "local") -> None:
        self.root = root
        self.env = env
        self.where = str(root)

    async def read(self, path: str) -> bytes | None:
        return await self._run("read", path, self._read)

    async def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        await self._run("write", path, lambda p: self._write(p, data, mode))

    async def append(self, path: str, data: bytes) -> None:
        await self._run("write", path, lambda p: self._append(p, data))

    async def create(self, path: str, data: bytes) -> bool:
        return await self._run("create", path, lambda p: self._create(p, data))

    async def move(self, path: str, to: str) -> bool:
        return await self._run("rename", path, lambda p: _link_move(p, self.root / to))

    async def remove(self, path: str) -> None:
        await self._run("remove", path, lambda p: p.unlink(missing_ok=True))

    async def _run(self, verb: str, path: str, work: Callable[[Path], T]) -> T:
        full = self.root / path
        try:
            return await asyncio.to_thread(work, full)
        except OSError as exc:
            raise OperationFailed(
                f"cannot {verb} {exc.filename or full} ({exc.strerror or exc})",
                f"free space there or fix the folder's permissions, or set state_root for "
                f"environment '{self.env}' in workbench.yaml to a folder you can write") from None

    @staticmethod
    def _folder(full: Path) -> Path:
        full.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return full

    @staticmethod
    def _read(full: Path) -> bytes | None:
        try:
            return full.read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, full: Path, data: bytes, mode: int) -> None:
        temp = self._temp(self._folder(full), data, mode)
        try:
            os.replace(temp, full)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _append(self, full: Path, data: bytes) -> None:
        with self._folder(full).open("ab") as handle:
            handle.write(data)

    def _create(self, full: Path, data: bytes) -> bool:
        temp = self._temp(self._folder(full), data, 0o644)
        try:
            return _link_move(temp, full)
        finally:
            temp.unlink(missing_ok=True)

    @staticmethod
    def _temp(full: Path, data: bytes, mode: int) -> Path:
        """A new file beside ``full`` holding ``data``, flushed to disk."""
        temp = full.with_name(f".{full.name}.{token_hex(6)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp


def _link_move(source: Path, target: Path) -> bool:
    """Rename without replacing: hard link, then unlink the source (as OpenSSH's sftp-server
    does). Of two movers of one source both may link; only one unlinks it, the other removes
    its link again and loses."""
    try:
        os.link(source, target)
    except (FileNotFoundError, FileExistsError):
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if target.exists():  # no hard links on this file system: racy, like sftp-server
            return False
        try:
            os.rename(source, target)
        except FileNotFoundError:
            return False
        return True
    try:
        os.unlink(source)
    except FileNotFoundError:
        target.unlink(missing_ok=True)
        return False
    return True


class SFTPStore:
    """A state root on a server, over the deploy's SSH connection.

    ``where`` names the host (``deploy@10.0.0.5:22``), ``user`` the SSH user and ``env`` the
    environment, for the one-line errors.
    """

    def __init__(self, sftp: asyncssh.SFTPClient, root: PurePosixPath, where: str,
                 user: str = "", env: str = "") -> None:
        self.sftp = sftp
        self.root = root
        self.host = where
        self.user = user or (where.partition("@")[0] if "@" in where else "the SSH user")
        self.env = env
        self.where = f"{where}:{root}"
        self._made: set[str] = set()
        """Folders this store has made or found: made once, not once per write."""

    async def _dir(self, path: str) -> str:
        import asyncssh

        full = self.root / path
        folder = str(full.parent)
        if folder not in self._made:
            with self._errors("create the folder", folder):
                try:
                    await self.sftp.makedirs(folder, exist_ok=True)
                except asyncssh.SFTPNoSuchFile:  # makedirs passes over a parent it may not
                    raise asyncssh.SFTPPermissionDenied(folder) from None  # make, then fails
            self._made.add(folder)
        return str(full)

    async def read(self, path: str) -> bytes | None:
        import asyncssh

        full = str(self.root / path)
        with self._errors("read", full):
            try:
                async with self.sftp.open(full, "rb", encoding=None) as handle:
                    return bytes(await handle.read())
            except asyncssh.SFTPNoSuchFile:
                return None

    async def _in_folder(self, verb: str, path: str,
                         action: Callable[[str], Awaitable[T]]) -> T:
        """``action(full path)`` once its folder exists; made again if it went away meanwhile
        (``action`` lets SFTPNoSuchFile through)."""
        import asyncssh

        try:
            return await action(await self._dir(path))
        except asyncssh.SFTPNoSuchFile:
            self._made.discard(str((self.root / path).parent))
        with self._errors(verb, str(self.root / path)):
            return await action(await self._dir(path))

    async def _temp(self, full: str, data: bytes, mode: int) -> str:
        """A new file beside ``full`` holding ``data`` (mode ``mode``)."""
        import asyncssh

        folder, _, name = full.rpartition("/")
        temp = f"{folder}/.{name}.{token_hex(6)}.tmp"
        try:
            with self._errors("write", full, missing=False):
                async with self.sftp.open(temp, "wb", asyncssh.SFTPAttrs(permissions=mode),
                                          encoding=None) as handle:
                    await handle.write(data)
                await self.sftp.chmod(temp, mode)
        except BaseException:
            await self._discard(temp)
            raise
        return temp

    async def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        async def write(full: str) -> None:
            temp = await self._temp(full, data, mode)
            try:
                with self._errors("write", full, missing=False):
                    await self.sftp.posix_rename(temp, full)
            except BaseException:
                await self._discard(temp)
                raise

        await self._in_folder("write", path, write)

    async def append(self, path: str, data: bytes) -> None:
        async def append(full: str) -> None:
            with self._errors("write", full, missing=False):
                async with self.sftp.open(full, "ab", encoding=None) as handle:
                    await handle.write(data)

        await self._in_folder("write", path, append)

    async def create(self, path: str, data: bytes) -> bool:
        async def create(full: str) -> bool:
            temp = await self._temp(full, data, 0o644)
            moved = False
            try:
                moved = await self._move(temp, full)
            finally:
                if not moved:
                    await self._discard(temp)
            return moved

        return await self._in_folder("create", path, create)

    async def move(self, path: str, to: str) -> bool:
        return await self._move(str(self.root / path), str(self.root / to))

    async def _move(self, source: str, target: str) -> bool:
        """SFTP's plain rename never replaces its target (OpenSSH links, then unlinks)."""
        import asyncssh

        with self._errors("rename", source):
            try:
                await self.sftp.rename(source, target)
            except asyncssh.SFTPNoSuchFile:
                return False
            except (asyncssh.SFTPFailure, asyncssh.SFTPFileAlreadyExists):
                if await self.sftp.exists(target):  # SFTP v3 says only "Failure"
                    return False
                raise
        return True

    async def remove(self, path: str) -> None:
        import asyncssh

        full = str(self.root / path)
        with self._errors("remove", full), contextlib.suppress(asyncssh.SFTPNoSuchFile):
            await self.sftp.remove(full)

    async def _discard(self, path: str) -> None:
        """Remove a temporary file, quietly: it is only litter."""
        with contextlib.suppress(Exception):
            await self.sftp.remove(path)

    @contextlib.contextmanager
    def _errors(self, verb: str, path: str, missing: bool = True) -> Iterator[None]:
        """Map what asyncssh raises inside to one line; SFTPNoSuchFile only when ``missing``."""
        import asyncssh

        try:
            yield
        except WorkbenchError:
            raise
        except asyncssh.SFTPNoSuchFile:
            if not missing:
                raise
            raise Unreachable(f"{self.host}: cannot {verb} {path}: no such file or folder",
                              f"check that folder on {self.host}") from None
        except Exception as exc:
            failure = sftp_failure(exc, verb, path, self.host, self.user, self.env,
                                   str(self.root))
            if failure is None:
                raise
            raise failure from None


def sftp_failure(exc: BaseException, verb: str, path: str, host: str, user: str, env: str,
                 root: str) -> WorkbenchError | None:
    """One line (exit 3) for an SFTP operation that failed, or None for a bug (not asyncssh's
    or the network's)."""
    import asyncssh

    reason = (str(getattr(exc, "reason", "") or exc) or type(exc).__name__).splitlines()[0]
    setting = f"set state_root for environment '{env}' in workbench.yaml" if env else \
        "set state_root for this environment in workbench.yaml"
    if isinstance(exc, asyncssh.SFTPPermissionDenied | asyncssh.SFTPWriteProtect):
        return Unreachable(f"{host}: {user} may not {verb} {path} (permission denied)",
                           f"{setting} to a folder {user} can write, or give {user} that "
                           f"folder on the host (e.g. sudo install -d -o {user} {root})")
    if isinstance(exc, asyncssh.SFTPNoSpaceOnFilesystem | asyncssh.SFTPQuotaExceeded):
        return Unreachable(f"{host}: cannot {verb} {path}: its disk is full ({reason})",
                           f"free space on {host} (df -h {root}), or {setting} to a folder on "
                           "another disk")
    if isinstance(exc, asyncssh.SFTPFailure):  # SFTP v3 (OpenSSH) says only "Failure"
        return Unreachable(f"{host}: cannot {verb} {path} (the server says '{reason}': its disk "
                           "may be full or read-only)",
                           f"check free space on {host} (df -h {root}), or {setting} to another "
                           "folder")
    if isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection |
                  asyncssh.DisconnectError | asyncssh.ChannelOpenError | OSError):
        return Unreachable(f"lost the SSH connection to {host} while trying to {verb} {path} "
                           f"({reason})", "check the network and that sshd runs there, then "
                           "run it again")
    if isinstance(exc, asyncssh.Error):
        return Unreachable(f"{host}: cannot {verb} {path} ({reason})",
                           f"check that folder on {host}, or {setting} to another folder")
    return None


async def sftp_store(sftp: asyncssh.SFTPClient, root: PurePosixPath, where: str, user: str,
                     env: str) -> SFTPStore:
    """An SFTPStore on ``root``, made absolute (a relative root starts at the user's home) so
    that errors name the real folder."""
    if not root.is_absolute():
        with SFTPStore(sftp, root, where, user, env)._errors("find the home folder of", user):
            home = await sftp.realpath(".")
        root = PurePosixPath(str(home)) / root
    return SFTPStore(sftp, root, where, user, env)
