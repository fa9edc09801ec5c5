"""Group commit of one host's proxy switches (used by deploys, :mod:`workbench.ops.deploy`).

Each switch of an endpoint would otherwise be its own config write, ``nginx -t``, graceful
reload and wait for nginx's new workers; switches that come while one is in flight share the
next one instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .errors import BadInput
from .proxy import ConfigRefused

R = TypeVar("R")
"""What an endpoint is routed to (for deploys: container name and endpoint)."""
S = TypeVar("S", bound="Target[Any]")


class Target(Protocol[R]):
    """A host whose proxy routes endpoints: ``active`` is endpoint -> route, as served now."""

    active: dict[str, R]


@dataclass(eq=False, slots=True)
class _Switch(Generic[R]):
    endpoint: str
    route: R | None
    """None: the endpoint gets no route."""
    done: asyncio.Future[None]


class Switchboard(Generic[S, R]):
    """Group commit of one host's proxy switches.

    Switches asked for while a reload is in flight wait for it, then go together into the next
    one: one config write, ``nginx -t``, graceful reload and wait for nginx's new workers for
    all of them, not one each. Every waiter learns whether the reload that included its switch
    succeeded. When a config of several switches is refused (``nginx -t``, or bad routes), each
    is tried alone, so one endpoint's bad switch fails only that endpoint. ``site.active``
    changes only after a reload succeeded.

    A reload also waits (at most :attr:`HOLD` s) while other endpoints are starting or being
    health-checked here (:meth:`expect`): each would otherwise come during this reload, wait
    for it, and then need one more of its own (and the reload's exec competes with their
    starts for the engine).
    """

    HOLD = 1.0

    def __init__(self, site: S, apply: Callable[[S, Mapping[str, R]], Awaitable[None]]) -> None:
        self.site, self.apply = site, apply
        self.pending: list[_Switch[R]] = []
        self.task: asyncio.Task[None] | None = None
        self.coming: set[str] = set()
        """Endpoints starting or being health-checked here: they switch next, unless they fail."""
        self._moved = asyncio.Event()

    def expect(self, endpoint: str) -> None:
        """``endpoint`` starts here and will switch; :meth:`switch` or :meth:`drop` ends it."""
        self.coming.add(endpoint)

    def drop(self, endpoint: str) -> None:
        """``endpoint`` will not switch here (now): a held reload need not wait for it."""
        self.coming.discard(endpoint)
        self._moved.set()

    async def switch(self, endpoint: str, route: R | None) -> None:
        """Route ``endpoint`` to ``route``; returns once nginx serves it, or raises why not."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(retrieved)
        item = _Switch(endpoint, route, done)
        self.pending.append(item)
        self.drop(endpoint)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            if item in self.pending:  # not begun: dropped (one in flight completes)
                self.pending.remove(item)
            raise

    async def _run(self) -> None:
        batch: list[_Switch[R]] = []
        try:
            while self.pending:
                await self._hold()
                batch, self.pending = self.pending, []
                try:
                    await self._commit(batch)
                except (ConfigRefused, BadInput) as exc:
                    if len(batch) == 1:
                        _settle(batch[0], exc)
                        continue
                    for item in batch:  # which one was refused: each alone
                        try:
                            await self._commit([item])
                        except Exception as alone:
                            _settle(item, alone)
                except Exception as exc:  # the proxy itself failed: every switch in it did
                    for item in batch:
                        _settle(item, exc)
                batch = []
        except BaseException:
            for item in batch + self.pending:
                item.done.cancel()
            self.pending = []
            raise

    async def _hold(self) -> None:
        """Return when no other endpoint is being health-checked here, or after HOLD s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.HOLD
        while self.coming - {item.endpoint for item in self.pending}:
            left = deadline - loop.time()
            if left <= 0:
                return
            self._moved.clear()
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                async with asyncio.timeout(left):
                    await self._moved.wait()
            except TimeoutError:
                return

    async def _commit(self, batch: list[_Switch[R]]) -> None:
        active = dict(self.site.active)
        for item in batch:
            if item.route is None:
                active.pop(item.endpoint, None)
            else:
                active[item.endpoint] = item.route
        await self.apply(self.site, active)
        self.site.active = active
        for item in batch:
            _settle(item, None)


def _settle(item: _Switch[Any], error: BaseException | None) -> None:
    if item.done.done():
        return
    if error is None:
        item.done.set_result(None)
    else:
        item.done.set_exception(error)


def retrieved(future: asyncio.Future[Any]) -> None:
    """Mark an outcome nobody waits for any more as seen (no "never retrieved" warning)."""
    if not future.cancelled():
        future.exception()
