"""The watcher's behaviour with scripted hosts (no Docker, no SSH): a host that cannot be
opened is unreachable and retried on the backoff schedule, an event re-reads only its endpoint,
a broken stream turns the cells unreachable until the host is back, and an engine without
events is polled. Loops are bounded by counts; each test stops the watcher by cancelling it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from workbench.environments import Environment, Host
from workbench.live import LiveUpdate, summarize
from workbench.observed import EnvState, HostState, Instance
from workbench.ops import watch
from workbench.ops.watch import Watcher

HOST = Host("h1", "root")
ENV = Environment("staging", hosts=(HOST,))
PROJECT: Any = SimpleNamespace(name="shop", environments=(ENV,),
                               endpoints=(SimpleNamespace(name="orders"),
                                          SimpleNamespace(name="billing")))


class Events:
    """A docker events stream fed by the test; ``close`` ends it."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any] | None] = []
        self.ready = threading.Condition()
        self.closed = False

    def push(self, item: dict[str, Any] | None) -> None:
        with self.ready:
            self.items.append(item)
            self.ready.notify_all()

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify_all()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            with self.ready:
                self.ready.wait_for(lambda: self.items or self.closed)
                if self.closed:
                    return
                item = self.items.pop(0)
            if item is None:
                return  # the stream ended (the host went away)
            yield item


class Script:
    """Scripted opens (True: the host answers), reads and event streams."""

    def __init__(self, opens: list[bool], events: bool = True) -> None:
        self.opens, self.with_events = opens, events
        self.streams: list[Events] = []
        self.reads = 0
        self.waits: list[int] = []
        self.state = "running"
        self.health = ["healthy"]
        """Health per read (the last one stays)."""

    def opener(self, project: Any, env: Environment) -> Any:
        ok = self.opens.pop(0) if self.opens else True
        script = self

        @contextlib.asynccontextmanager
        async def opened() -> AsyncIterator[tuple[list[Any], dict[str, str]]]:
            if not ok:
                yield [], {HOST.spec: "cannot reach root@h1:22 (refused)"}
                return
            api = SimpleNamespace(events=script.events)
            store = SimpleNamespace(read=_no_records)
            yield [SimpleNamespace(name=HOST.spec, engine=SimpleNamespace(api=api),
                                   store=store)], {}

        return opened()

    def events(self, decode: bool, filters: dict[str, Any]) -> Events:
        assert decode and filters["label"][0] == "dev.workbench.project=shop"
        if not self.with_events:
            raise RuntimeError("404 page not found")
        stream = Events()
        self.streams.append(stream)
        return stream

    async def observe(self, project: Any, env: Environment, opener: Any, key: bytes,
                      with_images: bool = True) -> tuple[EnvState, bytes | None]:
        self.reads += 1
        health = self.health.pop(0) if len(self.health) > 1 else self.health[0]
        instances = tuple(Instance(n, HOST.spec, state=self.state, version="v1",
                                   health=health) for n in ("orders", "billing"))
        return EnvState(env.name, "docker", (HostState(HOST.spec, instances=instances),)), None

    def wait(self, attempt: int) -> float:
        self.waits.append(attempt)
        return 0.0


async def _no_records(path: str) -> bytes:
    return b""


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Iterator[Script]:
    made: list[Script] = []

    def make(opens: list[bool], events: bool = True) -> Script:
        found = Script(opens, events)
        monkeypatch.setattr(watch, "observe_keyed", found.observe)
        monkeypatch.setattr(Watcher, "_repo_side", lambda self: {})
        made.append(found)
        return found

    yield make  # type: ignore[misc]
    for found in made:
        for stream in found.streams:
            stream.close()


async def run_until(watcher: Watcher, reports: list[list[LiveUpdate]], count: int) -> None:
    """Run the watcher until ``count`` reports came (at most 20,000 loop turns: a safety cap)."""
    task = asyncio.ensure_future(watcher.run())
    for _ in range(20000):
        if len(reports) >= count or task.done():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(reports) >= count, reports


