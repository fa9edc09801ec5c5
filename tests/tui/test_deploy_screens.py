"""The deploy keys: `d` (deploy screen), `r` (rollback picker), `L` (lock), and the matrix status.

Most tests replace the core's ``deploy``/``rollback``/``history``/lock operations with scripted
fakes (the names the screens import). The integration test at the end deploys for real over the
real sshd and engine, and asks the endpoint through the proxy.
"""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import SIZE, MakeProject, build_project, set_environments, settle
from helpers import HANG_GUARD, SSHTarget, clean, free_port
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from screens import deploy_run, deploy_status, releases_view
from screens.app import WorkbenchApp
from screens.confirm import ConfirmByName
from screens.deploy_run import DeployRunScreen, deploy_steps
from screens.deploy_status import DeployCell, DeployStatus
from screens.main import MainScreen
from screens.matrix import CellUpdate
from screens.releases_view import EnvironmentPicker, LockView, ReleasePicker, earlier_releases
from workbench.errors import Unreachable
from workbench.events import Emit, LogLines, Result, StepFinished, StepStarted
from workbench.model import PROJECT_FILE, Project
from workbench.ops.deploy import DeployOptions, DeployReport, Outcome
from workbench.releases import Release

HOST_SUFFIXES = ("build", "start", "health")
SWITCH_SUFFIXES = ("switch", "drain", "record")


class FakeDeploy:
    """A scripted ``deploy``/``rollback``: every step takes 0.5 s (as reported).

    ``hold`` is a step id where it waits until cancelled; ``fail`` maps an endpoint to
    (suffix, reason); ``unchanged`` endpoints emit no steps.
    """

    def __init__(self, *, hold: str | None = None, fail: dict[str, tuple[str, str]] | None = None,
                 unchanged: Sequence[str] = (), error: Exception | None = None) -> None:
        self.hold, self.fail, self.unchanged, self.error = hold, fail or {}, unchanged, error
        self.calls: list[tuple[str, str, tuple[str, ...], str | None]] = []
        self.holding = self.cancelled = False
        self.removed: list[str] = []

    async def deploy(self, project: Project, env_name: str, names: Sequence[str], emit: Emit,
                     options: DeployOptions, open_sites: Any) -> DeployReport:
        self.calls.append(("deploy", env_name, tuple(names), None))
        return await self._run(project, env_name, names, emit)

    async def rollback(self, project: Project, env_name: str, name: str, emit: Emit,
                       options: DeployOptions, open_sites: Any,
                       to: str | None = None) -> DeployReport:
        self.calls.append(("rollback", env_name, (name,), to))
        return await self._run(project, env_name, (name,), emit)

    async def _run(self, project: Project, env_name: str, names: Sequence[str],
                   emit: Emit) -> DeployReport:
        if self.error is not None:
            raise self.error
        outcomes = []
        for name in list(names) or [e.name for e in project.endpoints]:
            if name in self.unchanged:
                emit(LogLines(f"{name}/deploy", (f"{name} is already at v1",)))
                outcomes.append(Outcome(name, True, "v1", False))
                continue
            outcomes.append(await self._endpoint(name, emit))
        report = DeployReport(env_name, tuple(outcomes))
        emit(Result(report.ok, report.summary()))
        return report

    async def _endpoint(self, name: str, emit: Emit) -> Outcome:
        for suffix in HOST_SUFFIXES + SWITCH_SUFFIXES:
            step, label = f"{name}/{suffix}", f"{name}: {suffix}"
            emit(StepStarted(step, label))
            emit(LogLines(f"{name}/{'build' if suffix == 'build' else 'app'}",
                          (f"{name} {suffix}",)))
            await asyncio.sleep(0.005)
            if step == self.hold:
                self.holding = True
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    self.cancelled = True
                    emit(StepFinished(step, label, False, 0.5, "cancelled"))
                    self.removed.append(name)  # the core removes the new container
                    raise
            bad = self.fail.get(name)
            if bad is not None and bad[0] == suffix:
                emit(StepFinished(step, label, False, 0.5, bad[1]))
                return Outcome(name, False, "v2", True, bad[1])
            emit(StepFinished(step, label, True, 0.5))
        return Outcome(name, True, "v2abcdef1234", True)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeDeploy]:
    def install(**options: Any) -> FakeDeploy:
        run = FakeDeploy(**options)
        monkeypatch.setattr(deploy_run, "deploy", run.deploy)
        monkeypatch.setattr(deploy_run, "rollback", run.rollback)
        return run

    return install


