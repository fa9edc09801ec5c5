"""`d` and `r` on a Swarm environment (``production`` in the TUI fixture: engine swarm, two
hosts, protected): the deploy screen lists a Swarm deploy's steps (one set, on the manager;
not a single-host deploy's steps per host), and the rollback picker offers the earlier
versions past a scale. The core's ``deploy``/``rollback``/``history`` are scripted fakes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from conftest import SIZE, MakeProject, settle
from test_deploy_screens import finished, pick, states
from textual.widgets import OptionList, Static

from screens import deploy_run, releases_view
from screens.app import WorkbenchApp
from screens.deploy_run import SWARM_STEPS, deploy_steps
from screens.releases_view import ReleasePicker
from workbench.events import Emit, Result, StepFinished, StepStarted, Warning
from workbench.model import Project
from workbench.ops.deploy import DeployOptions, DeployReport, Outcome
from workbench.releases import Release

SWARM = [f"orders/{suffix}" for suffix, _ in SWARM_STEPS]


class SwarmFake:
    """A Swarm deploy or rollback as the core reports it: its step ids, a warning."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[str, ...], str | None]] = []

    async def deploy(self, project: Project, env: str, names: Sequence[str], emit: Emit,
                     options: DeployOptions, open_sites: Any) -> DeployReport:
        self.calls.append(("deploy", env, tuple(names), None))
        return self._run(env, emit)

    async def rollback(self, project: Project, env: str, name: str, emit: Emit,
                       options: DeployOptions, open_sites: Any,
                       to: str | None = None) -> DeployReport:
        self.calls.append(("rollback", env, (name,), to))
        return self._run(env, emit)

    def _run(self, env: str, emit: Emit) -> DeployReport:
        emit(Warning("orders runs 3 replica(s); endpoint.yaml says 1: this deploy applies 1"))
        for step in SWARM:
            emit(StepStarted(step, f"{step}: label"))
            emit(StepFinished(step, f"{step}: label", True, 0.5))
        report = DeployReport(env, (Outcome("orders", True, "v1abcdef1234", True),))
        emit(Result(True, report.summary()))
        return report


@pytest.fixture
def swarm_fake(monkeypatch: pytest.MonkeyPatch) -> SwarmFake:
    run = SwarmFake()
    monkeypatch.setattr(deploy_run, "deploy", run.deploy)
    monkeypatch.setattr(deploy_run, "rollback", run.rollback)
    return run


def test_a_swarm_deploy_has_one_set_of_steps_on_the_manager() -> None:
    steps = [s for s, _ in deploy_steps("orders", ["a@m", "b@w"], "swarm")]
    assert steps == SWARM and not any(" on " in s for s in steps)


async def test_d_deploys_to_a_swarm_environment_with_its_own_steps(
        make_project: MakeProject, swarm_fake: SwarmFake) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "d")
        await pick(pilot, "production")
        await pilot.press(*"production", "enter")  # protected: its name again
        screen = await finished(pilot)
        assert swarm_fake.calls == [("deploy", "production", ("orders",), None)]
        assert screen.phase == "passed"
        assert states(screen) == dict.fromkeys(SWARM, "ok")  # no pending per-host rows


async def test_r_rolls_back_a_swarm_endpoint_past_a_scale(
        make_project: MakeProject, swarm_fake: SwarmFake,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def record(version: str, time: str, kind: str = "deploy") -> Release:
        return Release("orders", version, "deploy@prod-1.invalid", "ok", kind=kind,
                       user="ann", time=time, engine="swarm", replicas=3 if kind == "scale"
                       else 1, image_ref="sha256:" + version)

    async def history(project: Project, env: str, name: str, open_sites: Any) -> list[Release]:
        return [record("v1", "2026-11-20T10:00:00+00:00"),
                record("v2", "2026-11-21T10:00:00+00:00"),
                record("v2", "2026-11-21T11:00:00+00:00", "scale")]

    monkeypatch.setattr(releases_view, "history", history)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "r")
        await pick(pilot, "production")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ReleasePicker)
        assert "current: v2" in str(picker.query_one("#current", Static).content)
        options = picker.query_one(OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "v1"]
        await pilot.press("enter")
        await pilot.press(*"production", "enter")  # protected: its name again
        screen = await finished(pilot)
        assert swarm_fake.calls == [("rollback", "production", ("orders",), "v1")]
        assert states(screen) == dict.fromkeys(SWARM, "ok")
        assert "orders  rolled back to v1abcdef1234" in str(screen.timeline.render())
