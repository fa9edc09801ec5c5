"""The compare screen (`c`): two environments, or one against the repo, side by side.

Most tests replace the core's ``diff_envs`` / ``repo_drift`` with functions that return a
comparison built from plain data (no Docker). The integration test at the end deploys one
project to staging (the first CI host) and prod (the second), differing in one variable, and
compares them from the keyboard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import git
import pytest
from conftest import SIZE, MakeProject, settle
from helpers import SSHTarget, clean, free_port
from hosts import SecondHost, SwarmCluster, trust_ci_hosts
from staging import Staged
from swarm_staging import converged, put_services, remove_swarm, swarm_env
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static

from screens.app import WorkbenchApp
from screens.compare_rows import REPO, Row, from_drift
from screens.compare_rows import rows as rows_of
from screens.compare_view import ComparePicker, CompareScreen
from screens.help import HelpScreen
from screens.palette import commands_for
from workbench import sites
from workbench.compare import Comparison, Counts, EndpointDiff, KeyDiff, Side, to_json
from workbench.drift import Deployed, Drift, EndpointDrift, RepoEndpoint, drift_json
from workbench.gitlog import GitLog
from workbench.model import Project
from workbench.ops import diff as diff_ops
from workbench.ops import drift as drift_ops
from workbench.releasediff import Change, ConfigDiff

SnapCompare = Callable[..., bool]
LEAK = "hunter2-do-not-show"
"""A secret value handed to the screen as if the core had leaked it: never on screen."""


def comparison() -> Comparison:
    """staging against production: one production host unreachable, billing only in A."""
    orders = EndpointDiff("orders", "both", (
        KeyDiff("release", "version", "differs", "v1", "v2"),
        KeyDiff("env", "DEBUG", "only in A", "1", None),
        KeyDiff("env", "LOG_LEVEL", "same", "info", "info"),
        KeyDiff("env", "TOKEN", "differs", "(secret)", "(secret)", secret=True),
        KeyDiff("env", "API_KEY", "same", LEAK, LEAK, secret=True),
        KeyDiff("network", "routes", "same", "/orders", "/orders"),
        KeyDiff("health", "state", "differs", "running, healthy", "running, unhealthy"),
    ))
    billing = EndpointDiff("billing", "only in A", (
        KeyDiff("release", "version", "only in A", "v7", None),))
    return Comparison(
        Side("staging", "docker", ("deploy@staging.invalid",), {}, {"container-id": 2}),
        Side("production", "docker", ("deploy@prod-1.invalid", "deploy@prod-2.invalid"),
             {"deploy@prod-2.invalid": "connection refused"}, {"container-id": 1}),
        (billing, orders), (), Counts(same=4, differs=3, only_a=1, endpoints=1,
                                      endpoints_only_a=1))


class FakeDiff:
    def __init__(self, result: Comparison) -> None:
        self.result = result
        self.calls: list[tuple[str, str, tuple[str, ...], Any]] = []

    async def __call__(self, project: Project, env_a: str, env_b: str,
                       endpoints: Sequence[str], opener: Any) -> Comparison:
        self.calls.append((env_a, env_b, tuple(endpoints), opener))
        return self.result


@pytest.fixture
def fake_diff(monkeypatch: pytest.MonkeyPatch) -> FakeDiff:
    fake = FakeDiff(comparison())
    monkeypatch.setattr(diff_ops, "diff_envs", fake)
    return fake


async def choose(pilot: Pilot[Any], choice: str) -> None:
    """In the compare picker, move to ``choice`` and press enter."""
    picker = pilot.app.screen
    assert isinstance(picker, ComparePicker), picker
    options = picker.query_one(OptionList)
    for _ in range(options.option_count + 1):
        option = options.highlighted_option
        if option is not None and option.id == choice:
            break
        await pilot.press("down")
    else:
        raise AssertionError(f"{choice} is not offered")
    await pilot.press("enter")
    await pilot.pause()


async def open_compare(pilot: Pilot[Any], env_a: str, env_b: str) -> CompareScreen:
    await settle(pilot)
    await pilot.press("c")
    await choose(pilot, env_a)
    await choose(pilot, env_b)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CompareScreen), screen
    return screen


def table(screen: CompareScreen) -> DataTable[Any]:
    return screen.query_one("#diff", DataTable)


def cells(screen: CompareScreen) -> list[list[str]]:
    grid = table(screen)
    return [[str(cell) for cell in grid.get_row_at(i)] for i in range(grid.row_count)]


def keys(screen: CompareScreen) -> list[tuple[str, str]]:
    """(endpoint, key) of every row shown; a heading's key is ''."""
    return [(row.endpoint, row.key) for row in screen.shown]


