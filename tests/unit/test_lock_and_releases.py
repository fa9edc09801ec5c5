"""The environment lock and the release log on a LocalStore (same code as over SFTP)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from workbench import releases
from workbench.errors import ExitCode, Locked
from workbench.lock import LOCK, EnvLock, LockInfo, status
from workbench.releases import Release
from workbench.state import LocalStore


class Sleeps:
    """An EnvLock's ``sleep``: records each wait, returns at once (then runs ``then``)."""

    def __init__(self, then: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.slept: list[float] = []
        self.then = then

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.then is not None:
            await self.then(len(self.slept))


async def test_a_second_holder_waits_then_fails_naming_the_first(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    sleeps = Sleeps()
    async with EnvLock(store, "staging", "deploy orders"):
        with pytest.raises(Locked) as caught:
            await EnvLock(store, "staging", "deploy site", wait=2.5, sleep=sleeps).acquire()
        assert sleeps.slept == [1, 1, 0.5]
        assert caught.value.exit_code == ExitCode.LOCKED
        assert "environment 'staging' is locked by " in caught.value.line
        assert "deploy orders" in caught.value.line and \
            "'workbench --batch lock release --env staging --force'" in caught.value.line
    assert await status(store) is None


async def test_a_waiting_holder_gets_the_lock_when_it_is_released(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = EnvLock(store, "staging", "deploy a")
    await first.acquire()

    async def release_after_three_waits(count: int) -> None:
        if count == 3:
            await first.release()

    sleeps = Sleeps(release_after_three_waits)
    await EnvLock(store, "staging", "deploy b", wait=5, sleep=sleeps).acquire()
    held = await status(store)
    assert held is not None and held.command == "deploy b" and sleeps.slept == [1, 1, 1]


GONE_PID = 2**22 + 12345
"""Above Linux's largest pid_max: no process has it."""


@pytest.mark.parametrize("stale", ["expired", "its process is gone", "its machine restarted"])
async def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path: Path, stale: str) -> None:
    store = LocalStore(tmp_path / "state")
    mine = LockInfo.mine("deploy old")
    old = {"expired": replace(mine, holder="alice", host="elsewhere", machine="m2", boot="b2",
                              started=1.0, expires=2.0),
           "its process is gone": replace(mine, holder="alice", pid=GONE_PID, start=""),
           # the same pid may run again after a reboot: another process
           "its machine restarted": replace(mine, holder="alice", boot="an-earlier-boot"),
           }[stale]
    await store.write(LOCK, old.dump())
    warnings: list[str] = []
    async with EnvLock(store, "staging", "deploy new", warn=warnings.append):
        held = await status(store)
        assert held is not None and held.command == "deploy new"
    assert len(warnings) == 1 and stale in warnings[0] and "alice@" in warnings[0], warnings
    assert list((tmp_path / "state").iterdir()) == []  # nothing left behind


async def test_an_unreadable_lock_is_taken_over_after_a_second_look(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.write(LOCK, b"{half a lo")
    warnings: list[str] = []
    sleeps = Sleeps()
    async with EnvLock(store, "staging", "deploy", warn=warnings.append, sleep=sleeps):
        held = await status(store)
        assert held is not None and held.command == "deploy"
    assert sleeps.slept == [1] and warnings == [
        "took over the lock of environment 'staging' from an unreadable lock: it is unreadable"]


async def test_release_leaves_a_lock_that_is_not_ours(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    lock = EnvLock(store, "staging", "deploy")
    await lock.acquire()
    other = LockInfo("bob", 1, "other", "deploy", time.time(), time.time() + 600)
    await store.write(LOCK, other.dump())
    await lock.release()
    assert await status(store) == other


async def test_the_lock_is_renewed_while_held(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    now = [1_000_000.0]
    async with EnvLock(store, "staging", "deploy", ttl=90, clock=lambda: now[0]) as lock:
        first = lock.info
        now[0] += 30
        await lock.renew()
        held = await status(store)
        assert first is not None and held is not None
        assert held.expires == now[0] + 90 and held.token == first.token
        await lock.verify()


async def test_releases_append_and_current(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for version, outcome in (("v1", "ok"), ("v2", "ok"), ("v3", "failed")):
        await releases.append(store, Release("orders", version, "h1", outcome,
                                             time=releases.now(), last_lines=("a", "b")))
    records = await releases.history(store, "orders")
    assert [r.version for r in records] == ["v1", "v2", "v3"]
    current = releases.current(records)
    assert current is not None and current.version == "v2"
    assert records[2].last_lines == ("a", "b")
    lines = (tmp_path / "releases" / "orders.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["outcome"] == "ok" and len(lines) == 3
    assert releases.current(records, "h2") is None
