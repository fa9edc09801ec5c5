"""``logs --follow`` picks up containers that start while following (ops/logwatch.py), with a
fake engine whose event stream is a list."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from workbench.ops.logwatch import Starts


class FakeApi:
    def __init__(self, events: list[dict[str, Any]] | None) -> None:
        self.events_given = events
        self.filters: dict[str, list[str]] = {}

    def events(self, decode: bool, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        self.filters = filters
        if self.events_given is None:
            raise RuntimeError("404 page not found")
        return self.events_given


def start(endpoint: str, container: str, project: str = "shop") -> dict[str, Any]:
    return {"Type": "container", "Action": "start", "id": container,
            "Actor": {"ID": container, "Attributes": {
                "dev.workbench.project": project, "dev.workbench.env": "staging",
                "dev.workbench.endpoint": endpoint, "dev.workbench.role": "app"}}}


def site(api: FakeApi) -> Any:
    return SimpleNamespace(name="deploy@h1", engine=SimpleNamespace(api=api))


async def watch(api: FakeApi, wanted: tuple[str, ...]) -> tuple[list[tuple[str, str]], str]:
    starts = Starts(site(api), "shop", "staging", wanted)
    await starts.ready.wait()
    for _ in range(1000):  # until the stream's end is handled (bounded)
        if starts.problem:
            break
        await starts.changed.wait()
        starts.changed.clear()
    taken = starts.take()
    note = starts.note()
    assert starts.note() == "" and starts.take() == []  # each once
    await starts.close()
    return taken, note


def test_starts_of_the_followed_endpoints_are_taken_once() -> None:
    api = FakeApi([start("orders", "c1"), start("billing", "c2"), start("orders", "c3")])
    taken, note = asyncio.run(watch(api, ("orders",)))
    assert taken == [("orders", "c1"), ("orders", "c3")]
    assert api.filters["event"] == ["start"]
    assert "dev.workbench.project=shop" in api.filters["label"]
    assert note == "new containers on deploy@h1 are not followed: its event stream ended"


def test_an_engine_without_events_is_named_once() -> None:
    taken, note = asyncio.run(watch(FakeApi(None), ()))
    assert taken == []
    assert note == ("new containers on deploy@h1 are not followed: its event stream is not "
                    "offered (RuntimeError: 404 page not found)")


def test_a_swarm_task_is_named_by_its_slot() -> None:
    from workbench.engine import LABEL
    from workbench.ops.logwatch import source_of

    task = {f"{LABEL}endpoint": "orders",
            "com.docker.swarm.task.name": "wb_shop_prod_orders.2.k3x9q1c0v8m2"}
    assert source_of(task) == "orders.2"
    assert source_of({f"{LABEL}endpoint": "orders"}) == "orders"  # a plain container
    assert source_of({f"{LABEL}endpoint": "orders",
                      "com.docker.swarm.task.name": "odd"}) == "orders"
