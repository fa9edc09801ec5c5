"""The environment lock and the release log on a LocalStore (same code as over SFTP)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from workbench import releases
from workbench.errors import ExitCode, Locked
from workbench.lock import LOCK, EnvLock, LockInfo, status
from workbench.releases import Release
from workbench.state import LocalStore


async def test_a_second_holder_waits_then_fails_naming_the_first(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    async with EnvLock(store, "staging", "deploy orders"):
        started = time.monotonic()
        with pytest.raises(Locked) as caught:
            await EnvLock(store, "staging", "deploy site", wait=0.5).acquire()
        assert time.monotonic() - started >= 0.5
        assert caught.value.exit_code == ExitCode.LOCKED
        assert "environment 'staging' is locked by " in caught.value.line
        assert "deploy orders" in caught.value.line and "lock release --env staging" in \
            caught.value.line
    assert await status(store) is None


async def test_a_waiting_holder_gets_the_lock_when_it_is_released(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = EnvLock(store, "staging", "deploy a")
    await first.acquire()
    waiting = asyncio.create_task(EnvLock(store, "staging", "deploy b", wait=5).acquire())
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await first.release()
    await asyncio.wait_for(waiting, 5)
    held = await status(store)
    assert held is not None and held.command == "deploy b"


@pytest.mark.parametrize("stale", ["expired", "its process is gone"])
async def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path: Path, stale: str) -> None:
    store = LocalStore(tmp_path)
    mine = LockInfo.mine("deploy old")
    if stale == "expired":
        old = LockInfo("alice", mine.pid, "elsewhere", "deploy old", 1.0, 2.0)
    else:
        old = LockInfo("alice", 2**22 + 12345, mine.host, "deploy old", time.time(),
                       time.time() + 600)
    await store.write(LOCK, old.dump())
    warnings: list[str] = []
    async with EnvLock(store, "staging", "deploy new", warn=warnings.append):
        held = await status(store)
        assert held is not None and held.command == "deploy new"
    assert len(warnings) == 1 and stale in warnings[0] and "alice@" in warnings[0]


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
    async with EnvLock(store, "staging", "deploy", ttl=0.3) as lock:
        first = lock.info
        await asyncio.sleep(0.5)
        held = await status(store)
        assert first is not None and held is not None and held.expires > first.expires


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
