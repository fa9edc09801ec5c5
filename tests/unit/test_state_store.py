"""The state root's stores: exclusive create and no-replace rename (which the lock stands on),
and store failures as one line naming the host, the path and the fix.

SFTPStore runs against a fake asyncssh SFTP client that raises the errors asyncssh raises (the
real server is in tests/integration/test_state_root.py)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import asyncssh
import pytest

from workbench.errors import ExitCode, Locked, OperationFailed, Unreachable
from workbench.lock import LOCK, EnvLock, LockInfo
from workbench.state import LocalStore, SFTPStore, remote_root, sftp_store
from workbench.tunnel import start_sftp

HOST = "deploy@10.0.0.5:22"
ROOT = PurePosixPath("/var/lib/workbench/shop/staging")


# -- where the state root is ----------------------------------------------------------------------
def test_the_state_root_defaults_by_user_and_state_root_wins() -> None:
    assert remote_root("shop", "staging") == ROOT
    assert remote_root("shop", "staging", "root") == ROOT
    assert remote_root("shop", "staging", "deploy") == PurePosixPath(
        ".local/state/workbench/shop/staging")
    assert remote_root("shop", "staging", "deploy", "/srv/wb") == PurePosixPath("/srv/wb")
    assert remote_root("shop", "staging", "root", "~/wb/staging") == PurePosixPath("wb/staging")


# -- LocalStore -----------------------------------------------------------------------------------
async def test_local_create_never_replaces_and_move_never_overwrites(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    assert await store.create("lock", b"first") is True
    assert await store.create("lock", b"second") is False
    assert await store.read("lock") == b"first"
    await store.write("other", b"other")
    assert await store.move("lock", "other") is False  # the target exists
    assert await store.move("missing", "new") is False  # the source is gone
    assert await store.move("lock", "aside") is True
    assert await store.move("lock", "aside2") is False  # one mover wins
    assert await store.read("aside") == b"first" and await store.read("lock") is None
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["aside", "other"]


async def test_a_local_store_that_cannot_write_says_so_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state root should be")
    store = LocalStore(blocker / "shop" / "local")
    with pytest.raises(OperationFailed) as caught:
        await store.create(LOCK, b"x")
    err = caught.value
    assert err.exit_code == ExitCode.FAILED and "\n" not in err.line
    assert err.line.startswith(f"cannot create {blocker}")
    assert "free space there or fix the folder's permissions" in err.line


# -- SFTPStore against a fake SFTP client ---------------------------------------------------------
class FakeSFTP:
    """Files in a dict; ``fail[op]`` is raised by that operation (op: makedirs, open-rb,
    open-wb, open-ab, write, chmod, rename, posix_rename, exists, remove, realpath)."""

    def __init__(self, fail: dict[str, Exception] | None = None, limit: int = 1000) -> None:
        self.files: dict[str, bytes] = {}
        self.fail = fail or {}
        self.calls: list[str] = []
        self.limit = limit

    def _op(self, op: str) -> None:
        self.calls.append(op)
        if len(self.calls) > self.limit:
            raise AssertionError(f"more than {self.limit} SFTP calls: a busy loop")
        if op in self.fail:
            raise self.fail[op]

    async def makedirs(self, path: str, exist_ok: bool = False) -> None:
        self._op("makedirs")

    def open(self, path: str, mode: str, *args: Any, **kwargs: Any) -> _File:
        return _File(self, path, mode)

    async def chmod(self, path: str, mode: int) -> None:
        self._op("chmod")

    async def rename(self, old: str, new: str) -> None:
        self._op("rename")
        if old not in self.files:
            raise asyncssh.SFTPNoSuchFile("No such file")
        if new in self.files:
            raise asyncssh.SFTPFailure("Failure")
        self.files[new] = self.files.pop(old)

    async def posix_rename(self, old: str, new: str) -> None:
        self._op("posix_rename")
        self.files[new] = self.files.pop(old)

    async def exists(self, path: str) -> bool:
        self._op("exists")
        return path in self.files

    async def remove(self, path: str) -> None:
        self._op("remove")
        if self.files.pop(path, None) is None:
            raise asyncssh.SFTPNoSuchFile("No such file")

    async def realpath(self, path: str) -> str:
        self._op("realpath")
        return "/home/deploy"


class _File:
    def __init__(self, sftp: FakeSFTP, path: str, mode: str) -> None:
        self.sftp, self.path, self.mode = sftp, path, mode

    async def __aenter__(self) -> _File:
        self.sftp._op(f"open-{self.mode}")
        if self.mode == "rb" and self.path not in self.sftp.files:
            raise asyncssh.SFTPNoSuchFile("No such file")
        if self.mode == "wb":
            self.sftp.files[self.path] = b""
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def read(self) -> bytes:
        return self.sftp.files[self.path]

    async def write(self, data: bytes) -> None:
        self.sftp._op("write")
        self.sftp.files[self.path] = self.sftp.files.get(self.path, b"") + data


def sftp_store_on(sftp: FakeSFTP) -> SFTPStore:
    return SFTPStore(sftp, ROOT, HOST, "deploy", "staging")  # type: ignore[arg-type]


async def test_sftp_create_is_exclusive_and_whole() -> None:
    sftp = FakeSFTP()
    store = sftp_store_on(sftp)
    assert await store.create(LOCK, b"first") is True
    assert await store.create(LOCK, b"second") is False
    assert sftp.files == {f"{ROOT}/lock": b"first"}  # no temporary file left
    assert await store.move(LOCK, "aside") is True
    assert await store.move(LOCK, "aside2") is False
    assert await store.read("aside") == b"first"


def one_line(err: Unreachable) -> str:
    assert err.exit_code == ExitCode.UNREACHABLE and "\n" not in err.line
    assert "internal error" not in err.line
    return err.line


async def test_permission_denied_names_the_host_the_path_and_state_root() -> None:
    sftp = FakeSFTP({"makedirs": asyncssh.SFTPPermissionDenied("Permission denied")})
    with pytest.raises(Unreachable) as caught:
        await sftp_store_on(sftp).create(LOCK, b"x")
    assert one_line(caught.value) == (
        f"{HOST}: deploy may not create the folder {ROOT} (permission denied); set state_root "
        "for environment 'staging' in workbench.yaml to a folder deploy can write, or give "
        f"deploy that folder on the host (e.g. sudo install -d -o deploy {ROOT})")


@pytest.mark.parametrize("exc", [asyncssh.SFTPFailure("Failure"),
                                 asyncssh.SFTPNoSpaceOnFilesystem("No space left on device")])
async def test_a_full_disk_names_the_host_and_the_fix(exc: Exception) -> None:
    sftp = FakeSFTP({"write": exc})
    with pytest.raises(Unreachable) as caught:
        await sftp_store_on(sftp).write("releases/orders.jsonl", b"record")
    line = one_line(caught.value)
    assert line.startswith(f"{HOST}: cannot write {ROOT}/releases/orders.jsonl")
    assert "full" in line and f"df -h {ROOT}" in line and "state_root" in line, line
    assert sftp.files == {}  # the temporary file was removed


async def test_a_lock_on_a_server_that_refuses_writes_fails_at_once_not_in_a_busy_loop() -> None:
    """A full disk answers the lock's create with SFTP 'Failure', like an existing file: the
    store tells them apart (the lock does not exist), so acquire ends with one line."""
    sftp = FakeSFTP({"write": asyncssh.SFTPFailure("Failure")})
    with pytest.raises(Unreachable) as caught:
        await EnvLock(sftp_store_on(sftp), "staging", "deploy").acquire()
    assert f"{HOST}: cannot write {ROOT}/" in one_line(caught.value)
    assert len(sftp.calls) < 10

    sftp = FakeSFTP({"open-xb": asyncssh.SFTPFailure("Failure"),  # (today's code opens "xb")
                     "rename": asyncssh.SFTPFailure("Failure")})
    with pytest.raises(Unreachable) as caught:
        await EnvLock(sftp_store_on(sftp), "staging", "deploy").acquire()
    assert f"{HOST}: cannot rename {ROOT}/" in one_line(caught.value)
    assert len(sftp.calls) < 20


async def test_an_existing_lock_is_not_an_error() -> None:
    sftp = FakeSFTP()
    sftp.files[f"{ROOT}/lock"] = LockInfo.mine("deploy orders").dump()
    with pytest.raises(Locked, match=r"is locked by .*deploy orders"):
        await EnvLock(sftp_store_on(sftp), "staging", "deploy").acquire()


async def test_a_lost_connection_is_one_line() -> None:
    sftp = FakeSFTP({"open-rb": asyncssh.SFTPConnectionLost("Connection lost")})
    with pytest.raises(Unreachable) as caught:
        await sftp_store_on(sftp).read(LOCK)
    assert one_line(caught.value) == (
        f"lost the SSH connection to {HOST} while trying to read {ROOT}/lock (Connection "
        "lost); check the network and that sshd runs there, then run it again")


async def test_a_bug_is_not_turned_into_a_store_error() -> None:
    sftp = FakeSFTP({"open-rb": KeyError("bug")})
    with pytest.raises(KeyError):
        await sftp_store_on(sftp).read(LOCK)


async def test_a_relative_state_root_starts_at_the_users_home() -> None:
    sftp = FakeSFTP()
    store = await sftp_store(sftp, remote_root("shop", "staging", "deploy"),  # type: ignore[arg-type]
                             HOST, "deploy", "staging")
    assert store.root == PurePosixPath("/home/deploy/.local/state/workbench/shop/staging")
    assert store.where == f"{HOST}:/home/deploy/.local/state/workbench/shop/staging"
    await store.write("lock", b"x")
    assert sftp.files == {"/home/deploy/.local/state/workbench/shop/staging/lock": b"x"}


# -- no SFTP at all -------------------------------------------------------------------------------
class NoSFTP:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def start_sftp_client(self) -> None:
        raise self.exc


async def test_a_server_without_sftp_is_one_line() -> None:
    exc = asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, "Session request failed")
    with pytest.raises(Unreachable) as caught:
        await start_sftp(NoSFTP(exc), HOST)  # type: ignore[arg-type]
    assert one_line(caught.value) == (
        f"{HOST} offers no SFTP: the server refused its sftp subsystem (Session request failed);"
        " enable SFTP in that host's sshd_config (e.g. 'Subsystem sftp internal-sftp') and "
        "reload sshd")
    with pytest.raises(Unreachable, match="cannot start SFTP on"):
        await start_sftp(NoSFTP(asyncssh.SFTPConnectionLost("gone")), HOST)  # type: ignore[arg-type]


# -- state_root in workbench.yaml -----------------------------------------------------------------
def project_with(tmp_path: Path, environments: str) -> Path:
    (tmp_path / "workbench.yaml").write_text(
        "project: shop\nendpoints: []\nmodels: []\nutilities: []\n"
        f"environments:\n{environments}")
    return tmp_path


def test_state_root_is_read_per_environment(tmp_path: Path) -> None:
    from workbench.model import load_project

    project = load_project(project_with(tmp_path, (
        "  staging:\n    hosts: [deploy@10.0.0.5]\n    state_root: /srv/workbench/shop/staging\n"
        "  prod:\n    hosts: [root@10.0.0.6]\n")))
    assert project.environment("staging").state_root == "/srv/workbench/shop/staging"
    assert project.environment("prod").state_root == ""


@pytest.mark.parametrize(("environments", "words"), [
    ("  local:\n    state_root: /srv/x\n", ["'local' environment keeps its state under",
                                            "remove state_root"]),
    ("  staging:\n    hosts: [deploy@h]\n    state_root: ~alice/wb\n",
     ["names another user's home"]),
    ("  staging:\n    hosts: [deploy@h]\n    state_root: [a]\n", ["must be text"]),
])
def test_bad_state_roots_name_the_line_and_the_fix(tmp_path: Path, environments: str,
                                                   words: list[str]) -> None:
    from workbench.errors import ConfigError
    from workbench.model import load_project

    with pytest.raises(ConfigError) as caught:
        load_project(project_with(tmp_path, environments))
    assert caught.value.line.startswith(f"{tmp_path / 'workbench.yaml'}:")
    for word in words:
        assert word in caught.value.line, caught.value.line


async def test_a_parent_folder_the_user_may_not_make_is_permission_denied() -> None:
    """asyncssh's makedirs passes over a parent it may not make, then fails on its child with
    'No such file': that is a permission problem."""
    sftp = FakeSFTP({"makedirs": asyncssh.SFTPNoSuchFile("No such file")})
    with pytest.raises(Unreachable) as caught:
        await sftp_store_on(sftp).create(LOCK, b"x")
    assert one_line(caught.value).startswith(
        f"{HOST}: deploy may not create the folder {ROOT} (permission denied); set state_root")
