"""The main screen: panes, keyboard navigation, filter, projects, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import SIZE, MakeProject, settle
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, OptionList

from screens.app import WorkbenchApp
from screens.main import MainScreen, discover
from screens.panes import EndpointsPane, EnvironmentsPane, ProjectsPane
from workbench import registry
from workbench.model import PROJECT_FILE


def table_names(app: WorkbenchApp, selector: str = "#endpoint-table") -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    return [str(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)
            for row in range(table.row_count)]


async def test_opens_three_panes_with_git_state(make_project: MakeProject) -> None:
    root = make_project(models=("customer",))
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert table_names(app) == ["orders", "customer"]
        table = screen.query_one("#endpoint-table", DataTable)
        assert [str(c) for c in table.get_row("orders")][:3] == ["endpoint", "orders", "python"]
        assert str(table.get_row("orders")[3]) == "main clean"
        matrix = screen.query_one("#matrix", DataTable)
        assert [str(k.value) for k in matrix.columns] == ["local", "staging", "production",
                                                          "audit"]
        assert [str(c) for c in matrix.get_row("orders")] == ["-"] * 4
        labels = [str(column.label) for column in matrix.columns.values()]
        assert "protected" in labels[2] and "readonly" in labels[3]
        assert "swarm\n2 hosts" in labels[2]
        options = screen.query_one("#project-list", OptionList)
        assert "shop" in str(options.get_option_at_index(0).prompt)


async def test_numbers_and_tab_move_between_panes(make_project: MakeProject) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1")
        assert app.focused is app.screen.query_one("#project-list")
        await pilot.press("3")
        assert app.focused is app.screen.query_one("#matrix")
        await pilot.press("2")
        assert app.focused is app.screen.query_one("#endpoint-table")
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#matrix")
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#project-list")
        await pilot.press("shift+tab")
        assert app.focused is app.screen.query_one("#matrix")


async def test_filter_narrows_the_focused_list(make_project: MakeProject) -> None:
    app = WorkbenchApp(make_project(endpoints=("orders", "billing", "order-history")))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"order")
        assert table_names(app) == ["orders", "order-history"]
        await pilot.press("enter")
        assert app.focused is app.screen.query_one("#endpoint-table")
        assert "/order" in str(app.screen.query_one(EndpointsPane).border_title)
        assert table_names(app) == ["orders", "order-history"]
        await pilot.press("escape")
        assert table_names(app) == ["orders", "billing", "order-history"]
        # the matrix filters its rows the same way; esc in the filter clears it
        await pilot.press("3", "slash", *"bill")
        assert table_names(app, "#matrix") == ["billing"]
        await pilot.press("escape")
        assert table_names(app, "#matrix") == ["orders", "billing", "order-history"]
        assert app.focused is app.screen.query_one("#matrix")
        assert not app.screen.query_one("#filter", Input).display


async def test_choosing_a_project_switches_the_panes(make_project: MakeProject,
                                                     tmp_path: Path) -> None:
    shop = make_project("shop")
    make_project("bank", endpoints=("ledger",))
    app = WorkbenchApp(shop)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert table_names(app) == ["orders"]
        options = app.screen.query_one("#project-list", OptionList)
        assert options.option_count == 2
        await pilot.press("1", "down", "enter")
        await settle(pilot)
        assert table_names(app) == ["ledger"]
        assert str(app.screen.sub_title).endswith("bank")


async def test_a_moved_project_shows_as_missing(make_project: MakeProject) -> None:
    shop = make_project("shop")
    gone = make_project("gone")
    shutil.rmtree(gone)
    assert [e.exists for e in registry.load()] == [True, False]
    app = WorkbenchApp(shop)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        options = app.screen.query_one("#project-list", OptionList)
        assert "missing" in str(options.get_option_at_index(1).prompt)
        await pilot.press("1", "down", "enter")
        await settle(pilot)
        assert app.is_running
        assert table_names(app) == ["orders"]
        assert any("missing" in n.message for n in app._notifications)


async def test_registry_projects_open_outside_a_project(make_project: MakeProject,
                                                        tmp_path: Path) -> None:
    make_project("shop")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    app = WorkbenchApp(elsewhere)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert table_names(app) == ["orders"]


async def test_a_broken_project_file_is_a_notification_not_a_crash(
        make_project: MakeProject) -> None:
    root = make_project()
    (root / PROJECT_FILE).write_text("project: shop\nendpointz: []\n", encoding="utf-8")
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.is_running
        messages = [n.message for n in app._notifications]
        assert any("unknown key 'endpointz'" in m and "did you mean 'endpoints'?" in m
                   for m in messages), messages
        note = app.screen.query_one(EndpointsPane).query_one(".note")
        assert "workbench.yaml:2" in str(note.render())
        # refresh after fixing the file shows the project again
        (root / PROJECT_FILE).write_text("project: shop\nendpoints: [orders]\n",
                                         encoding="utf-8")
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert table_names(app) == ["orders"]


async def test_environment_detail_follows_the_cursor(make_project: MakeProject) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3", "right", "right")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        env = screen.selected_environment
        assert env is not None and env.name == "production"
        detail = str(screen.query_one("#env-detail").render())
        assert "deploy@prod-1.invalid:22, deploy@prod-2.invalid:22" in detail
        assert "protected" in detail
        assert screen.query_one(ProjectsPane).current == screen.current
        assert screen.query_one(EnvironmentsPane).selected_environment == env


async def test_a_project_read_before_the_start_fills_the_first_frame(
        make_project: MakeProject) -> None:
    root = make_project(endpoints=("orders", "billing"))
    found = discover(root, read_first=True)
    assert found.project is not None and found.project.root == root
    app = WorkbenchApp(root, discovery=found)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert table_names(app) == ["orders", "billing"]  # before any worker reported
        await settle(pilot)
        table = app.screen.query_one("#endpoint-table", DataTable)
        assert str(table.get_row("billing")[3]) == "main clean"
        assert app.focused is table


async def test_a_project_that_cannot_be_read_first_shows_its_error(
        make_project: MakeProject) -> None:
    root = make_project()
    (root / PROJECT_FILE).write_text("project: shop\nendpoints: [ghost]\n", encoding="utf-8")
    found = discover(root, read_first=True)
    assert found.project is None and found.root == root
    app = WorkbenchApp(root, discovery=found)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        note = app.screen.query_one(EndpointsPane).query_one(".note")
        assert "endpoint 'ghost' has no endpoint.yaml" in str(note.render())
