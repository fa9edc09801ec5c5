"""The per-environment deploy lock, kept in the environment's state root on its server.

The lock file names its holder (user, pid, machine), the command, when it started and when it
expires. A holder renews the expiry while it works (every ``ttl / 3``), so a lock whose holder
was killed expires within ``ttl`` and the next deploy takes it over with a warning. A lock held
by a process of this machine that no longer exists is taken over at once. Taking the lock is one
exclusive create on the server (SFTP ``O_EXCL``, or ``O_EXCL`` locally): two deploys can never
both hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from .errors import Locked
from .state import Store

LOCK = "lock"
TTL = 120.0


@dataclass(frozen=True, slots=True)
class LockInfo:
    holder: str
    pid: int
    host: str
    command: str
    started: float
    expires: float

    @classmethod
    def mine(cls, command: str, ttl: float = TTL) -> LockInfo:
        now = time.time()
        return cls(getpass.getuser(), os.getpid(), socket.gethostname(), command, now, now + ttl)

    @classmethod
    def parse(cls, data: bytes) -> LockInfo | None:
        try:
            raw = json.loads(data)
            return cls(str(raw["holder"]), int(raw["pid"]), str(raw["host"]),
                       str(raw.get("command", "")), float(raw["started"]),
                       float(raw["expires"]))
        except (ValueError, KeyError, TypeError):
            return None

    def dump(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    def describe(self) -> str:
        return (f"{self.holder}@{self.host} (pid {self.pid}, {self.command or 'a command'}, "
                f"since {_clock(self.started)}, expires {_clock(self.expires)})")

    def stale(self, now: float | None = None) -> str | None:
        """Why this lock may be taken over, or None while its holder is alive."""
        if (now or time.time()) > self.expires:
            return "expired"
        if self.host == socket.gethostname() and not _alive(self.pid):
            return "its process is gone"
        return None


class EnvLock:
    """The lock on one environment, held through ``async with``."""

    def __init__(self, store: Store, env: str, command: str, wait: float = 0.0,
                 ttl: float = TTL, warn: Callable[[str], None] = lambda _m: None) -> None:
        self.store, self.env, self.command = store, env, command
        self.wait, self.ttl, self.warn = wait, ttl, warn
        self.info: LockInfo | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EnvLock:
        await self.acquire()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.release()

    async def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        while True:
            info = LockInfo.mine(self.command, self.ttl)
            if await self.store.create(LOCK, info.dump()):
                self.info = info
                self._renewer = asyncio.create_task(self._renew())
                return
            data = await self.store.read(LOCK)
            if data is None:  # released meanwhile
                continue
            held = LockInfo.parse(data)
            if held is None:  # being written, or garbage: look again before removing it
                await asyncio.sleep(0.5)
                if await self.store.read(LOCK) == data:
                    self.warn(f"removed an unreadable lock of environment '{self.env}'")
                    await self.store.remove(LOCK)
                continue
            reason = held.stale()
            if reason:
                await self._take_over(held, reason)
                continue
            if time.monotonic() >= deadline:
                raise Locked(f"environment '{self.env}' is locked by {held.describe()}",
                             f"wait for it (--lock-wait SECONDS), or if it is gone run "
                             f"'workbench --batch lock release --env {self.env}'")
            await asyncio.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    async def _take_over(self, held: LockInfo, reason: str) -> None:
        current = await self.store.read(LOCK)
        if current is None or LockInfo.parse(current) != held:
            return  # someone else took it over first: go round again
        self.warn(f"took over the lock of environment '{self.env}' from {held.describe()}: "
                  f"{reason}")
        await self.store.remove(LOCK)

    async def _renew(self) -> None:
        while self.info is not None:
            await asyncio.sleep(self.ttl / 3)
            info = self.info
            if info is None:
                return
            renewed = LockInfo(info.holder, info.pid, info.host, info.command, info.started,
                               time.time() + self.ttl)
            with contextlib.suppress(Exception):
                await self.store.write(LOCK, renewed.dump())
                self.info = renewed

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        if self.info is None:
            return
        current = await self.store.read(LOCK)
        held = LockInfo.parse(current) if current is not None else None
        if held is not None and (held.pid, held.host, held.started) == (
                self.info.pid, self.info.host, self.info.started):
            await self.store.remove(LOCK)
        self.info = None


async def status(store: Store) -> LockInfo | None:
    data = await store.read(LOCK)
    return LockInfo.parse(data) if data is not None else None


async def force_release(store: Store) -> LockInfo | None:
    """Remove the lock whoever holds it; returns what it said."""
    held = await status(store)
    await store.remove(LOCK)
    return held


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clock(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