def text_of(screen: CompareScreen, widget: str) -> str:
    return str(screen.query_one(widget, Static).content)


async def test_c_shows_two_environments_side_by_side(make_project: MakeProject,
                                                     fake_diff: FakeDiff) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, "staging", "production")
        assert [call[:3] for call in fake_diff.calls] == [("staging", "production", ())]
        assert fake_diff.calls[0][3] is sites.open_reachable  # one host down hides nothing
        # differences only, grouped by endpoint; billing is on one side only
        assert keys(screen) == [("billing", ""), ("orders", ""), ("orders", "version"),
                                ("orders", "DEBUG"), ("orders", "TOKEN"), ("orders", "state")]
        rows = cells(screen)
        assert rows[0][1] == "billing" and rows[0][3] == "only in A (staging)"
        assert rows[2] == ["~", "release", "version", "v1", "v2"]
        assert rows[3] == ["-", "env", "DEBUG", "1", "(none)"]
        # both environments and their hosts are named, the unreachable one with its reason
        columns = [str(c.label) for c in table(screen).columns.values()]
        assert columns[3] == "A staging (deploy@staging.invalid)"
        assert columns[4].startswith("B production (deploy@prod-1.invalid; 1 unrea")
        sides = text_of(screen, "#sides")
        assert "A staging: deploy@staging.invalid" in sides
        assert "B production: deploy@prod-1.invalid, deploy@prod-2.invalid" in sides
        assert "B deploy@prod-2.invalid unreachable: connection refused" in sides
        assert "partial: unreachable hosts not compared" in text_of(screen, "#summary")
        # the last line counts what normalization ignored
        assert text_of(screen, "#ignored") == "ignored by normalization: 3 container ids"
        # a wider terminal gives the values the room
        await pilot.resize_terminal(160, 40)
        await settle(pilot)
        columns = [str(c.label) for c in table(screen).columns.values()]
        assert columns[4] == "B production (deploy@prod-1.invalid; 1 unreachable)"


async def test_secrets_show_only_same_or_differs(make_project: MakeProject,
                                                 fake_diff: FakeDiff) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, "staging", "production")
        await pilot.press("a")
        rows = {row[2]: row for row in cells(screen)}
        assert rows["TOKEN"][3:] == ["secret, differs", "secret, differs"]
        assert rows["API_KEY"][3:] == ["secret, same", "secret, same"]
        assert all(LEAK not in cell for row in cells(screen) for cell in row)
        assert LEAK not in app.export_screenshot()
        # the core's own JSON holds placeholders only
        assert screen.data is not None
        token = next(k for e in screen.data["endpoints"] for k in e["keys"]
                     if k["key"] == "TOKEN")
        assert (token["a"], token["b"]) == ("(secret)", "(secret)")


async def test_a_toggles_every_key_and_n_p_jump_between_differences(
        make_project: MakeProject, fake_diff: FakeDiff) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, "staging", "production")
        await pilot.press("a")
        assert keys(screen) == [
            ("billing", ""), ("billing", "version"), ("orders", ""), ("orders", "version"),
            ("orders", "DEBUG"), ("orders", "LOG_LEVEL"), ("orders", "TOKEN"),
            ("orders", "API_KEY"), ("orders", "routes"), ("orders", "state")]
        assert "showing every key" in text_of(screen, "#summary")

        def at() -> Row | None:
            return screen.current_row

        assert table(screen).cursor_row == 0
        jumps = []
        for key in ("n", "n", "n", "n", "n"):
            await pilot.press(key)
            row = at()
            assert row is not None
            jumps.append((row.endpoint, row.key))
        # the same keys (LOG_LEVEL, API_KEY, routes) are skipped
        assert jumps == [("billing", "version"), ("orders", "version"), ("orders", "DEBUG"),
                         ("orders", "TOKEN"), ("orders", "state")]
        await pilot.press("n")  # no further difference: the cursor stays
        assert at() == Row("orders", "", "health", "state", "differs", False,
                           "running, healthy", "running, unhealthy")
        await pilot.press("p")
        assert (at() or Row("")).key == "TOKEN"
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert (at() or Row("")).key == "version"
        await pilot.press("right_square_bracket")
        assert (at() or Row("")).key == "DEBUG"
        # back to differences only: the cursor stays on its key
        await pilot.press("a")
        assert ("orders", "LOG_LEVEL") not in keys(screen)
        assert (at() or Row("")).key == "DEBUG"