def health(updates: list[LiveUpdate]) -> dict[str, str]:
    return {u.endpoint: summarize(u.rows).health for u in updates}


async def test_an_unreachable_host_is_retried_and_comes_back(script: Any) -> None:
    found: Script = script([False, False, True])
    reports: list[list[LiveUpdate]] = []
    watcher = Watcher(PROJECT, reports.append, opener=found.opener, wait=found.wait)
    await run_until(watcher, reports, 3)
    assert health(reports[0]) == {"billing": "unreachable", "orders": "unreachable"}
    assert reports[0][0].rows[0].unreachable == "cannot reach root@h1:22 (refused)"
    assert health(reports[2]) == {"billing": "healthy", "orders": "healthy"}
    assert found.waits[:2] == [0, 1]  # the backoff schedule's first two steps


async def test_an_event_rereads_only_its_endpoint_and_a_broken_stream_is_unreachable(
        script: Any) -> None:
    found: Script = script([True, True])
    reports: list[list[LiveUpdate]] = []
    watcher = Watcher(PROJECT, reports.append, opener=found.opener, wait=found.wait)
    task = asyncio.ensure_future(run_until(watcher, reports, 4))
    for _ in range(20000):
        if reports:
            break
        await asyncio.sleep(0.01)
    assert [u.endpoint for u in reports[0]] == ["billing", "orders"]
    found.state = "exited"
    found.streams[0].push({"Type": "container", "Action": "die", "Actor": {"Attributes": {
        "dev.workbench.project": "shop", "dev.workbench.env": "staging",
        "dev.workbench.endpoint": "orders", "dev.workbench.role": "app"}}})
    for _ in range(20000):
        if len(reports) > 1:
            break
        await asyncio.sleep(0.01)
    assert [u.endpoint for u in reports[1]] == ["orders"] and health(reports[1]) == {
        "orders": "down"}
    found.state = "running"
    found.streams[0].push(None)  # the host went away: its stream ends
    await task
    assert health(reports[2]) == {"billing": "unreachable", "orders": "unreachable"}
    assert "event stream ended" in reports[2][0].rows[0].unreachable
    assert health(reports[3]) == {"billing": "healthy", "orders": "healthy"}  # back again
    assert found.waits[0] == 0


async def test_an_engine_without_events_is_polled(script: Any) -> None:
    found: Script = script([True], events=False)
    reports: list[list[LiveUpdate]] = []
    watcher = Watcher(PROJECT, reports.append, opener=found.opener, wait=found.wait, poll=0)
    await run_until(watcher, reports, 3)
    assert found.reads >= 3 and not found.streams
    assert {u.source for batch in reports for u in batch} == {"polling"}


