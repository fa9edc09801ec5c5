"""Two lock holders against one store, in every interleaving of their store calls.

:class:`lockfakes.Turns` lets one store call through at a time, in an order the test picks, so
each interleaving is forced deterministically (no sleeps, no clocks). The same runs go against
the in-memory store and against a real LocalStore (files, hard links, renames).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lockfakes import MemoryStore, Turns, schedules

from workbench.errors import ExitCode, Locked, LockLost
from workbench.lock import LOCK, EnvLock, LockInfo
from workbench.state import LocalStore, Store

STALE = LockInfo("alice", 4242, "gone.example", "deploy old", 1.0, 2.0)
"""A lock that expired long ago: any taker may take it over."""


def new_store(kind: str, folder: Path) -> Store:
    return MemoryStore() if kind == "memory" else LocalStore(folder)


async def race(store: Store, schedule: str = "", pause_b_before: tuple[str, ...] = ()
               ) -> tuple[Turns, dict[str, EnvLock], list[str]]:
    """A and B both try to take ``store``'s lock (wait 0), in ``schedule`` order; or, with
    ``pause_b_before``, B runs until its next call is one of those operations on the lock,
    then A runs to its end, then B."""
    turns = Turns(store)
    warnings: list[str] = []
    locks = {who: EnvLock(turns.view(who), "staging", f"deploy {who}", warn=warnings.append)
             for who in "AB"}
    for who, lock in locks.items():
        turns.start(who, lock.acquire())
    if pause_b_before:
        await turns.until("B", pause_b_before, LOCK)
        while await turns.step("A"):
            pass
    await turns.run(schedule)
    return turns, locks, warnings


async def winner(store: Store, turns: Turns, locks: dict[str, EnvLock]) -> str:
    """The one holder that got the lock (asserting that the other one failed with Locked);
    its lock is released again (renewer stopped)."""
    won = [who for who, task in turns.tasks.items() if task.exception() is None]
    assert len(won) == 1, f"holders {won} all took the lock: {turns.log}"
    lost = "B" if won == ["A"] else "A"
    error = turns.tasks[lost].exception()
    assert isinstance(error, Locked) and error.exit_code == ExitCode.LOCKED, error
    data = await store.read(LOCK)
    held = LockInfo.parse(data) if data is not None else None
    assert held is not None and held.command == f"deploy {won[0]}", turns.log
    lock = locks[won[0]]
    lock.store = store
    await lock.release()
    return won[0]


@pytest.mark.parametrize(("kind", "length"), [("memory", 10), ("local", 7)])
async def test_two_takers_of_one_stale_lock_never_both_win(tmp_path: Path, kind: str,
                                                           length: int) -> None:
    winners = set()
    for index, schedule in enumerate(schedules("AB", length)):
        store = new_store(kind, tmp_path / str(index))
        await store.write(LOCK, STALE.dump())
        turns, locks, warnings = await race(store, schedule)
        winners.add(await winner(store, turns, locks))
        # the taker that removed the stale lock may lose the new one to a plain create
        assert len(warnings) <= 1, warnings
        assert all(w.startswith("took over the lock of environment 'staging' from alice@gone"
                                ".example") and w.endswith(": expired") for w in warnings)
        assert await store.read(LOCK) is None
    assert winners == {"A", "B"}  # the schedules did interleave


@pytest.mark.parametrize("kind", ["memory", "local"])
async def test_a_taker_that_moved_a_fresh_lock_puts_it_back(tmp_path: Path, kind: str) -> None:
    """B judged the stale lock, then A took it over; B's rename then moves A's fresh lock, which
    is not what B judged: B puts it back and fails, naming A. (Removing what was read as stale,
    B would delete A's lock and both would hold it.)"""
    store = new_store(kind, tmp_path)
    await store.write(LOCK, STALE.dump())
    turns, locks, _ = await race(store, pause_b_before=("move", "remove"))
    assert await winner(store, turns, locks) == "A"
    assert "is locked by " in str(turns.tasks["B"].exception())
    assert "deploy A" in str(turns.tasks["B"].exception())


@pytest.mark.parametrize("kind", ["memory", "local"])
async def test_two_first_takers_never_both_win(tmp_path: Path, kind: str) -> None:
    for index, schedule in enumerate(schedules("AB", 6)):
        store = new_store(kind, tmp_path / str(index))
        turns, locks, warnings = await race(store, schedule)
        await winner(store, turns, locks)
        assert warnings == []


# -- holding it: renewing, losing it, giving it back ------------------------------------------
class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_renewer_does_not_write_over_a_lock_taken_from_it() -> None:
    """A's lock was taken over (B's clock runs ahead of A's: to B it had expired). A's renewer
    reads it first, sees B's token, writes nothing; A's next change is refused."""
    store = MemoryStore()
    clock = Clock()
    warnings: list[str] = []
    a = EnvLock(store, "staging", "deploy a", clock=clock, warn=warnings.append)
    await a.acquire()
    b = EnvLock(store, "staging", "deploy b", clock=Clock(clock.now + 200))
    await b.acquire()
    taken = store.files[LOCK]
    clock.now += 40
    await a.renew()
    assert store.files[LOCK] == taken
    assert ("write", LOCK) not in store.calls
    assert a.lost.is_set()
    with pytest.raises(LockLost) as caught:
        a.ensure()
    err = caught.value
    assert err.exit_code == ExitCode.LOCKED and "\n" not in err.line
    assert err.line.startswith("environment 'staging': this command lost its lock: it is held "
                               f"by {b.info.holder}@{b.info.host} (pid ") and "deploy b" in \
        err.line, err.line
    assert "stopped before its next change" in err.line
    assert warnings == [err.problem]
    await a.release()  # leaves B's lock alone
    assert store.files[LOCK] == taken
    await b.release()
    assert LOCK not in store.files


async def test_a_holder_that_could_not_renew_in_time_stops_without_any_io() -> None:
    """Other machines may take a lock over once it expired; so a holder whose lock was not
    renewed by ``expires - ttl/4`` (suspended, or the store failed) gives it up first."""
    store = MemoryStore()
    clock = Clock()
    lock = EnvLock(store, "staging", "deploy", ttl=120, clock=clock)
    await lock.acquire()
    assert lock.info is not None
    clock.now = lock.info.expires - 31
    lock.ensure()
    calls = len(store.calls)
    clock.now = lock.info.expires - 30
    with pytest.raises(LockLost, match="not renewed in time"):
        lock.ensure()
    assert lock.lost.is_set() and len(store.calls) == calls
    await lock.renew()  # lost: it writes nothing
    assert len(store.calls) == calls
    await lock.release()
    assert LOCK in store.files  # not ours to remove any more: it expires, or is taken over


async def test_renewing_pushes_the_expiry_and_verify_reads_the_store() -> None:
    store = MemoryStore()
    clock = Clock()
    lock = EnvLock(store, "staging", "deploy", ttl=120, clock=clock)
    await lock.acquire()
    first = LockInfo.parse(store.files[LOCK])
    clock.now += 40
    await lock.renew()
    renewed = LockInfo.parse(store.files[LOCK])
    assert first is not None and renewed is not None
    assert renewed.expires == clock.now + 120 and renewed.token == first.token
    lock.ensure()
    await lock.verify()
    del store.files[LOCK]  # removed behind its back ('lock release --force')
    lock.ensure()  # no I/O: it cannot know yet
    with pytest.raises(LockLost, match="lost its lock: it was removed"):
        await lock.verify()
    await lock.release()


async def test_ensure_before_acquire_and_after_release_says_not_locked() -> None:
    lock = EnvLock(MemoryStore(), "staging", "deploy")
    with pytest.raises(LockLost, match="not locked by this command"):
        lock.ensure()
    async with lock:
        lock.ensure()
    with pytest.raises(LockLost):
        lock.ensure()


# -- bounded loops, store errors -----------------------------------------------------------------
class Vanishing(MemoryStore):
    """A store whose lock exists for create and not for read (a broken or racing store)."""

    async def create(self, path: str, data: bytes) -> bool:
        self._count("create", path)
        return False


async def test_a_lock_that_keeps_changing_hands_fails_after_a_bounded_number_of_looks() -> None:
    store = Vanishing(limit=1000)
    with pytest.raises(Locked, match="kept changing hands") as caught:
        await EnvLock(store, "staging", "deploy").acquire()
    assert caught.value.exit_code == ExitCode.LOCKED
    assert len(store.calls) <= 8

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    store = Vanishing(limit=1000)
    with pytest.raises(Locked, match="kept changing hands"):
        await EnvLock(store, "staging", "deploy", wait=10, poll=1, sleep=sleep).acquire()
    assert len(slept) <= 12 and len(store.calls) <= 12 * 8


class Failing(MemoryStore):
    def __init__(self, error: Exception) -> None:
        super().__init__(limit=1000)
        self.error = error

    async def create(self, path: str, data: bytes) -> bool:
        self._count("create", path)
        raise self.error


async def test_a_store_error_ends_acquire_at_once_with_its_line() -> None:
    from workbench.errors import Unreachable

    error = Unreachable("deploy@10.0.0.5:22: deploy may not create /var/lib/workbench/lock "
                        "(permission denied)", "set state_root")
    store = Failing(error)
    with pytest.raises(Unreachable) as caught:
        await EnvLock(store, "staging", "deploy", wait=60).acquire()
    assert caught.value is error and store.calls == [("create", LOCK)]


async def test_waiting_holder_gets_the_lock_once_it_is_released() -> None:
    """B waits (``wait`` 60 s, ``poll`` 1 s); its waits are the test's: after its first wait, A
    releases; B's next look takes the lock."""
    store = MemoryStore()
    a = EnvLock(store, "staging", "deploy a")
    await a.acquire()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            await a.release()

    b = EnvLock(store, "staging", "deploy b", wait=60, poll=1, sleep=sleep)
    await b.acquire()
    held = LockInfo.parse(store.files[LOCK])
    assert held is not None and held.command == "deploy b" and slept == [1, 1]
    await b.release()
