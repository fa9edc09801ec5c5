"""The test screen (screens/test_run.py): `t`, the step timeline, logs, result, cancel, re-run.

Most tests replace ``test_endpoints`` with :class:`FakeLoop`, which emits a scripted run; the
integration tests at the end drive the real engine (Docker and the local base image).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import SIZE, MakeProject, build_project, settle
from textual.pilot import Pilot
from textual.widgets import Static

from screens import test_run
from screens.app import WorkbenchApp
from screens.help import HelpScreen
from screens.main import MainScreen
from screens.palette import commands_for
from screens.test_run import TestRunScreen, format_duration
from workbench.errors import Unreachable
from workbench.events import Emit, LogLines, Result, StepFinished, StepStarted
from workbench.model import PROJECT_FILE, Project
from workbench.ops.new import new_child
from workbench.ops.test import (
    STEPS,
    EndpointReport,
    StepRecord,
    TestOptions,
    TestReport,
)

SOURCE_OF = {"build": "build", "start": "app", "health": "app", "tests": "tests"}


class FakeLoop:
    """A scripted ``test_endpoints``: every step takes ``1 + index/4`` seconds (as reported).

    ``fail`` maps an endpoint to (step, reason); ``hold`` is a step id where the fake waits
    until it is cancelled; cleanup always runs, after ``gate`` is set when one is given.
    """

    def __init__(self, *, fail: dict[str, tuple[str, str]] | None = None,
                 hold: str | None = None, gate: asyncio.Event | None = None,
                 error: Exception | None = None) -> None:
        self.fail = fail or {}
        self.hold = hold
        self.gate = gate
        self.error = error
        self.calls: list[tuple[str, ...]] = []
        self.cleaned: list[str] = []
        self.cancelled = False
        self.holding = False

    async def __call__(self, project: Project, names: Sequence[str], emit: Emit,
                       options: TestOptions | None = None) -> TestReport:
        self.calls.append(tuple(names))
        if self.error is not None:
            raise self.error
        endpoints = list(names) or [e.name for e in project.endpoints]
        report = TestReport(tuple([await self._endpoint(name, emit) for name in endpoints]))
        emit(Result(report.ok, "done", report.as_dict()))
        return report

    async def _endpoint(self, name: str, emit: Emit) -> EndpointReport:
        records: list[StepRecord] = []
        failed, reason = None, ""
        try:
            for index, (suffix, label) in enumerate(STEPS[:-1]):
                step, full = f"{name}/{suffix}", f"{name}: {label}"
                emit(StepStarted(step, full))
                emit(LogLines(f"{name}/{SOURCE_OF[suffix]}", (f"{name} {suffix} 1",
                                                               f"{name} {suffix} 2")))
                await asyncio.sleep(0.005)
                if step == self.hold:
                    self.holding = True
                    try:
                        await asyncio.sleep(60)
                    except asyncio.CancelledError:
                        self.cancelled = True
                        emit(StepFinished(step, full, False, 0.5, "CancelledError"))
                        raise
                bad = self.fail.get(name)
                ok = bad is None or bad[0] != suffix
                detail = "" if ok or bad is None else bad[1]
                emit(StepFinished(step, full, ok, 1 + index / 4, detail))
                records.append(StepRecord(step, full, ok, 1 + index / 4, detail))
                if not ok:
                    failed, reason = suffix, detail
                    break
        finally:
            emit(StepStarted(f"{name}/cleanup", f"{name}: clean up"))
            if self.gate is not None:
                await self.gate.wait()
            self.cleaned.append(name)
            emit(StepFinished(f"{name}/cleanup", f"{name}: clean up", True, 0.25))
        last = ("Traceback (most recent call last):", "RuntimeError: no db") if failed else ()
        return EndpointReport(name, failed is None, tuple(records), failed, reason, last)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeLoop]:
    """Install a FakeLoop as the screen's ``test_endpoints``."""

    def install(**options: Any) -> FakeLoop:
        loop = FakeLoop(**options)
        monkeypatch.setattr(test_run, "test_endpoints", loop)
        return loop

    return install


