"""The per-environment deploy lock, kept in the environment's state root on its server.

The lock file names its holder: user, host, pid and who that process is (machine, boot, pid
namespace, start time: :mod:`workbench.identity`), the command, when it started and when it
expires, and a token that is new for every acquisition. Ownership is the token.

- **Taking it** is one exclusive create with the whole content (:meth:`Store.create`).
- **Taking over** a stale lock (expired, or its holder is certainly gone) is a compare-and-swap:
  the lock file is renamed to a name of our own (of several renamers of one file, one wins),
  then the moved file must be exactly the stale lock we judged; only then is it deleted and our
  own created. A moved file that is not what we judged is put back. Two takers of one stale
  lock can never both win.
- **Renewing**: every ``ttl / 3`` the holder reads the lock and rewrites its expiry only while
  the token is still its own. A lock found taken, removed, or not renewed by ``expires -
  ttl / 4`` (other machines take over only after ``expires``) is **lost**: :attr:`EnvLock.lost`
  is set and :meth:`EnvLock.ensure` raises :class:`~workbench.errors.LockLost`, so the command
  stops before its next change.
- **Waiting** polls every ``poll`` seconds until ``wait`` ends; every loop is bounded by count.
- **Releasing** removes exactly our own lock (the same rename, compare and delete).
  :func:`release_lock` removes another holder's lock: a live holder's only with ``force``.

A store that fails (permission denied, full disk, connection lost) raises its one-line error.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from secrets import token_hex

from .errors import Locked, LockLost, WorkbenchError
from .identity import Here, judge, process_start
from .state import Store

LOCK = "lock"
TTL = 120.0
POLL = 1.0
QUICK = 4
"""Looks at once, without waiting, while the lock changes hands (released, taken over)."""
UNREADABLE = "an unreadable lock"


@dataclass(frozen=True, slots=True)
class LockInfo:
    holder: str
    pid: int
    host: str
    command: str
    started: float
    expires: float
    token: str = ""
    machine: str = ""
    boot: str = ""
    pidns: str = ""
    start: str = ""
    """When the process started (clock ticks since boot), to tell a reused pid apart."""

    @classmethod
    def mine(cls, command: str, ttl: float = TTL, now: float | None = None) -> LockInfo:
        now = time.time() if now is None else now
        here = Here.this()
        pid = os.getpid()
        return cls(getpass.getuser(), pid, here.host, command, now, now + ttl, token_hex(8),
                   here.machine, here.boot, here.pidns, process_start(pid))

    @classmethod
    def parse(cls, data: bytes) -> LockInfo | None:
        try:
            raw = json.loads(data)
            return cls(str(raw["holder"]), int(raw["pid"]), str(raw["host"]),
                       str(raw.get("command", "")), float(raw["started"]),
                       float(raw["expires"]), *(str(raw.get(key, "")) for key in (
                           "token", "machine", "boot", "pidns", "start")))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def dump(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    def describe(self) -> str:
        if self.command == UNREADABLE:
            return UNREADABLE
        return (f"{self.holder}@{self.host} (pid {self.pid}, {self.command or 'a command'}, "
                f"since {_clock(self.started)}, expires {_clock(self.expires)})")

    def stale(self, now: float | None = None, here: Here | None = None) -> str | None:
        """Why this lock may be taken over, or None while its holder may be alive."""
        if (time.time() if now is None else now) > self.expires:
            return "expired"
        return judge(self.host, self.machine, self.boot, self.pidns, self.pid, self.start,
                     here or Here.this())


class EnvLock:
    """The lock on one environment, held through ``async with``.

    ``poll`` is the seconds between looks while waiting (at most ``wait / poll + 2`` rounds);
    ``clock`` gives the time of expiries and ``sleep`` waits (tests pass their own).
    """

    def __init__(self, store: Store, env: str, command: str, wait: float = 0.0,
                 ttl: float = TTL, warn: Callable[[str], None] = lambda _m: None, *,
                 poll: float = POLL, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.store, self.env, self.command = store, env, command
        self.wait, self.ttl, self.warn = wait, ttl, warn
        self.poll, self.clock, self.sleep = poll, clock, sleep
        self.margin = ttl / 4
        """A holder that has not renewed by ``expires - margin`` gives the lock up."""
        self.info: LockInfo | None = None
        self.lost = asyncio.Event()
        """Set once this holder saw that the lock is not its own any more."""
        self.lost_line = ""
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EnvLock:
        await self.acquire()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.release()

    # -- taking it ----------------------------------------------------------------------------
    async def acquire(self) -> None:
        """Take the lock, looking again every ``poll`` seconds for ``wait`` seconds in all."""
        held: LockInfo | None = None
        waited = 0.0
        for _round in range(int(self.wait / self.poll) + 2 if self.poll > 0 else 2):
            for _look in range(QUICK):
                outcome = await self._try()
                if outcome is True:
                    self._renewer = asyncio.create_task(self._renew_loop())
                    return
                if isinstance(outcome, LockInfo):
                    if held is None and self.wait > 0:  # say once why nothing happens yet
                        self.warn(f"environment '{self.env}' is locked by {outcome.describe()}; "
                                  f"waiting up to {self.wait:g}s for it")
                    held = outcome
                    break
            pause = min(self.poll, self.wait - waited)
            if pause <= 0:
                break
            await self.sleep(pause)
            waited += pause
        if held is None:
            raise Locked(f"the lock of environment '{self.env}' ({self.store.where}) kept "
                         "changing hands", "run it again")
        raise Locked(f"environment '{self.env}' is locked by {held.describe()}",
                     f"wait for it (--lock-wait SECONDS), or if you are sure it is gone run "
                     f"'workbench --batch lock release --env {self.env} --force'")

    async def _try(self) -> bool | LockInfo | None:
        """One attempt: True when we hold the lock, the live holder's LockInfo, or None when
        the lock changed meanwhile (look again at once)."""
        mine = LockInfo.mine(self.command, self.ttl, self.clock())
        if await self.store.create(LOCK, mine.dump()):
            self.info = mine
            return True
        data = await self.store.read(LOCK)
        if data is None:
            return None  # released meanwhile
        held = LockInfo.parse(data)
        if held is None:  # an older workbench may be writing it: look again after a while
            await self.sleep(self.poll)
            if await self.store.read(LOCK) != data:
                return None
            reason, who = "it is unreadable", UNREADABLE
        else:
            reason = held.stale(self.clock())
            if reason is None:
                return held
            who = held.describe()
        if not await _take_away(self.store, data, mine.token):
            return None  # another taker was first
        if not await self.store.create(LOCK, mine.dump()):
            return None  # and someone made a new one meanwhile
        self.info = mine
        self.warn(f"took over the lock of environment '{self.env}' from {who}: {reason}")
        return True

    # -- holding it ---------------------------------------------------------------------------
    def ensure(self) -> None:
        """Raise :class:`LockLost` unless this holder still holds the lock (no I/O: it trusts
        what the renewer last saw, and the clock). Call it before each change."""
        info = self.info
        self._lapsed()
        if self.lost.is_set():
            raise LockLost(self.lost_line, f"this {self.command or 'command'} stopped before "
                           f"its next change; see 'workbench --batch lock status --env "
                           f"{self.env}', then run it again")
        if info is None:
            raise LockLost(f"environment '{self.env}' is not locked by this command",
                           "take the lock first")

    async def verify(self) -> None:
        """:meth:`ensure`, after reading the lock from the store (one read)."""
        self.ensure()
        info = self.info
        data = await self.store.read(LOCK)
        held = LockInfo.parse(data) if data is not None else None
        if info is not None and (held is None or held.token != info.token):
            self._taken(held)
        self.ensure()

    async def renew(self) -> None:
        """Push the expiry on, if the lock is still ours (read, check the token, write)."""
        info = self.info
        if info is None or self.lost.is_set() or self._lapsed():
            return
        data = await self.store.read(LOCK)
        held = LockInfo.parse(data) if data is not None else None
        if held is None or held.token != info.token:
            self._taken(held)
            return
        if self._lapsed():
            return
        renewed = replace(info, expires=self.clock() + self.ttl)
        await self.store.write(LOCK, renewed.dump())
        if self.info is info:
            self.info = renewed

    async def _renew_loop(self) -> None:
        """Renew every ``ttl / 3`` until released or lost; failures are warnings (the margin
        turns them into a lost lock if they last)."""
        while not self.lost.is_set() and self.info is not None:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.renew()
            except Exception as exc:
                line = exc.line if isinstance(exc, WorkbenchError) else f"{exc!r}"
                self.warn(f"could not renew the lock of environment '{self.env}': {line}")

    def _lapsed(self) -> bool:
        """Whether the lock was not renewed in time: others may take it over soon (at
        ``expires``), so this holder gives it up at ``expires - margin``."""
        info = self.info
        if info is not None and not self.lost.is_set() and \
                self.clock() >= info.expires - self.margin:
            self._lose(f"it was not renewed in time (it expires {_clock(info.expires)})")
        return self.lost.is_set()

    def _taken(self, held: LockInfo | None) -> None:
        self._lose(f"it is held by {held.describe()} now" if held is not None else
                   "it was removed")

    def _lose(self, why: str) -> None:
        if self.lost.is_set():
            return
        self.lost_line = f"environment '{self.env}': this command lost its lock: {why}"
        self.lost.set()
        self.warn(self.lost_line)

    # -- giving it back -----------------------------------------------------------------------
    async def release(self) -> None:
        """Stop renewing and remove our lock (never another's). A store failure here is a
        warning: the lock then expires by itself."""
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        info, self.info = self.info, None
        if info is None or self.lost.is_set():
            return
        try:
            data = await self.store.read(LOCK)
            held = LockInfo.parse(data) if data is not None else None
            if data is not None and held is not None and held.token == info.token:
                await _take_away(self.store, data, info.token)
        except WorkbenchError as exc:
            self.warn(f"could not remove the lock of environment '{self.env}' ({exc.line}); "
                      f"it expires {_clock(info.expires)}")


async def _take_away(store: Store, expected: bytes, token: str) -> bool:
    """Remove the lock if it is exactly ``expected``: rename it to a name of our own (one
    renamer wins), compare, then delete it, or put back what was not ours to take."""
    aside = f"{LOCK}.{token}.{token_hex(4)}.taken"
    if not await store.move(LOCK, aside):
        return False
    if await store.read(aside) == expected:
        await store.remove(aside)
        return True
    if not await store.move(aside, LOCK):  # a new lock appeared meanwhile: that one stays
        await store.remove(aside)
    return False


async def status(store: Store) -> LockInfo | None:
    data = await store.read(LOCK)
    if data is None:
        return None
    return LockInfo.parse(data) or _unreadable()


async def release_lock(store: Store, env: str, *, force: bool) -> LockInfo | None:
    """Remove the environment's lock; returns what it said (None: it was not locked).

    A holder that may still be running (not expired, not certainly gone) keeps its lock unless
    ``force``: :class:`Locked` (exit 4) says so. Removes exactly the lock it judged.
    """
    data = await store.read(LOCK)
    if data is None:
        return None
    held = LockInfo.parse(data)
    if held is not None and not force and held.stale() is None:
        raise Locked(f"environment '{env}' is locked by {held.describe()}, which may still be "
                     "running", f"wait for it, or run 'workbench --batch lock release --env "
                     f"{env} --force' if you are sure it is gone")
    if not await _take_away(store, data, token_hex(8)):
        raise Locked(f"the lock of environment '{env}' changed hands while it was being "
                     "released", f"look again: 'workbench --batch lock status --env {env}'")
    return held or _unreadable()


async def force_release(store: Store) -> LockInfo | None:
    """Remove the lock whoever holds it; returns what it said. (``release_lock(force=True)``)"""
    return await release_lock(store, "?", force=True)


def _unreadable() -> LockInfo:
    return LockInfo("?", 0, "?", UNREADABLE, 0.0, 0.0)


def _clock(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
