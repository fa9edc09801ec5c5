"""Test doubles for the lock: an in-memory Store, and :class:`Turns`, which lets the store calls
of several lock holders through one at a time in an order the test chooses (no sleeps, no
clocks: every interleaving is forced deterministically)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from workbench.state import Store

SPINS = 1000
"""Event-loop turns a holder gets to reach its next store call (a generous count, not a time)."""


class MemoryStore:
    """A state root in a dict; every operation is atomic. ``calls`` counts them all, and more
    than ``limit`` fail the test (a busy loop)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.files: dict[str, bytes] = {}
        self.where = "memory:/state"
        self.calls: list[tuple[str, str]] = []
        self.limit = limit

    def _count(self, op: str, path: str) -> None:
        self.calls.append((op, path))
        if len(self.calls) > self.limit:
            raise AssertionError(f"more than {self.limit} store calls: a busy loop")

    async def read(self, path: str) -> bytes | None:
        self._count("read", path)
        return self.files.get(path)

    async def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._count("write", path)
        self.files[path] = data

    async def append(self, path: str, data: bytes) -> None:
        self._count("append", path)
        self.files[path] = self.files.get(path, b"") + data

    async def create(self, path: str, data: bytes) -> bool:
        self._count("create", path)
        if path in self.files:
            return False
        self.files[path] = data
        return True

    async def move(self, path: str, to: str) -> bool:
        self._count("move", path)
        if path not in self.files or to in self.files:
            return False
        self.files[to] = self.files.pop(path)
        return True

    async def remove(self, path: str) -> None:
        self._count("remove", path)
        self.files.pop(path, None)


class Turns:
    """Holders call the store through :meth:`view`; each call waits for the test to
    :meth:`step` that holder, runs alone, and finishes before the next step."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.pending: dict[str, tuple[str, str]] = {}
        """holder -> (operation, path) of the call it waits to make"""
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self.log: list[tuple[str, str, str]] = []
        self._finished = asyncio.Event()

    def view(self, who: str) -> Store:
        return _View(self, who)

    def start(self, who: str, work: Awaitable[Any]) -> asyncio.Task[Any]:
        self.tasks[who] = asyncio.ensure_future(work)
        return self.tasks[who]

    async def call(self, who: str, op: str, args: tuple[Any, ...]) -> Any:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[who] = gate
        self.pending[who] = (op, str(args[0]))
        await gate
        del self.pending[who]
        try:
            result = await getattr(self.store, op)(*args)
            self.log.append((who, op, str(args[0])))
            return result
        finally:
            self._finished.set()

    async def step(self, who: str) -> bool:
        """Let ``who``'s next store call run to its end; False when ``who`` has finished."""
        task = self.tasks[who]
        for _ in range(SPINS):
            if who in self.waiting or task.done():
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError(f"{who} neither called the store nor finished")
        if who not in self.waiting:
            return False
        self._finished.clear()
        self.waiting.pop(who).set_result(None)
        await self._finished.wait()  # set when the call returns or raises (a thread may run it)
        return True

    async def until(self, who: str, ops: Sequence[str], path: str) -> None:
        """Step ``who`` until its next call is one of ``ops`` on ``path`` (not made yet)."""
        for _ in range(SPINS):
            task = self.tasks[who]
            for _ in range(SPINS):
                if who in self.waiting or task.done():
                    break
                await asyncio.sleep(0)
            if self.pending.get(who, ("", ""))[0] in ops and self.pending[who][1] == path:
                return
            if not await self.step(who):
                raise AssertionError(f"{who} finished without calling {'/'.join(ops)} {path}")
        raise AssertionError(f"{who} never called {'/'.join(ops)} {path}")

    async def run(self, schedule: Sequence[str]) -> None:
        """Step holders in ``schedule`` order, then in turn until every holder finished."""
        for who in schedule:
            await self.step(who)
        for _ in range(SPINS):
            if all(task.done() for task in self.tasks.values()):
                return
            for who in self.tasks:
                await self.step(who)
        raise AssertionError("the holders did not finish")


class _View:
    def __init__(self, turns: Turns, who: str) -> None:
        self.turns, self.who = turns, who
        self.where = turns.store.where

    def __getattr__(self, op: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any) -> Any:
            return await self.turns.call(self.who, op, args)

        return call


def schedules(names: str, length: int) -> Iterator[str]:
    """Every order of ``length`` steps of the holders ``names`` (then they run in turn)."""
    return ("".join(s) for s in itertools.product(names, repeat=length))
