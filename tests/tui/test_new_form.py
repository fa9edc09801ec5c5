"""The new form: real git repos, inline errors, progress of a push."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import SIZE, MakeProject, settle
from textual.widgets import DataTable, Input, Static

from screens.app import WorkbenchApp
from screens.common import ProgressLines
from screens.main import MainScreen
from screens.new_child import NewChildForm
from workbench.model import load_project


def problem_text(app: WorkbenchApp) -> str:
    return str(app.screen.query_one("#problem", Static).render())


def git_log(path: Path) -> str:
    return subprocess.run(["git", "-C", str(path), "log", "--oneline"], capture_output=True,
                          text=True, check=True).stdout


async def test_new_endpoint_creates_a_real_repo(make_project: MakeProject) -> None:
    root = make_project()
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, NewChildForm)
        assert isinstance(app.focused, Input)
        await pilot.press(*"billing", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        table = app.screen.query_one("#endpoint-table", DataTable)
        assert [str(c) for c in table.get_row("billing")][:3] == ["endpoint", "billing", "python"]
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "billing"
        assert app.focused is table
        assert "billing" in app.screen.query_one("#matrix", DataTable).rows
        assert any("Created endpoint billing" in n.message for n in app._notifications)
    assert "Create endpoint billing" in git_log(root / "endpoints" / "billing")
    assert [e.name for e in load_project(root).endpoints] == ["orders", "billing"]
    assert "Add endpoint billing" in git_log(root)


async def test_new_static_endpoint_and_a_model(make_project: MakeProject) -> None:
    root = make_project()
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NewChildForm)
        await pilot.press(*"site")
        await pilot.press("tab", "right", "enter")  # the template radio set: static
        assert form.template == "static"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("n", "shift+tab", "right", "enter")  # the kind radio set: model
        form = app.screen
        assert isinstance(form, NewChildForm) and form.kind == "model"
        assert not form.query_one("#template").display
        await pilot.press("tab", *"customer", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    project = load_project(root)
    assert [(e.name, e.template) for e in project.endpoints] == [("orders", "python"),
                                                                 ("site", "static")]
    assert [m.name for m in project.models] == ["customer"]
    assert git_log(root / "models" / "customer")


@pytest.mark.parametrize(("typed", "expected"), [
    ("Bad_Name", "bad endpoint name: 'Bad_Name' contains 'B' 'N' '_'; use only a-z, 0-9 and '-'; "
              "try 'bad-name'"),
    ("", "give the endpoint a name such as 'orders'"),
    ("orders", "the name 'orders' is already used by another child in 'shop'"),
    ("proxy", "'proxy' is reserved by workbench"),
])
async def test_errors_show_inline_and_the_app_keeps_running(
        make_project: MakeProject, typed: str, expected: str) -> None:
    root = make_project()
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", *typed, "enter")
        await settle(pilot)
        assert isinstance(app.screen, NewChildForm)
        assert expected in problem_text(app)
        assert not app.screen.busy
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert app.is_running
    assert [e.name for e in load_project(root).endpoints] == ["orders"]


async def test_name_is_checked_as_you_type(make_project: MakeProject) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", *"9lives")
        assert "must start with a letter" in problem_text(app)
        await pilot.press("home", "delete")
        assert problem_text(app) == ""


async def test_a_push_shows_its_progress(make_project: MakeProject, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    remote = f"file://{tmp_path}/git/{{group}}/{{name}}.git"
    root = make_project(remote=remote)
    shown: list[str] = []
    original = ProgressLines.add

    def record(self: ProgressLines, event: object) -> None:
        original(self, event)  # type: ignore[arg-type]
        shown.append(str(self.render()))

    monkeypatch.setattr(ProgressLines, "add", record)
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", *"billing", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any(f"pushed to file://{tmp_path}/git/shop/billing.git" in n.message
                   for n in app._notifications)
    assert any(f"... Push to file://{tmp_path}/git/shop/billing.git" in s for s in shown), shown
    assert any("ok  Push to" in s for s in shown), shown
    assert (tmp_path / "git" / "shop" / "billing.git" / "HEAD").is_file()


async def test_a_failed_push_is_shown_inline(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project(remote=f"file://{tmp_path}/git/{{group}}/{{name}}.git")
    (tmp_path / "git" / "shop" / "billing.git").write_text("a file where a repo should be")
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", *"billing", "enter")
        await settle(pilot)
        assert isinstance(app.screen, NewChildForm)
        assert "cannot create the bare repo" in problem_text(app)
        progress = str(app.screen.query_one(ProgressLines).render())
        assert "FAIL" in progress
        assert app.is_running
    assert not (root / "endpoints" / "billing").exists()


async def test_a_warning_outlives_the_form(make_project: MakeProject, tmp_path: Path) -> None:
    import shutil

    root = make_project(remote=f"file://{tmp_path}/git/{{group}}/{{name}}.git")
    shutil.rmtree(tmp_path / "git" / "shop" / "shop.git")  # the project's own remote is gone
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", *"billing", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert len(warnings) == 1
        assert warnings[0].startswith("endpoint billing was created, but the project commit "
                                      "was not pushed")
    assert (root / "endpoints" / "billing").is_dir()
