"""The TUI of a team: ahead/behind and "update available" in the endpoints pane, ``u`` shows
the diff of a template update then applies it, ``s`` syncs every repo with a row each; all of
it in the help and the palette, and remappable."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import template_v2
from conftest import SIZE, MakeProject, settle
from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import DataTable, Static

from screens.app import WorkbenchApp, binding_ids
from screens.common import OperationEvent
from screens.help import HelpScreen
from screens.main import MainScreen
from screens.palette import commands_for
from screens.sync_view import SyncScreen
from screens.update_view import UpdateScreen
from workbench import settings
from workbench.events import StepStarted
from workbench.ops.clone import clone_project


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), "-c", "user.name=T", "-c",
                           "user.email=t@example.invalid", *args], capture_output=True,
                          text=True, check=True).stdout.strip()


def cell(app: WorkbenchApp, row: str, column: str, selector: str = "#endpoint-table") -> str:
    table = app.screen.query_one(selector, DataTable)
    value = table.get_cell(row, column)
    return value.plain if isinstance(value, Text) else str(value)


def shown(app: WorkbenchApp, selector: str) -> str:
    """The text a Static shows (a diff's code for the syntax-highlighted one)."""
    content = app.screen.query_one(selector, Static).content
    if isinstance(content, Syntax):
        return content.code
    return content.plain if isinstance(content, Text) else str(content)


@pytest.fixture
def old_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                make_project: MakeProject) -> Path:
    """orders and billing made from endpoint-python v1, with v2 available now; pushed to
    file:// remotes; orders has one commit not pushed yet."""
    templates = template_v2.make_templates(tmp_path)
    monkeypatch.setenv("WORKBENCH_SCAFFOLDS", str(templates))
    root = make_project(endpoints=("orders", "billing"),
                        remote=f"file://{tmp_path}/git/{{group}}/{{name}}.git")
    template_v2.bump(templates)
    orders = root / "endpoints" / "orders"
    (orders / "NOTES.md").write_text("notes\n")
    git(orders, "add", "NOTES.md")
    git(orders, "commit", "-qm", "notes")
    return root


async def test_the_endpoints_pane_shows_ahead_behind_and_update_available(
        old_project: Path) -> None:
    app = WorkbenchApp(old_project)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert cell(app, "orders", "template") == "python 1→2 u"
        assert cell(app, "orders", "git") == "main clean ↑1 ↓0"
        assert cell(app, "billing", "template") == "python 1→2 u"
        assert cell(app, "billing", "git") == "main clean"


async def test_u_shows_the_diff_and_y_applies_it(old_project: Path) -> None:
    billing = old_project / "endpoints" / "billing"
    head = git(billing, "rev-parse", "HEAD")
    app = WorkbenchApp(old_project)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "down", "u")  # billing
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        assert [t.name for t in screen.targets] == ["billing"]
        plans = shown(app, "#plans")
        assert "endpoint billing: python v1 → v2, 3 files" in plans
        assert template_v2.CHANGELOG in plans
        diff = shown(app, "#diff")
        assert f"+{template_v2.NEW_LINE}" in diff and "+++ b/CONTRIBUTING.md" in diff
        # esc before y changes nothing; u again, then y
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and git(billing, "rev-parse", "HEAD") == head
        await pilot.press("u")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert "✓ endpoint billing: updated v1 -> v2 (commit" in shown(app, "#plans")
        assert git(billing, "rev-parse", "HEAD") != head
        assert template_v2.NEW_LINE in (billing / "app.py").read_text()
        assert git(billing, "status", "--porcelain") == ""
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert cell(app, "billing", "template") == "python"  # read again: up to date
        assert cell(app, "orders", "template") == "python 1→2 u"


async def test_u_in_the_projects_pane_updates_every_folder(old_project: Path) -> None:
    app = WorkbenchApp(old_project)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "u")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        assert [(t.kind, t.name) for t in screen.targets] == [
            ("project", "shop"), ("endpoint", "orders"), ("endpoint", "billing")]
        plans = shown(app, "#plans")
        assert "project shop: at its template's current version" in plans
        assert "endpoint orders: python v1 → v2" in plans
        await pilot.press("enter")
        await settle(pilot)
        for name in ("orders", "billing"):
            answers = (old_project / "endpoints" / name / ".workbench-answers.yaml").read_text()
            assert "template_version: 2" in answers
        # nothing left to apply
        assert screen.check_action("apply", ()) is None


async def test_s_syncs_every_repo_with_a_row_each(tmp_path: Path,
                                                  make_project: MakeProject) -> None:
    remote = f"file://{tmp_path}/git/{{group}}/{{name}}.git"
    alice = make_project(endpoints=("orders", "site"), models=("customer",), remote=remote,
                         environments=None)
    (tmp_path / "bob").mkdir()
    bob = clone_project(remote.format(group="shop", name="shop"), tmp_path / "bob").root
    (alice / "endpoints" / "orders" / "CHANGES.md").write_text("from alice\n")
    git(alice / "endpoints" / "orders", "add", "CHANGES.md")
    git(alice / "endpoints" / "orders", "commit", "-qm", "from alice")
    git(alice / "endpoints" / "orders", "push", "-q")
    app = WorkbenchApp(bob)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        table = screen.query_one(DataTable)
        assert [str(k.value) for k in table.rows] == ["shop", "orders", "site", "customer"]
        assert cell(app, "orders", "result", "#repos") == "✓ fast-forwarded 1"
        assert cell(app, "site", "result", "#repos") == "✓ up to date"
        assert cell(app, "shop", "ahead/behind", "#repos") == "↑0 ↓0"
        assert "synced 4 repos" in shown(app, "#summary")
        assert (bob / "endpoints" / "orders" / "CHANGES.md").is_file()
        # each repo's row follows its own progress
        screen.on_operation_event(OperationEvent(StepStarted("sync:site", "sync endpoint site")))
        assert cell(app, "site", "result", "#repos") == "● fetching…"
        await pilot.press("s")  # again, and back
        await settle(pilot)
        assert cell(app, "orders", "result", "#repos") == "✓ up to date"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_sync_and_update_are_in_help_palette_and_remappable(
        old_project: Path) -> None:
    assert {"sync", "update", "apply", "push"} <= binding_ids()
    path = settings.settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("keys:\n  update: U\n  sync: ctrl+y\n")
    app = WorkbenchApp(old_project, settings=settings.load(binding_ids()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in commands_for(app.screen)]
        assert {"Sync", "Update from template", "Update all from templates"} <= set(titles)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {k.binding_id: k for k in app.screen.keys}
        assert keys["update"].keys == ("U",) and "template" in keys["update"].detail
        assert keys["sync"].keys == ("^y",)
        await pilot.press("escape", "2", "u")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # u is not update any more
        await pilot.press("U")
        await settle(pilot)
        assert isinstance(app.screen, UpdateScreen)
        await pilot.press("escape", "ctrl+y")
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