async def until(pilot: Pilot[Any], predicate: Callable[[], object], rounds: int = 5000,
                what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds (bounded by count, not by a clock)."""
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"{what} not reached in {rounds} rounds")


async def pick(pilot: Pilot[Any], env: str) -> None:
    """In the environment picker, move to ``env`` and press enter."""
    picker = pilot.app.screen
    assert isinstance(picker, EnvironmentPicker), picker
    options = picker.query_one(OptionList)
    for _ in range(options.option_count + 1):
        option = options.highlighted_option
        if option is not None and option.id == env:
            break
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()


def result(screen: DeployRunScreen) -> str:
    return str(screen.query_one("#result", Static).content)


def states(screen: DeployRunScreen) -> dict[str, str]:
    return {row.step: row.state for row in screen.timeline.rows}


async def finished(pilot: Pilot[Any], rounds: int = 5000) -> DeployRunScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, DeployRunScreen), rounds,
                "the deploy screen")
    screen = pilot.app.screen
    assert isinstance(screen, DeployRunScreen)
    await until(pilot, lambda: not screen.busy, rounds, "the end of the deploy")
    await pilot.pause()
    return screen


# -- d -----------------------------------------------------------------------------------------
def test_deploy_steps_name_the_hosts_only_when_there_are_several() -> None:
    assert [s for s, _ in deploy_steps("orders", ["local"])] == [
        "orders/build", "orders/start", "orders/health", "orders/switch", "orders/drain",
        "orders/record"]
    two = [s for s, _ in deploy_steps("orders", ["a@h1", "b@h2"])]
    assert two[:3] == ["orders/build on a@h1", "orders/start on a@h1", "orders/health on a@h1"]
    assert two[3] == "orders/build on b@h2" and two[-3:] == ["orders/switch", "orders/drain",
                                                             "orders/record"]


async def test_d_deploys_the_highlighted_endpoint_to_the_picked_environment(
        make_project: MakeProject, fake: Callable[..., FakeDeploy]) -> None:
    run = fake()
    app = WorkbenchApp(make_project(endpoints=("orders", "billing")))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "d")
        picker = app.screen
        assert isinstance(picker, EnvironmentPicker)
        options = picker.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["local", "staging", "production", "audit"]
        assert options.get_option("audit").disabled  # readonly: cannot be picked
        await pick(pilot, "staging")
        screen = await finished(pilot)
        assert run.calls == [("deploy", "staging", ("orders",), None)]
        assert screen.phase == "passed"
        assert set(states(screen).values()) == {"ok"}
        assert list(states(screen)) == [f"orders/{s}" for s in HOST_SUFFIXES + SWITCH_SUFFIXES]
        shown = str(screen.timeline.render())
        assert "orders  deployed v2abcdef1234" in shown
        assert " ✓ health check                      0.50s" in shown
        assert result(screen) == "✓ staging: 1 ok"
        assert "phase 1: orders" in str(screen.query_one("#phases", Static).content)
        assert screen.log_view.sources == ("orders/build", "orders/app")
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_d_in_pane_1_deploys_all_in_phases_and_shows_failures(
        make_project: MakeProject, fake: Callable[..., FakeDeploy]) -> None:
    run = fake(fail={"orders": ("health", "GET /health did not answer 200 within 30s")},
               unchanged=("billing",))
    app = WorkbenchApp(make_project(endpoints=("orders", "billing")))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "d")
        await pick(pilot, "local")
        screen = await finished(pilot)
        assert run.calls == [("deploy", "local", (), None)]
        assert screen.phase == "failed"
        assert states(screen)["orders/health"] == "failed"
        assert states(screen)["orders/switch"] == "skipped"
        assert set(states(screen)[f"billing/{s}"] for s in HOST_SUFFIXES) == {"skipped"}
        shown = str(screen.timeline.render())
        assert "billing  unchanged v1" in shown and "orders  failed" in shown
        assert "GET /health did not answer" in shown
        assert result(screen) == "✗ local: 1 ok, 1 failed (orders)"
        summary = str(screen.query_one("#summary", Static).content)
        assert "orders  FAILED  GET /health" in summary
        run.fail = {}
        await pilot.press("d")  # deploy again
        screen = await finished(pilot)
        assert len(run.calls) == 2 and screen.phase == "passed"


async def test_a_protected_environment_asks_for_its_name(
        make_project: MakeProject, fake: Callable[..., FakeDeploy]) -> None:
    run = fake()
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "d")
        await pick(pilot, "production")
        assert isinstance(app.screen, ConfirmByName)
        await pilot.press(*"prod", "enter")
        assert isinstance(app.screen, ConfirmByName)  # wrong: asked again
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and run.calls == []
        await pilot.press("d")
        await pick(pilot, "production")
        await pilot.press(*"production", "enter")
        await finished(pilot)
        assert run.calls == [("deploy", "production", ("orders",), None)]


async def test_x_cancels_a_deploy_and_the_new_container_is_removed(
        make_project: MakeProject, fake: Callable[..., FakeDeploy]) -> None:
    run = fake(hold="orders/health")
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "d")
        await pick(pilot, "staging")
        await until(pilot, lambda: run.holding)
        screen = app.screen
        assert isinstance(screen, DeployRunScreen)
        assert states(screen)["orders/health"] == "running"
        assert result(screen).startswith("● deploying orders to staging")
        await pilot.press("d")  # no second deploy while one runs
        await pilot.press("x")
        screen = await finished(pilot)
        assert run.cancelled and run.removed == ["orders"]
        assert screen.phase == "cancelled"
        assert states(screen)["orders/health"] == "cancelled"
        assert states(screen)["orders/switch"] == "skipped"
        assert result(screen).startswith("⊘ cancelled; an endpoint cancelled before its switch "
                                         "keeps its old version")
        assert len(run.calls) == 1


async def test_escape_during_a_deploy_cancels_then_goes_back(
        make_project: MakeProject, fake: Callable[..., FakeDeploy]) -> None:
    run = fake(hold="orders/build")
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "d")
        await pick(pilot, "local")
        await until(pilot, lambda: run.holding)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="back to main")
        assert run.cancelled and run.removed == ["orders"]


async def test_an_unreachable_environment_is_the_result(
        make_project: MakeProject, fake: Callable[..., FakeDeploy]) -> None:
    fake(error=Unreachable("cannot reach deploy@staging.invalid", "check the host"))
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "d")
        await pick(pilot, "staging")
        screen = await finished(pilot)
        assert screen.phase == "error"
        assert result(screen) == "✗ cannot reach deploy@staging.invalid; check the host"
        assert set(states(screen).values()) == {"skipped"}


# -- r -----------------------------------------------------------------------------------------
def release(version: str, time: str, outcome: str = "ok", kind: str = "deploy") -> Release:
    return Release("orders", version, "deploy@staging.invalid", outcome, kind=kind,
                   user="ann", time=time, git_sha="abcdef123456")


HISTORY = [release("v1", "2026-11-20T10:00:00+00:00"), release("v2", "2026-11-21T10:00:00+00:00"),
           release("v3", "2026-11-21T11:00:00+00:00", outcome="failed"),
           release("v1", "2026-11-21T12:00:00+00:00", kind="rollback"),
           release("v4", "2026-11-22T10:00:00+00:00")]


def test_earlier_releases_are_the_ok_ones_of_other_versions_newest_first() -> None:
    assert [(r.version, r.kind) for r in earlier_releases(HISTORY)] == [("v1", "rollback"),
                                                                        ("v2", "deploy")]
    assert earlier_releases([]) == []


async def test_r_rolls_back_to_a_release_picked_from_the_history(
        make_project: MakeProject, fake: Callable[..., FakeDeploy],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = fake()
    asked: list[tuple[str, str]] = []

    async def history(project: Project, env: str, name: str, open_sites: Any) -> list[Release]:
        asked.append((env, name))
        return HISTORY

    monkeypatch.setattr(releases_view, "history", history)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "r")
        await pick(pilot, "staging")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ReleasePicker)
        assert asked == [("staging", "orders")]
        assert "current: v4" in str(picker.query_one("#current", Static).content)
        options = picker.query_one(OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "v1", "v2"]
        await pilot.press("down", "enter")
        screen = await finished(pilot)
        assert run.calls == [("rollback", "staging", ("orders",), "v2")]
        assert "orders  rolled back to v2abcdef1234" in str(screen.timeline.render())
        assert screen.check_action("again", ()) is False  # no "deploy again" after a rollback


async def test_r_without_history_or_with_an_error_says_so(
        make_project: MakeProject, fake: Callable[..., FakeDeploy],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = fake()
    answers: list[Any] = [[], Unreachable("cannot reach deploy@staging.invalid", "check it")]

    async def history(project: Project, env: str, name: str, open_sites: Any) -> list[Release]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    monkeypatch.setattr(releases_view, "history", history)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "r")
        await pick(pilot, "staging")
        await settle(pilot)
        shown = str(app.screen.query_one("#current", Static).content)
        assert "orders was never deployed to staging" in shown
        await pilot.press("escape", "r")
        await pick(pilot, "staging")
        await settle(pilot)
        shown = str(app.screen.query_one("#current", Static).content)
        assert shown == "cannot read the history: cannot reach deploy@staging.invalid; check it"
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen) and run.calls == []


# -- L -----------------------------------------------------------------------------------------
async def test_l_shows_the_lock_and_releases_it_after_typing_the_name(
        make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.lock import LockInfo

    held = LockInfo.mine("deploy orders")
    state = {"locked": True}
    actions: list[tuple[str, str]] = []

    async def lock_status(project: Project, env: str, open_sites: Any) -> LockInfo | None:
        actions.append((env, "status"))
        return held if state["locked"] else None

    async def lock_release(project: Project, env: str, open_sites: Any, *, force: bool,
                           confirm: str | None) -> LockInfo | None:
        assert (force, confirm) == (True, env)  # the user typed the name first
        actions.append((env, "release"))
        state["locked"] = False
        return held

    monkeypatch.setattr(releases_view, "lock_status", lock_status)
    monkeypatch.setattr(releases_view, "lock_release", lock_release)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await pick(pilot, "staging")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, LockView)
        assert (f"environment 'staging' is locked by {held.describe()}"
                == str(view.query_one("#status", Static).content))
        assert view.check_action("release", ()) is True
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmByName)
        await pilot.press(*"staging", "enter")
        await settle(pilot)
        shown = str(view.query_one("#status", Static).content)
        assert shown == (f"released the lock of environment 'staging' held by "
                         f"{held.describe()}\nenvironment 'staging' is not locked")
        assert actions == [("staging", "status"), ("staging", "release"), ("staging", "status")]
        assert view.check_action("release", ()) is None
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


# -- the matrix --------------------------------------------------------------------------------
def test_deploy_cells_show_version_and_time_or_a_question_mark() -> None:
    cells = deploy_status.cells_for("staging", ["orders", "billing"], {"orders": HISTORY})
    orders, billing = (u.cell for u in cells)
    assert isinstance(orders, DeployCell) and orders.version == "v4"
    assert orders.when == deploy_status.when(HISTORY[-1])
    assert str(orders.render()) == f"v4 {orders.when}"
    assert str(billing.render()) == "not deployed"
    bad = deploy_status.failed_cells("staging", ["orders"], "cannot reach deploy@x")[0]
    assert str(bad.cell.render()) == "?"
    assert deploy_status.reasons([bad]) == {"staging": "cannot reach deploy@x"}


async def test_the_status_provider_fills_the_matrix_and_explains_a_question_mark(
        make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    async def read(project: Project, env: Any, endpoints: Any) -> dict[str, list[Release]]:
        if env.name == "staging":
            return {"orders": HISTORY}
        if env.name == "local":
            return {}
        raise Unreachable(f"cannot reach {env.name}", "check the host")

    monkeypatch.setattr(deploy_status, "read_environment", read)
    app = WorkbenchApp(make_project(), status=DeployStatus(live=False))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.screen.query_one("#environments")
        matrix = pane.matrix  # type: ignore[attr-defined]
        assert str(matrix.get("orders", "staging").render()).startswith("v4 ")
        assert str(matrix.get("orders", "local").render()) == "not deployed"
        assert str(matrix.get("orders", "production").render()) == "?"
        await pilot.press("3", "right", "right")  # production
        table = pane.list_widget  # type: ignore[attr-defined]
        assert table.tooltip == "production: cannot reach production; check the host"
        await pilot.press("left")
        assert table.tooltip is None


def test_an_unreadable_environment_never_raises(make_project: MakeProject) -> None:
    from workbench.model import load_project

    root = make_project()  # staging: a port on 127.0.0.1 where nothing listens
    set_environments(root, f"environments:\n  local: {{}}\n  staging:\n"
                           f"    hosts: [deploy@127.0.0.1:{free_port()}]\n")
    project = load_project(root)
    env = project.environment("staging")
    updates = deploy_status.environment_cells(project, env, ["orders"])
    assert [u.environment for u in updates] == ["staging"]
    cell = updates[0].cell
    assert isinstance(cell, DeployCell) and cell.reason and str(cell.render()) == "?"
    assert isinstance(updates[0], CellUpdate)


# -- the real sshd and engine ------------------------------------------------------------------
@pytest.mark.integration
async def test_a_real_deploy_to_staging_over_ssh(
        tmp_path: Path, isolated_env: Path, base_image: str, ssh_target: SSHTarget,
        docker_client: docker.DockerClient) -> None:
    ssh = isolated_env / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "config").write_text(f"Host {ssh_target.host}\n  IdentityFile {ssh_target.key}\n"
                                "  IdentitiesOnly yes\n")
    (ssh / "known_hosts").write_text(ssh_target.known_hosts.read_text())
    name = f"tuid{uuid.uuid4().hex[:8]}"
    port = free_port()
    root = build_project(tmp_path / "work", name, endpoints=("orders",), environments=None)
    path = root / PROJECT_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nbuild_args: {}\n",
                                 f"\nbuild_args: {{BASE_IMAGE: {base_image}}}\n"),
                    encoding="utf-8")
    set_environments(root, f"environments:\n  local:\n    proxy_port: 8080\n  staging:\n"
                           f"    hosts: [{ssh_target.user}@{ssh_target.host}:{ssh_target.port}]\n"
                           f"    proxy_port: {port}\n    proxy_bind: 127.0.0.1\n"
                           f"    proxy_image: {base_image}\n")
    try:
        app = WorkbenchApp(root)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "d")
            await pick(pilot, "staging")
            screen = await finished(pilot, rounds=50_000)
            assert screen.phase == "passed", (result(screen), screen.timeline.rows,
                                              screen.query_one("#summary", Static).content)
            assert set(states(screen).values()) == {"ok"}
            assert all(row.duration is not None for row in screen.timeline.rows)
            assert "orders/build" in screen.log_view.sources
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/orders/health",
                                        timeout=HANG_GUARD) as reply:
                assert reply.status == 200
            records = await deploy_status.read_environment(
                screen.project, screen.project.environment("staging"), ["orders"])
            assert [r.outcome for r in records["orders"]] == ["ok"]
            await pilot.press("escape")
    finally:
        clean(docker_client, name, Path("/var/lib/workbench"))
