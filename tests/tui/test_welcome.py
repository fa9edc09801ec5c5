"""Outside a project with an empty registry: create a project, or open the demo."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import SIZE, settle
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from screens.app import WorkbenchApp
from screens.main import MainScreen
from screens.welcome import WelcomeScreen
from workbench import registry
from workbench.model import load_project
from workbench.ops.demo import demo_root, ensure_demo
from workbench.paths import data_dir


def rows(app: WorkbenchApp) -> list[str]:
    table = app.screen.query_one("#endpoint-table", DataTable)
    return [str(table.coordinate_to_cell_key(Coordinate(r, 0)).row_key.value)
            for r in range(table.row_count)]


async def test_welcome_creates_a_project(tmp_path: Path) -> None:
    app = WorkbenchApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press(*"Shop", "enter")
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        assert "try 'shop'" in str(app.screen.query_one("#problem", Static).render())
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"shop", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.current == tmp_path / "shop"
        assert rows(app) == []
        await pilot.press("n", *"orders", "enter")
        await settle(pilot)
        assert rows(app) == ["orders"]
    assert [e.name for e in registry.load()] == ["shop"]
    assert load_project(tmp_path / "shop").endpoints[0].name == "orders"


async def test_welcome_opens_the_demo(tmp_path: Path) -> None:
    app = WorkbenchApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.current == data_dir() / "demo" / "demo"
        assert rows(app) == ["orders", "storefront", "customer", "textutil"]
        matrix = app.screen.query_one("#matrix", DataTable)
        assert [str(k.value) for k in matrix.columns] == ["local", "staging", "production"]


def test_ensure_demo_is_idempotent_and_has_no_remote() -> None:
    root = ensure_demo()
    assert root == demo_root() == data_dir() / "demo" / "demo"
    project = load_project(root)
    assert [(e.name, e.template) for e in project.endpoints] == [("orders", "python"),
                                                                 ("storefront", "static")]
    assert [m.name for m in project.models] == ["customer"]
    assert [u.name for u in project.utilities] == ["textutil"]
    assert project.git.remote is None
    assert [e.name for e in project.environments if e.protected] == ["production"]
    for child in project.children:
        assert subprocess.run(["git", "-C", str(child.path), "remote"], capture_output=True,
                              text=True, check=True).stdout == ""
    head = (root / ".git" / "HEAD").read_text()
    log = subprocess.run(["git", "-C", str(root), "log", "--oneline"], capture_output=True,
                         text=True, check=True).stdout
    assert ensure_demo() == root
    assert (root / ".git" / "HEAD").read_text() == head
    assert subprocess.run(["git", "-C", str(root), "log", "--oneline"], capture_output=True,
                          text=True, check=True).stdout == log
    assert [e.path for e in registry.load()] == [root]


def test_ensure_demo_completes_a_partial_demo() -> None:
    from workbench.ops.new import new_project

    demo_root().parent.mkdir(parents=True)
    new_project(demo_root().parent, "demo")
    root = ensure_demo()
    assert len(load_project(root).children) == 4


async def test_the_palette_opens_the_demo_from_the_main_screen(tmp_path: Path) -> None:
    from conftest import build_project

    build_project(tmp_path / "work")
    app = WorkbenchApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await app.run_action("open_demo", app.screen)
        await settle(pilot)
        assert app.screen.current == demo_root()
        assert rows(app) == ["orders", "storefront", "customer", "textutil"]
        assert [item.name for item in app.screen.discovery.items] == ["shop", "demo"]
