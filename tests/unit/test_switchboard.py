"""Group commit of proxy switches: batching, a refused switch failing alone, cancel, hold."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from workbench.errors import OperationFailed
from workbench.proxy import ConfigRefused
from workbench.switchboard import Switchboard


@dataclass
class Host:
    active: dict[str, str] = field(default_factory=dict)
    applied: list[dict[str, str]] = field(default_factory=list)
    """Every config the proxy was asked to serve, in order."""
    refuse: str = ""
    """A route nginx -t refuses."""
    broken: bool = False
    """The proxy itself fails."""


async def apply(host: Host, active: Mapping[str, str]) -> None:
    await asyncio.sleep(0.05)  # a reload takes a while: switches pile up meanwhile
    if host.broken:
        raise OperationFailed("the proxy container is gone", "deploy again")
    if host.refuse in active.values():
        raise ConfigRefused("the new proxy config was refused by nginx -t", "fix it")
    host.applied.append(dict(active))


def test_switches_during_a_reload_share_the_next_one() -> None:
    host = Host()
    board = Switchboard(host, apply)

    async def run() -> None:
        first = asyncio.ensure_future(board.switch("e0", "c0"))
        await asyncio.sleep(0.01)  # e0's reload is in flight
        await asyncio.gather(first, *(board.switch(f"e{i}", f"c{i}") for i in range(1, 5)))

    asyncio.run(run())
    assert host.active == {f"e{i}": f"c{i}" for i in range(5)}
    assert len(host.applied) == 2  # the first alone, the four that came meanwhile together
    assert host.applied[-1] == host.active


def test_a_refused_switch_fails_alone_and_changes_nothing_of_its_own() -> None:
    host = Host(active={"bad": "old"}, refuse="c-bad")
    board = Switchboard(host, apply)

    async def run() -> list[BaseException | None]:
        first = asyncio.ensure_future(board.switch("a", "c-a"))
        await asyncio.sleep(0.01)  # the rest come while a's reload is in flight
        rest = [board.switch("bad", "c-bad"), board.switch("b", "c-b")]
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(run())
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ConfigRefused)
    assert host.active == {"bad": "old", "a": "c-a", "b": "c-b"}
    assert all(config.get("bad") != "c-bad" for config in host.applied)


def test_a_failing_proxy_fails_every_switch_of_its_batch() -> None:
    host = Host(broken=True)
    board = Switchboard(host, apply)

    async def run() -> list[BaseException | None]:
        return await asyncio.gather(board.switch("a", "c-a"), board.switch("b", "c-b"),
                                    return_exceptions=True)

    assert all(isinstance(r, OperationFailed) for r in asyncio.run(run()))
    assert host.active == {}


def test_a_cancelled_switch_that_has_not_begun_is_dropped() -> None:
    host = Host()
    board = Switchboard(host, apply)

    async def run() -> None:
        first = asyncio.ensure_future(board.switch("a", "c-a"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(board.switch("b", "c-b"))
        await asyncio.sleep(0.01)
        second.cancel()
        await first
        with pytest.raises(asyncio.CancelledError):
            await second

    asyncio.run(run())
    assert host.active == {"a": "c-a"} and host.applied == [{"a": "c-a"}]


def test_a_reload_is_held_for_endpoints_still_coming_at_most_hold_seconds() -> None:
    host = Host()
    board = Switchboard(host, apply)
    board.HOLD = 0.3

    async def run() -> None:
        board.expect("a")
        board.expect("b")
        board.expect("never")  # expected, but neither switches nor is dropped
        first = asyncio.ensure_future(board.switch("a", "c-a"))
        await asyncio.sleep(0.1)  # b is still coming: a's reload waits for it
        switches = asyncio.gather(first, board.switch("b", "c-b"))
        await asyncio.wait_for(switches, 10)  # HOLD ends the wait for "never"

    asyncio.run(run())
    assert host.applied == [{"a": "c-a", "b": "c-b"}]  # one reload for both