async def test_slash_filters_by_endpoint_category_or_key(make_project: MakeProject,
                                                         fake_diff: FakeDiff) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, "staging", "production")
        await pilot.press("slash", *"tok")
        assert isinstance(app.focused, Input)
        assert keys(screen) == [("orders", ""), ("orders", "TOKEN")]
        await pilot.press("enter")  # keeps the filter; the keys are bindings again
        assert isinstance(app.focused, DataTable)
        assert "filter: tok" in text_of(screen, "#summary")
        await pilot.press("slash", "ctrl+u", *"health")  # a category
        assert keys(screen) == [("orders", ""), ("orders", "state")]
        await pilot.press("ctrl+u", *"BILL")  # an endpoint, any case
        assert keys(screen) == [("billing", "")]
        await pilot.press("ctrl+u", *"nothing-like-it")
        assert keys(screen) == []
        assert "nothing matches the filter" in text_of(screen, "#summary")
        await pilot.press("escape")  # clears the filter
        assert len(keys(screen)) == 6 and isinstance(app.screen, CompareScreen)
        await pilot.press("escape")  # then goes back
        assert not isinstance(app.screen, CompareScreen)


async def test_a_failure_is_one_line(make_project: MakeProject,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.errors import BadInput

    async def fails(*_args: Any) -> Comparison:
        raise BadInput("environment 'gone' is not in the project", "pick another")

    monkeypatch.setattr(diff_ops, "diff_envs", fails)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, "local", "staging")
        assert text_of(screen, "#sides").startswith(
            "cannot compare: environment 'gone' is not in the project")
        assert screen.shown == [] and table(screen).row_count == 0


async def test_against_the_repo_shows_the_drift_in_the_same_layout(
        make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, Any]] = []

    async def repo_drift(project: Project, env: str, opener: Any) -> Drift:
        asked.append((env, opener))
        config = ConfigDiff(variables=(Change("LOG_LEVEL", "info", "debug"),),
                            secret_names=(Change("TOKEN", None, "TOKEN"),), secrets="differs")
        orders = EndpointDrift(
            "orders", ("deploy@staging.invalid",), ("commits", "config"),
            Deployed("v1", "abc1234", config_hash="h1", state="running"),
            RepoEndpoint("orders", "v2", "def5678"),
            GitLog(("def5678 health answers with a version",), (), 1, 0), config)
        extra = EndpointDrift("extra", (), ("never-deployed",), None,
                              RepoEndpoint("extra", "v9", "0a0a0a0"))
        return Drift("staging", ("deploy@staging.invalid",), (extra, orders))

    monkeypatch.setattr(drift_ops, "repo_drift", repo_drift)
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, "staging", REPO)
        assert asked == [("staging", sites.open_reachable)]
        assert keys(screen) == [("extra", ""), ("orders", ""), ("orders", "version"),
                                ("orders", "git sha"), ("orders", "commit def5678"),
                                ("orders", "LOG_LEVEL"), ("orders", "TOKEN"),
                                ("orders", "secrets")]
        rows = {row[2]: row for row in cells(screen)}
        assert rows["version"][3:] == ["v1", "v2"]
        assert rows["commit def5678"][0] == "+"
        assert rows["commit def5678"][3:] == ["(none)", "health answers with a version"]
        assert rows["LOG_LEVEL"][3:] == ["info", "debug"]
        assert rows["TOKEN"][3:] == ["(none)", "secret, differs"]
        assert rows["secrets"][3:] == ["secret, differs", "secret, differs"]
        assert cells(screen)[0][3] == "only in B (repo)"
        assert cells(screen)[1][3] == "commits, config"
        columns = [str(c.label) for c in table(screen).columns.values()]
        assert columns[3] == "A staging (deploy@staging.invalid)"
        assert columns[4].startswith("B repo (")


