"""The live environments matrix and the endpoint detail panel.

Pure parts first (how a live cell reads, the detail panel's text). Then the real thing: a
project deployed to the CI sshd host, the app opened with the live provider, the container
stopped and started behind the app's back with the docker SDK, and the cell following; an
environment whose host does not answer shows ``unreachable``. Waits are loops bounded by a
count of short pauses, never by a clock.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
from conftest import SIZE, build_project, set_environments, settle
from helpers import SSHTarget, clean, free_port
from textual.pilot import Pilot
from textual.widgets import DataTable

from screens.app import WorkbenchApp
from screens.compare_rows import REPO
from screens.compare_view import CompareScreen
from screens.deploy_status import DeployStatus
from screens.detail import DetailPanel, detail_text
from screens.endpoint_logs import EndpointLogs
from screens.main import MainScreen
from screens.matrix import LiveCell, age
from screens.panes import EnvironmentsPane
from screens.releases_view import ReleasePicker
from workbench.events import Emit
from workbench.live import LiveUpdate
from workbench.model import PROJECT_FILE, Environment, load_project
from workbench.observed import Instance
from workbench.ops.deploy import deploy
from workbench.ops.report import DeployOptions
from workbench.ops.status import Row
from workbench.releases import Release
from workbench.sites import open_sites

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PAUSES = 2400
"""Most short pauses a wait takes (a safety cap: each wait ends on its condition)."""


def live_cell(rows: tuple[Row, ...], history: tuple[Release, ...] = ()) -> LiveCell:
    return LiveCell.of(LiveUpdate("staging", "orders", rows, history))


def running(health: str = "healthy", state: str = "running") -> Instance:
    return Instance("orders", "root@h1", state=state, health=health, version="3f2a9c0d1e",
                    started_at="2026-11-30T11:48:00Z", restarts=2, git_sha="1a2b3c4d5e")


RELEASE = Release("orders", "3f2a9c0d1e", "root@h1", "ok", user="ann",
                  time="2026-11-30T11:47:00+00:00", last_lines=("listening on :8000",))


# -- pure ----------------------------------------------------------------------------------------
def test_ages_are_one_short_unit() -> None:
    assert [age(t, NOW) for t in ("2026-11-30T11:59:15Z", "2026-11-30T11:47:59.037087545Z",
                                  "2026-11-30T07:00:00+00:00", "2026-11-25T12:00:00")] == [
        "45s", "12m", "5h", "5d"]
    assert age("", NOW) == "" and age("soon", NOW) == ""


def test_a_live_cell_shows_health_version_drift_and_age() -> None:
    cell = live_cell((Row("staging", "orders", "root@h1", running(), RELEASE, RELEASE,
                          ("code",)),))
    shown = cell.render(NOW)
    assert str(shown) == "● 3f2a9c0\nΔ 12m"
    assert shown.spans[0].style == "green"
    down = live_cell((Row("staging", "orders", "root@h1", running(state="exited"), RELEASE,
                          RELEASE, ("missing",)),)).render(NOW)
    assert str(down) == "○ 3f2a9c0\nΔ 13m" and down.spans[0].style == "bold red"
    gone = live_cell((Row("staging", "orders", "root@h1", None, None, None, (), "refused"),))
    assert str(gone.render(NOW)) == "unreachable"
    never = live_cell((Row("staging", "orders", "root@h1", None, None, None, ()),))
    assert str(never.render(NOW)) == "not\ndeployed"


def test_the_detail_panel_names_hosts_health_releases_drift_and_lines() -> None:
    rows = (Row("staging", "orders", "root@h1", running(), RELEASE, RELEASE, ("code",)),
            Row("staging", "orders", "root@h2", None, None, None, (), "connection refused"))
    env = Environment("staging")
    text = str(detail_text("orders", env, live_cell(rows, (RELEASE,)), NOW))
    assert "root@h1  ● healthy  up since 11-30 11:48 UTC (12m)  restarts 2" in text
    assert "root@h2  unreachable  connection refused" in text
    assert "version 3f2a9c0d1e  git 1a2b3c4d" in text
    assert "drift   code differs from the repo" in text
    assert "11-30 11:47 UTC  deploy   ok      3f2a9c0d  by ann" in text
    assert "last lines (release 3f2a9c0d)\n  listening on :8000" in text
    read = str(detail_text("orders", env, live_cell(rows, (RELEASE,)), NOW,
                           lines=["h1  GET /orders 200"]))
    assert "last lines\n  h1  GET /orders 200" in read and "listening" not in read


def test_the_detail_panel_of_a_swarm_service_shows_replicas_and_tasks_per_node() -> None:
    from dataclasses import replace

    from workbench.observed import Task

    service = replace(running(), replicas="2/3", replicas_desired=3, replicas_running=2,
                      update_state="completed",
                      tasks=(Task(1, "root@h1", "running", "running", health="healthy"),
                             Task(2, "root@h2", "running", "running", health="healthy"),
                             Task(3, "root@h2", "failed", "shutdown", "task: non-zero exit")))
    rows = (Row("prod", "orders", "root@h1", service, RELEASE, RELEASE, ("replicas",)),
            Row("prod", "orders", "root@h2", None, None, None, ()))
    text = str(detail_text("orders", Environment("prod", engine="swarm"),
                           live_cell(rows, (RELEASE,)), NOW))
    assert "root@h1  ● healthy  replicas 2/3" in text
    assert "tasks on root@h2: #2 running (healthy), #3 failed -> shutdown: task: non-zero " \
        "exit" in text
    assert "root@h2  node of the Swarm" in text and "not deployed" not in text
    assert "drift   runs another replica count than endpoint.yaml" in text


# -- keys -----------------------------------------------------------------------------------------
async def test_the_detail_keys_are_in_help_and_palette_and_can_be_remapped(
        make_project: Any) -> None:
    from screens.app import binding_ids
    from screens.help import HelpScreen
    from screens.palette import commands_for
    from workbench import settings

    assert {"logs", "releases", "diff"} <= binding_ids()
    path = settings.settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("keys:\n  releases: H\n", encoding="utf-8")
    app = WorkbenchApp(make_project(), settings=settings.load(binding_ids()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {c.title for c in commands_for(app.screen)}
        assert {"Logs", "Releases", "Diff against the repo"} <= titles
        await pilot.press("3", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {k.binding_id: k.keys for k in app.screen.keys}
        assert (keys["logs"], keys["releases"], keys["diff"]) == (("l",), ("H",), ("D",))
        await pilot.press("escape", "h")
        assert isinstance(app.screen, MainScreen)  # h is free now
        await pilot.press("H")
        assert isinstance(app.screen, ReleasePicker)
        assert (app.screen.env, app.screen.endpoint) == ("local", "orders")
        await pilot.press("escape")
        await settle(pilot)


# -- the snapshot -------------------------------------------------------------------------------
def _rows(env: str, endpoint: str, *hosts: tuple[str, Instance | None, Release | None,
                                                  tuple[str, ...], str]) -> tuple[Row, ...]:
    return tuple(Row(env, endpoint, host, inst, rel, rel, drift, why)
                 for host, inst, rel, drift, why in hosts)


def _instance(endpoint: str, host: str, version: str, state: str = "running",
              health: str = "healthy") -> Instance:
    return Instance(endpoint, host, state=state, health=health, version=version,
                    started_at="2026-11-30T11:48:00Z", git_sha="1a2b3c4d5e")


def _release(endpoint: str, host: str, version: str, time: str = "11:47") -> Release:
    return Release(endpoint, version, host, "ok", user="ann", time=f"2026-11-30T{time}:00+00:00",
                   last_lines=("listening on :8000",))


class FixedLive:
    """A live provider that reports fixed cells once (no hosts, no clock)."""

    live = True

    def __call__(self, listing: Any) -> list[Any]:
        return []

    def watch(self, listing: Any, report: Callable[[list[Any]], None],
              stopped: threading.Event) -> None:
        from screens.matrix import live_updates

        p1, p2, st = "deploy@prod-1.invalid:22", "deploy@prod-2.invalid:22", \
            "deploy@staging.invalid:22"
        old = _release("orders", st, "3f2a9c0d1e", "10:02")
        report(live_updates([
            LiveUpdate("local", "orders", _rows("local", "orders", (
                "local", _instance("orders", "local", "7c1e0b9a22"),
                _release("orders", "local", "7c1e0b9a22"), (), "")),
                (_release("orders", "local", "7c1e0b9a22"),)),
            LiveUpdate("local", "billing", _rows("local", "billing", (
                "local", None, None, (), ""))),
            LiveUpdate("staging", "orders", _rows("staging", "orders", (
                st, _instance("orders", st, "5567d5d34e"), _release("orders", st, "5567d5d34e"),
                ("code",), "")), (_release("orders", st, "5567d5d34e"), old)),
            LiveUpdate("staging", "billing", _rows("staging", "billing", (
                st, _instance("billing", st, "0b7f3e5a91", state="exited"),
                _release("billing", st, "0b7f3e5a91"), ("missing",), ""))),
            LiveUpdate("production", "orders", _rows("production", "orders", *(
                (h, _instance("orders", h, "3f2a9c0d1e"), _release("orders", h, "3f2a9c0d1e"),
                 (), "") for h in (p1, p2)))),
            LiveUpdate("production", "billing", _rows("production", "billing", (
                p1, _instance("billing", p1, "0b7f3e5a91", health="starting"),
                _release("billing", p1, "0b7f3e5a91"), (), ""),
                (p2, None, None, (), "cannot reach deploy@prod-2.invalid:22"))),
            *(LiveUpdate("audit", name, _rows("audit", name, (
                "deploy@audit.invalid:22", None, None, (), "cannot reach it")))
              for name in ("orders", "billing")),
        ]))

    def last_lines(self, project: Any, env: str, endpoint: str, count: int) -> list[str]:
        return ["staging.invalid:22  GET /orders/health 200", "staging.invalid:22  order 41 paid"]


def test_main_screen_with_the_detail_panel(snap_compare: Callable[..., bool],
                                           snapshot_project: Path,
                                           monkeypatch: Any) -> None:
    """Every kind of cell, and the detail panel of orders x staging (fixed data and clock)."""
    from screens import detail, environments_pane, matrix

    for module in (matrix, environments_pane, detail):
        monkeypatch.setattr(module, "clock", lambda: NOW)

    async def highlight(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("3", "right")
        await settle(pilot)

    app = WorkbenchApp(snapshot_project, status=FixedLive())
    assert snap_compare(app, terminal_size=SIZE, run_before=highlight)


# -- the real sshd and engine -------------------------------------------------------------------
async def wait_for(pilot: Pilot[Any], predicate: Callable[[], object], what: str) -> None:
    """Pause until ``predicate`` holds (at most :data:`PAUSES` short pauses)."""
    for _ in range(PAUSES):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"{what}: not reached after {PAUSES} pauses")


def shown(app: WorkbenchApp, env: str) -> str:
    found = app.screen.query("#matrix")
    if not isinstance(app.screen, MainScreen) or not found:
        return ""  # not opened yet
    table = found.first(DataTable)
    return str(table.get_cell("orders", env)) if table.row_count else ""


def health(app: WorkbenchApp, env: str) -> str:
    found = app.screen.query(EnvironmentsPane)
    if not isinstance(app.screen, MainScreen) or not found:
        return ""
    cell = found.first().matrix.get("orders", env)
    return cell.summary.health if isinstance(cell, LiveCell) else ""


async def test_a_container_stopped_behind_the_apps_back_changes_its_cell(
        tmp_path: Path, isolated_env: Path, base_image: str, ssh_target: SSHTarget,
        docker_client: docker.DockerClient) -> None:
    ssh = isolated_env / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "config").write_text(f"Host {ssh_target.host}\n  IdentityFile {ssh_target.key}\n"
                                "  IdentitiesOnly yes\n")
    (ssh / "known_hosts").write_text(ssh_target.known_hosts.read_text())
    name = f"live{uuid.uuid4().hex[:8]}"
    root = build_project(tmp_path / "work", name, endpoints=("orders",), environments=None)
    path = root / PROJECT_FILE
    path.write_text(path.read_text(encoding="utf-8").replace(
        "\nbuild_args: {}\n", f"\nbuild_args: {{BASE_IMAGE: {base_image}}}\n"), encoding="utf-8")
    set_environments(root, f"environments:\n  local:\n    proxy_port: 8080\n  staging:\n"
                           f"    hosts: [{ssh_target.user}@{ssh_target.host}:{ssh_target.port}]\n"
                           f"    proxy_port: {free_port()}\n    proxy_bind: 127.0.0.1\n"
                           f"    proxy_image: {base_image}\n"
                           f"  gone:\n    hosts: [{ssh_target.user}@127.0.0.1:{free_port()}]\n")
    project = load_project(root)
    noop: Emit = lambda _event: None  # noqa: E731
    labels = {"label": [f"dev.workbench.project={name}", "dev.workbench.env=staging",
                        "dev.workbench.role=app"]}
    try:
        report = await deploy(project, "staging", ["orders"], noop,
                              DeployOptions(build_args={"BASE_IMAGE": base_image}), open_sites)
        assert report.ok, report.summary()
        app = WorkbenchApp(root, status=DeployStatus())
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: health(app, "staging") == "healthy", "healthy")
            assert shown(app, "staging").startswith("● ")
            await wait_for(pilot, lambda: shown(app, "gone") == "unreachable", "unreachable")
            assert shown(app, "local") == "not\ndeployed"

            [container] = docker_client.containers.list(filters=labels)
            container.stop(timeout=1)  # behind the app's back: no key is pressed
            await wait_for(pilot, lambda: health(app, "staging") == "down", "down")
            assert shown(app, "staging").startswith("○ ")
            pane = app.screen.query_one(EnvironmentsPane)
            assert "missing" in pane.matrix.get("orders", "staging").summary.drift  # type: ignore[attr-defined]
            container.start()
            await wait_for(pilot, lambda: health(app, "staging") == "healthy", "healthy again")

            # the detail panel of orders x staging, its last lines read through the logs op
            await pilot.press("3", "right")
            assert pane.selected_environment is not None
            assert pane.selected_environment.name == "staging"
            detail = pane.query_one(DetailPanel)
            await wait_for(pilot, lambda: ("orders", "staging") in pane.last_lines, "lines")
            text = str(detail.render())
            assert f"{ssh_target.user}@{ssh_target.host}:{ssh_target.port}  ● healthy" in text
            assert "restarts 0" in text and "deploy   ok" in text
            assert "drift   none" in text
            assert pane.last_lines[("orders", "staging")], text

            # l follows its logs, every host merged; esc closes the stream
            await pilot.press("l")
            logs = app.screen
            assert isinstance(logs, EndpointLogs)
            await wait_for(pilot, lambda: logs.log_view.line_count > 0, "log lines")
            assert logs.log_view.sources == (f"orders@{ssh_target.host}:{ssh_target.port}",)
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)
            await wait_for(pilot, lambda: logs.ended is not None, "the log stream closed")

            # h shows its releases (the rollback picker of that environment)
            await pilot.press("h")
            assert isinstance(app.screen, ReleasePicker)
            assert (app.screen.env, app.screen.endpoint) == ("staging", "orders")
            await pilot.press("escape")

            # D shows staging against the repo on the compare screen
            await pilot.press("D")
            assert isinstance(app.screen, CompareScreen)
            assert (app.screen.env_a, app.screen.env_b) == ("staging", REPO)
            await pilot.press("escape")
        await _no_thread_left(pilot)
    finally:
        clean(docker_client, name, Path("/var/lib/workbench"))


async def _no_thread_left(pilot: Pilot[Any]) -> None:
    """The watcher's event readers end once the app has closed (a bounded count of looks)."""
    import asyncio

    for _ in range(PAUSES):
        if not [t for t in threading.enumerate() if t.name == "workbench-events"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("an event reader thread was left behind")