async def test_a_repo_that_cannot_be_read_flags_no_drift(script: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    found: Script = script([True])

    def broken(self: Watcher) -> dict[str, Any]:
        raise OSError("endpoints/orders/Dockerfile: permission denied")

    monkeypatch.setattr(Watcher, "_repo_side", broken)
    reports: list[list[LiveUpdate]] = []
    watcher = Watcher(PROJECT, reports.append, opener=found.opener, wait=found.wait)
    await run_until(watcher, reports, 1)
    assert health(reports[0]) == {"billing": "healthy", "orders": "healthy"}
    assert [summarize(u.rows).drift for u in reports[0]] == [(), ()]  # not "removed"


async def test_a_container_not_healthy_yet_is_read_again_without_an_event(
        script: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A probed health check sends no event when the app starts to answer."""
    found: Script = script([True])
    found.health = ["unhealthy (connection refused)", "unhealthy (connection refused)",
                    "healthy"]
    monkeypatch.setattr(watch, "RECHECK", 0.01)
    reports: list[list[LiveUpdate]] = []
    watcher = Watcher(PROJECT, reports.append, opener=found.opener, wait=found.wait)
    await run_until(watcher, reports, 3)
    assert [health(r) for r in reports[:3]] == [
        {"billing": "unhealthy", "orders": "unhealthy"},
        {"billing": "unhealthy", "orders": "unhealthy"},
        {"billing": "healthy", "orders": "healthy"}]
    assert not found.streams[0].items  # no event was needed


async def test_a_stopped_watcher_returns_once_every_host_has_closed(script: Any) -> None:
    """Closing the app waits for the watcher: every host's connection is closed by then, the
    slow one too (none is left to a loop that is about to end)."""
    found: Script = script([True, True])
    two = Environment("staging", hosts=(HOST, Host("h2", "root")))
    project: Any = SimpleNamespace(name="shop", environments=(two,),
                                   endpoints=PROJECT.endpoints)
    closed: list[str] = []

    def opener(project: Any, env: Environment) -> Any:
        @contextlib.asynccontextmanager
        async def slowly() -> AsyncIterator[Any]:
            async with found.opener(project, env) as opened:
                try:
                    yield opened
                finally:
                    host = env.hosts[0].host
                    for _ in range(1 if host == "h1" else 20):  # closing takes loop turns
                        await asyncio.sleep(0)
                    closed.append(host)

        return slowly()

    reports: list[list[LiveUpdate]] = []
    watcher = Watcher(project, reports.append, opener=opener, wait=found.wait)
    await run_until(watcher, reports, 2)
    assert sorted(closed) == ["h1", "h2"]


async def test_a_swarm_nodes_task_event_rereads_the_service_through_the_manager(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's task container dies: its service lives on the manager, so the manager's
    watch reads it again (the worker alone reads nothing of it)."""
    manager, worker = Host("m1", "root"), Host("w1", "root")
    env = Environment("prod", engine="swarm", hosts=(manager, worker))
    project: Any = SimpleNamespace(name="shop", environments=(env,),
                                   endpoints=(SimpleNamespace(name="orders"),))
    streams: dict[str, Events] = {}
    reads: list[tuple[str, int]] = []

    def opener(_project: Any, one: Environment) -> Any:
        spec = one.hosts[0].spec

        @contextlib.asynccontextmanager
        async def opened() -> AsyncIterator[tuple[list[Any], dict[str, str]]]:
            def events(decode: bool, filters: dict[str, Any]) -> Events:
                streams[spec] = Events()
                return streams[spec]

            api = SimpleNamespace(events=events)
            yield [SimpleNamespace(name=spec, engine=SimpleNamespace(api=api),
                                   store=SimpleNamespace(read=_no_records))], {}

        return opened()

    async def observe(_project: Any, one: Environment, _opener: Any, _key: bytes,
                      with_images: bool = True) -> tuple[EnvState, bytes | None]:
        spec = one.hosts[0].spec
        reads.append((spec, len(reads)))
        found = (Instance("orders", spec, state="running", version="v1", health="healthy"),) \
            if spec == manager.spec else ()
        return EnvState(one.name, "swarm", (HostState(spec, instances=found),)), None

    monkeypatch.setattr(watch, "observe_keyed", observe)
    monkeypatch.setattr(Watcher, "_repo_side", lambda self: {})
    reports: list[list[LiveUpdate]] = []
    watcher = Watcher(project, reports.append, opener=opener, wait=lambda attempt: 0.0)
    task = asyncio.ensure_future(watcher.run())
    try:
        for _ in range(20000):  # both hosts read once
            if {spec for spec, _ in reads} == {manager.spec, worker.spec}:
                break
            await asyncio.sleep(0.01)
        before = sum(spec == manager.spec for spec, _ in reads)
        streams[worker.spec].push({"Type": "container", "Action": "die", "Actor": {
            "Attributes": {"dev.workbench.project": "shop", "dev.workbench.env": "prod",
                           "dev.workbench.endpoint": "orders", "dev.workbench.role": "app"}}})
        for _ in range(20000):
            if sum(spec == manager.spec for spec, _ in reads) > before:
                break
            await asyncio.sleep(0.01)
        assert sum(spec == manager.spec for spec, _ in reads) == before + 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for stream in streams.values():
            stream.close()