async def test_compare_keys_are_in_help_palette_and_remappable(make_project: MakeProject,
                                                               fake_diff: FakeDiff) -> None:
    from screens.app import binding_ids
    from workbench import settings

    path = settings.settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("keys:\n  compare: ctrl+o\n  compare.next: j\n", encoding="utf-8")
    loaded = settings.load(binding_ids())
    assert {"compare", "compare.all", "compare.next", "compare.previous"} <= binding_ids()
    app = WorkbenchApp(make_project(), settings=loaded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Compare" in [c.title for c in commands_for(app.screen)]
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        found = {k.binding_id: k.keys for k in app.screen.keys}
        assert found["compare"] == ("^o",)
        await pilot.press("escape", "c")
        assert not isinstance(app.screen, ComparePicker)  # c was remapped
        await pilot.press("ctrl+o")
        await choose(pilot, "staging")
        await choose(pilot, "production")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        titles = [c.title for c in commands_for(screen)]
        assert {"Filter", "All keys", "Next diff", "Prev diff", "Back"} <= set(titles)
        await pilot.press("j")
        assert screen.current_row is not None and screen.current_row.key == "version"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        found = {k.binding_id: k.keys for k in app.screen.keys}
        assert found["compare.next"] == ("j",)
        assert found["compare.all"] == ("a",) and "compare.previous" in found


def test_drift_rows_name_host_groups_and_never_show_secret_values() -> None:
    old = EndpointDrift("orders", ("h1",), ("commits",), Deployed("v1", "a1"),
                        RepoEndpoint("orders", "v2", "b2"), GitLog(("b2 x",), (), 3, 0))
    new = EndpointDrift("orders", ("h2",), (), Deployed("v2", "b2"),
                        RepoEndpoint("orders", "v2", "b2"), GitLog())
    data = from_drift(drift_json(Drift("prod", ("h1", "h2"), (old, new))), "/src/shop")
    shown = rows_of(data, all_keys=False)
    assert [(r.endpoint, r.key, r.heading) for r in shown] == [
        ("orders on h1", "", "commits"), ("orders on h1", "version", ""),
        ("orders on h1", "git sha", ""), ("orders on h1", "commit b2", ""),
        ("orders on h1", "commits", "")]
    assert shown[-1].a == "2 more not listed" and not shown[-1].differs
    assert [r.endpoint for r in rows_of(data, all_keys=True) if not r.is_key] == [
        "orders on h1", "orders on h2"]
    # a value with a line break stays on one line; a secret row never shows its value
    tricky = to_json(Comparison(
        Side("a", "docker", ("h",), {}, {}), Side("b", "docker", ("h",), {}, {}),
        (EndpointDiff("x", "both", (KeyDiff("env", "V", "differs", "1\n2", "3"),
                                    KeyDiff("env", "S", "differs", LEAK, "z", True))),)),
        all_keys=True)
    values = [(r.shown("a"), r.shown("b")) for r in rows_of(tricky, False) if r.is_key]
    assert values == [("1\\n2", "3"), ("secret, differs", "secret, differs")]


def test_snapshot(snap_compare: SnapCompare, snapshot_project: Path,
                  fake_diff: FakeDiff) -> None:
    async def compare(pilot: Pilot[Any]) -> None:
        await open_compare(pilot, "staging", "production")
        await pilot.press("a", "n", "n")

    app = WorkbenchApp(snapshot_project)
    assert snap_compare(app, terminal_size=SIZE, run_before=compare)


# -- real deployments ------------------------------------------------------------------------
@pytest.mark.integration
async def test_c_compares_real_staging_and_prod(staged: Staged, base_image: str,
                                               ssh_target: SSHTarget,
                                               second_host: SecondHost) -> None:
    project = staged  # staging on the first CI host, removed after the test
    project.edit("workbench.yaml", "  staging:\n",
                 "  staging:\n    variables: {MODE: fast}\n")
    with (project.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  prod:\n    hosts: [{{host: '{second_host.spec}', docker_socket: "
                     f"{second_host.docker_socket}}}]\n    proxy_port: {free_port()}\n"
                     f"    proxy_bind: 127.0.0.1\n    proxy_image: {base_image}\n"
                     "    variables: {MODE: slow}\n")
    try:
        for env in ("staging", "prod"):
            done = project.workbench("deploy", "--env", env)
            assert done.returncode == 0, done.stdout + done.stderr
        app = WorkbenchApp(project.root)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_compare(pilot, "staging", "prod")
            assert screen.error is None and screen.data is not None
            found = {(row.endpoint, row.category, row.key, row.status, row.a, row.b)
                     for row in screen.shown if row.is_key}
            assert ("orders", "env", "MODE", "differs", "fast", "slow") in found
            assert ("site", "env", "MODE", "differs", "fast", "slow") in found
            assert {row[2] for row in found} == {"MODE"}, found  # nothing else differs
            mode = next(r for r in cells(screen) if r[2] == "MODE")
            assert mode[3:] == ["fast", "slow"]
            columns = [str(c.label) for c in table(screen).columns.values()]
            assert columns[3] == f"A staging ({ssh_target.spec})"
            assert columns[4] == f"B prod ({second_host.spec})"
            assert text_of(screen, "#ignored").startswith("ignored by normalization: ")
            assert "container id" in text_of(screen, "#ignored")
            # staging against the repo: what runs is what the repo would deploy
            await pilot.press("escape")
            screen = await open_compare(pilot, "staging", REPO)
            assert screen.error is None and screen.data is not None
            await pilot.press("a")
            versions = {row.endpoint: (row.status, row.a) for row in screen.shown
                        if row.key == "version"}
            assert set(versions) == {"orders", "site"}, screen.shown
            assert all(status == "same" and a for status, a in versions.values()), versions
    finally:
        clean(second_host.client, project.name, second_host.state)


def commit(repo: Path, message: str) -> None:
    git.Repo(repo).git.execute(["git", "-c", "user.name=Test", "-c",
                                "user.email=test@example.com", "commit", "-qam", message])


@pytest.mark.integration
async def test_c_compares_a_swarm_environment_with_a_single_host_one(
        staged: Staged, base_image: str, ssh_target: SSHTarget,
        swarm_cluster: SwarmCluster, isolated_env: Path) -> None:
    """staging deployed on the first CI host; prod on the CI Swarm (its services put there as
    a deploy leaves them: tests/swarm_staging.py) with site at two replicas: `c` shows the
    replica and placement differences, and nothing that is the same on both."""
    project = staged
    trust_ci_hosts(isolated_env, ssh_target)
    with (project.root / "workbench.yaml").open("a") as handle:
        handle.write(swarm_env("prod", swarm_cluster.manager, swarm_cluster.worker,
                               free_port(), base_image))
    try:
        site = project.root / "endpoints" / "site"
        with (site / ".dockerignore").open("a") as handle:  # a replicas edit: no new version
            handle.write("endpoint.yaml\n")
        commit(site, "endpoint.yaml out of the build context")
        done = project.workbench("deploy", "--env", "staging")
        assert done.returncode == 0, done.stdout + done.stderr
        project.edit("endpoints/site/endpoint.yaml", "data: false", "data: false\nreplicas: 2")
        commit(site, "two replicas")
        wanted = await put_services(project.root, "prod", base_image)
        await asyncio.to_thread(converged, swarm_cluster.manager.client, wanted)
        app = WorkbenchApp(project.root)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_compare(pilot, "staging", "prod")
            assert screen.error is None and screen.data is not None
            found = {(row.endpoint, row.key): (row.status, row.a, row.b)
                     for row in screen.shown if row.is_key}
            assert found[("site", "replicas")] == ("differs", "1", "2"), found
            assert found[("orders", "placement")][0] == "only in B", found
            for name in ("orders", "site"):  # the same build and variables: not shown
                assert (name, "version") not in found and (name, "LOG_LEVEL") not in found
            columns = [str(c.label) for c in table(screen).columns.values()]
            assert columns[4].startswith(f"B prod ({swarm_cluster.manager.spec}, ")
    finally:
        await asyncio.to_thread(remove_swarm, swarm_cluster, project.name)
