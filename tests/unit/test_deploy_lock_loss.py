"""A deploy that lost its lock stops before its next change (no Docker: fakes at the edges)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from workbench.context import BuildContext
from workbench.errors import LockLost
from workbench.lock import EnvLock
from workbench.logstream import LogHub
from workbench.model import Endpoint, Environment, load_project
from workbench.ops.deploy import DeployOptions, DeployRun
from workbench.ops.inputs import ReleaseInput
from workbench.site import Site
from workbench.state import LocalStore


@pytest.fixture
def run(tmp_path: Path) -> DeployRun:
    from workbench.ops.new import new_child, new_project

    root = new_project(tmp_path, "shop").path
    new_child(root, "endpoint", "orders")
    project = load_project(root)
    env = Environment("staging", hosts=())
    lock = EnvLock(LocalStore(tmp_path / "state"), "staging", "deploy orders")
    lock.lost_line = "environment 'staging' is locked by someone else now"
    lock.lost.set()
    site = Site("host", mock.MagicMock(name="engine"), LocalStore(tmp_path / "state"),
                mock.AsyncMock(name="connect"))
    return DeployRun(project, env, lambda _event: None, DeployOptions(), [site],
                     LogHub(lambda _event: None), lock)


def item() -> ReleaseInput:
    endpoint = Endpoint("orders", Path("/nowhere"))
    return ReleaseInput(endpoint, BuildContext("orders", b"", "0123456789ab", {}, 0), {}, {},
                        "hash", "", False)


async def test_no_container_starts_once_the_lock_is_lost(run: DeployRun) -> None:
    fresh: dict[str, str] = {}
    with pytest.raises(LockLost, match="locked by someone else"):
        await run._start(run.sites[0], item(), "image", fresh)
    run.sites[0].engine.client.containers.run.assert_not_called()
    assert fresh == {}


async def test_no_switch_once_the_lock_is_lost(run: DeployRun,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []

    async def up(self: DeployRun, target: ReleaseInput, steps: Any, fresh: dict[str, str]) -> None:
        fresh["host"] = "wb_shop_staging_orders_new"  # as if built, started and healthy
        started.append(fresh["host"])

    async def changed(self: DeployRun, target: ReleaseInput) -> bool:
        return True

    switch = mock.AsyncMock(name="switch")
    discard = mock.AsyncMock(name="discard")
    monkeypatch.setattr(DeployRun, "_up_everywhere", up)
    monkeypatch.setattr(DeployRun, "_changed", changed)
    monkeypatch.setattr(DeployRun, "_discard", discard)
    monkeypatch.setattr(run.routing, "switch", switch)
    with pytest.raises(LockLost):
        await run.endpoint(item())
    assert started and switch.await_count == 0
    discard.assert_awaited_once_with({"host": "wb_shop_staging_orders_new"})