async def until(pilot: Pilot[Any], predicate: Callable[[], object], rounds: int = 5000,
                what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds (bounded by count, not by a clock)."""
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"{what} not reached in {rounds} rounds")


def run_screen(app: WorkbenchApp) -> TestRunScreen:
    screen = app.screen
    assert isinstance(screen, TestRunScreen), screen
    return screen


def result(screen: TestRunScreen) -> str:
    return str(screen.query_one("#result", Static).content)


def states(screen: TestRunScreen) -> dict[str, str]:
    return {row.step: row.state for row in screen.timeline.rows}


async def finished(pilot: Pilot[Any], rounds: int = 5000) -> TestRunScreen:
    screen = run_screen(pilot.app)  # type: ignore[arg-type]
    await until(pilot, lambda: not screen.busy, rounds, "the end of the run")
    await pilot.pause()
    return screen


# -- the screen --------------------------------------------------------------------------------
async def test_a_run_shows_the_timeline_the_logs_per_source_and_the_result(
        make_project: MakeProject, fake: Callable[..., FakeLoop]) -> None:
    loop = fake(fail={"billing": ("health", "GET /health did not answer 200 within 30s")})
    app = WorkbenchApp(make_project(endpoints=("orders", "billing")))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "t")
        screen = await finished(pilot)
        assert loop.calls == [()]
        assert states(screen) == {
            "orders/build": "ok", "orders/start": "ok", "orders/health": "ok",
            "orders/tests": "ok", "orders/cleanup": "ok",
            "billing/build": "ok", "billing/start": "ok", "billing/health": "failed",
            "billing/tests": "skipped", "billing/cleanup": "ok",
        }
        assert [row.duration for row in screen.timeline.rows[:5]] == [1, 1.25, 1.5, 1.75, 0.25]
        assert screen.timeline.row("billing/health").detail.startswith("GET /health")
        shown = str(screen.timeline.render())
        assert " ✓ build image      1.00s" in shown
        assert " ✗ wait for health  1.50s\n     GET /health did not answer" in shown
        assert " - run tests        skipped" in shown
        assert "billing  failed" in shown and "orders  passed" in shown
        assert screen.timeline.size.height >= shown.count("\n") + 1  # laid out again
        assert result(screen) == ("✗ 1 passed, 1 failed: billing (health: GET /health did not "
                                  "answer 200 within 30s)")
        failures = str(screen.query_one("#failures", Static).content)
        assert "billing failed at health" in failures
        assert "last lines of the container:\n  Traceback" in failures
        # the log view got every batch; `s` shows one source at a time
        view = screen.log_view
        assert view.sources == ("orders/build", "orders/app", "orders/tests", "billing/build",
                                "billing/app")
        assert view.line_count == 14
        await pilot.press("s")
        assert view.source == "orders/build"
        assert list(view.log_widget.lines) == ["orders build 1", "orders build 2"]
        await pilot.press("s")
        assert list(view.log_widget.lines) == ["orders start 1", "orders start 2",
                                               "orders health 1", "orders health 2"]


async def test_running_steps_show_their_elapsed_time(make_project: MakeProject,
                                                     fake: Callable[..., FakeLoop]) -> None:
    loop = fake(hold="orders/health")
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "t")
        screen = run_screen(app)
        await until(pilot, lambda: loop.holding)
        assert states(screen)["orders/health"] == "running"
        assert states(screen)["orders/tests"] == "pending"
        assert result(screen).startswith("● testing orders  ")
        await pilot.pause(0.3)
        assert re.search(r" ● wait for health  \d+\.\d\ds\n", str(screen.timeline.render()))
        await pilot.press("x")


async def test_x_cancels_the_run_and_its_cleanup_runs(make_project: MakeProject,
                                                      fake: Callable[..., FakeLoop]) -> None:
    gate = asyncio.Event()
    loop = fake(hold="orders/health", gate=gate)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "t")
        screen = run_screen(app)
        await until(pilot, lambda: loop.holding)
        await pilot.press("t")  # no re-run while running
        assert loop.calls == [("orders",)]
        await pilot.press("x")
        await until(pilot, lambda: loop.cancelled)
        assert screen.phase == "cancelling"
        assert result(screen) == "⊘ cancelling… cleaning up"
        assert loop.cleaned == []
        gate.set()
        screen = await finished(pilot)
        assert loop.cancelled and loop.cleaned == ["orders"]
        assert screen.phase == "cancelled"
        assert result(screen).startswith("⊘ cancelled")
        assert states(screen) == {"orders/build": "ok", "orders/start": "ok",
                                  "orders/health": "cancelled", "orders/tests": "skipped",
                                  "orders/cleanup": "ok"}
        assert screen.timeline.row("orders/health").detail == ""


async def test_t_runs_again_with_a_fresh_timeline_log_and_project(
        make_project: MakeProject, fake: Callable[..., FakeLoop]) -> None:
    root = make_project()
    loop = fake(fail={"orders": ("tests", "the test command exited with code 1")})
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "t")
        screen = await finished(pilot)
        assert screen.phase == "failed"
        assert screen.log_view.line_count == 8
        new_child(root, "endpoint", "billing")  # the next run reads the project again
        loop.fail = {}
        await pilot.press("t")
        screen = await finished(pilot)
        assert loop.calls == [(), ()]
        assert screen.phase == "passed"
        assert result(screen) == "✓ 2 passed"
        assert set(states(screen).values()) == {"ok"}
        assert [row.endpoint for row in screen.timeline.rows][::5] == ["orders", "billing"]
        assert screen.log_view.line_count == 16
        assert str(screen.query_one("#failures", Static).content) == ""


async def test_escape_during_a_run_cancels_then_goes_back(
        make_project: MakeProject, fake: Callable[..., FakeLoop]) -> None:
    gate = asyncio.Event()
    loop = fake(hold="orders/build", gate=gate)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "t")
        screen = run_screen(app)
        await until(pilot, lambda: loop.holding)
        await pilot.press("escape")
        await until(pilot, lambda: loop.cancelled)
        await pilot.pause(0.1)
        assert app.screen is screen and screen.phase == "cancelling"
        gate.set()
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="back to main")
        assert loop.cleaned == ["orders"]
        # after a run, escape goes straight back
        loop.hold = loop.gate = None
        await pilot.press("t")
        await finished(pilot)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_quit_during_a_run_cleans_up_first(make_project: MakeProject,
                                                 fake: Callable[..., FakeLoop]) -> None:
    gate = asyncio.Event()
    loop = fake(hold="orders/tests", gate=gate)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "t")
        await until(pilot, lambda: loop.holding)
        await pilot.press("q")
        await until(pilot, lambda: loop.cancelled)
        await pilot.pause(0.1)
        assert app.is_running and loop.cleaned == []
        gate.set()
        await until(pilot, lambda: not app.is_running, what="the app's exit")
    assert loop.cleaned == ["orders"]


async def test_leaving_the_app_any_other_way_waits_for_the_cleanup(
        make_project: MakeProject, fake: Callable[..., FakeLoop]) -> None:
    gate = asyncio.Event()
    loop = fake(hold="orders/health", gate=gate)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "t")
        await until(pilot, lambda: loop.holding)
        asyncio.get_running_loop().call_later(0.3, gate.set)  # a slow cleanup
    assert loop.cancelled and loop.cleaned == ["orders"]


async def test_bad_input_is_shown_as_the_result(make_project: MakeProject,
                                                fake: Callable[..., FakeLoop]) -> None:
    loop = fake(error=Unreachable("Docker is not reachable", "start it"))
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "t")
        screen = await finished(pilot)
        assert screen.phase == "error"
        assert result(screen) == "✗ Docker is not reachable; start it"
        assert set(states(screen).values()) == {"skipped"}
        loop.error = None
        await pilot.press("t")
        screen = await finished(pilot)
        assert screen.phase == "passed"


async def test_help_lists_the_keys_of_the_test_screen(make_project: MakeProject,
                                                      fake: Callable[..., FakeLoop]) -> None:
    fake()
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "t")
        await finished(pilot)
        assert [c.title for c in commands_for(app.screen)] == ["Run again", "Back", "Help",
                                                               "Quit"]
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = [k.binding_id for k in app.screen.keys]
        assert ids[:4] == ["cancel", "test", "back", "quit"]
        assert {"log_view.source", "log_view.follow"} <= set(ids)


# -- t on the main screen ----------------------------------------------------------------------
async def test_t_on_the_main_screen_tests_what_is_highlighted(
        make_project: MakeProject, fake: Callable[..., FakeLoop]) -> None:
    loop = fake()
    app = WorkbenchApp(make_project(endpoints=("orders", "billing"), models=("customer",)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "down", "t")  # an endpoint row
        assert run_screen(app).names == ("billing",)
        await finished(pilot)
        await pilot.press("escape", "1", "t")  # the projects pane: all endpoints
        assert run_screen(app).names == ()
        assert run_screen(app).endpoints == ("orders", "billing")
        await finished(pilot)
        await pilot.press("escape", "3", "t")  # a row of the matrix is an endpoint too
        assert run_screen(app).names == ("orders",)
        await finished(pilot)
        await pilot.press("escape", "2", "down", "down", "t")  # a model
        assert isinstance(app.screen, MainScreen)
        assert any("only endpoints are tested" in n.message for n in app._notifications)
        assert loop.calls == [("billing",), (), ("orders",)]


async def test_t_without_endpoints_says_so(make_project: MakeProject,
                                           fake: Callable[..., FakeLoop]) -> None:
    loop = fake()
    app = WorkbenchApp(make_project(endpoints=(), models=("customer",)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "t")
        assert isinstance(app.screen, MainScreen)
        assert any("has no endpoints to test" in n.message for n in app._notifications)
        assert loop.calls == []


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.421, 12.34, 125)] == ["0.42s", "12.3s", "2m05s"]


def test_snapshot(snap_compare: Callable[..., bool], snapshot_project: Path,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    loop = FakeLoop(fail={"billing": ("health", "GET /health did not answer 200 within 30s "
                                      "(last: 503)")})
    monkeypatch.setattr(test_run, "test_endpoints", loop)

    async def run_all(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("1", "t")
        await finished(pilot)

    app = WorkbenchApp(snapshot_project)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_all)


# -- the real engine ---------------------------------------------------------------------------
def real_project(parent: Path, base_image: str) -> Path:
    """A project with one python endpoint, built FROM the local base image."""
    name = f"tui{uuid.uuid4().hex[:8]}"
    root = build_project(parent, name, endpoints=("orders",), environments=None)
    path = root / PROJECT_FILE
    text = path.read_text(encoding="utf-8")
    assert "\nbuild_args: {}\n" in text
    path.write_text(text.replace("\nbuild_args: {}\n", f"\nbuild_args: {{BASE_IMAGE: "
                                 f"{base_image}}}\n"), encoding="utf-8")
    return root


def leftovers(client: docker.DockerClient, project: str) -> list[str]:
    label = {"label": f"dev.workbench.project={project}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=label)]
            + [f"network {n.name}" for n in client.networks.list(filters=label)])


def remove_images(client: docker.DockerClient, project: str) -> None:
    for image in client.images.list(filters={"label": f"dev.workbench.project={project}"}):
        client.images.remove(image.id, force=True)


@pytest.mark.integration
async def test_a_real_run_passes_with_app_logs(docker_client: docker.DockerClient,
                                               base_image: str, tmp_path: Path) -> None:
    root = real_project(tmp_path / "work", base_image)
    try:
        app = WorkbenchApp(root)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "t")
            screen = await finished(pilot, rounds=50_000)
            assert screen.phase == "passed", (result(screen), screen.timeline.rows)
            assert result(screen) == "✓ 1 passed"
            assert set(states(screen).values()) == {"ok"}
            assert all(row.duration is not None for row in screen.timeline.rows)
            assert "orders/app" in screen.log_view.sources
            await pilot.press("s", "s")
            assert screen.log_view.source == "orders/app"
            assert screen.log_view.shown_count > 0
        assert leftovers(docker_client, root.name) == []
    finally:
        remove_images(docker_client, root.name)


@pytest.mark.integration
async def test_cancelling_a_real_run_leaves_nothing_behind(docker_client: docker.DockerClient,
                                                           base_image: str,
                                                           tmp_path: Path) -> None:
    root = real_project(tmp_path / "work", base_image)
    # the app never answers on its health path: the run waits there until cancelled
    endpoint = root / "endpoints" / "orders" / "endpoint.yaml"
    text = endpoint.read_text(encoding="utf-8")
    endpoint.write_text(text.replace("health: /health\n", "health: /never\n")
                        .replace("health_timeout: 30\n", "health_timeout: 3600\n"),
                        encoding="utf-8")
    try:
        app = WorkbenchApp(root)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "t")
            screen = run_screen(app)
            await until(pilot, lambda: states(screen)["orders/health"] == "running",
                        rounds=50_000, what="the health step")
            assert leftovers(docker_client, root.name), "the run started nothing"
            await pilot.press("x")
            screen = await finished(pilot, rounds=50_000)
            assert screen.phase == "cancelled", result(screen)
            assert states(screen)["orders/health"] == "cancelled"
            assert states(screen)["orders/cleanup"] == "ok"
            assert leftovers(docker_client, root.name) == []
    finally:
        remove_images(docker_client, root.name)
