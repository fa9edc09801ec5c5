"""Help, the command palette, binding ids and the user's key remaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import SIZE, MakeProject, settle
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from screens import app as tui
from screens.app import WorkbenchApp, binding_ids
from screens.help import HelpScreen
from screens.main import MainScreen
from screens.new_child import NewChildForm
from screens.palette import commands_for
from workbench import settings
from workbench.errors import ConfigError


async def palette_offers(pilot: Pilot[Any], title: str) -> None:
    """Until the palette highlights ``title`` (its search runs in a task; bounded by count)."""
    def shown() -> bool:
        lists = pilot.app.screen.query(CommandList)
        if not isinstance(pilot.app.screen, CommandPalette) or not lists:
            return False
        index = lists.first().highlighted
        return index is not None and title in str(lists.first().get_option_at_index(index).prompt)

    for _ in range(5000):
        if shown():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"the palette never offered {title!r}")


def write_config(text: str) -> Path:
    path = settings.settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_binding_has_an_id() -> None:
    for cls in tui.SCREENS:
        for binding in cls.__dict__.get("BINDINGS", ()):
            assert isinstance(binding, Binding) and binding.id, (cls.__name__, binding)
    assert {"quit", "help", "palette", "new", "filter", "refresh", "back", "focus_projects",
            "focus_endpoints", "focus_environments", "focus_next"} <= binding_ids()


async def test_help_lists_the_bindings_of_the_focused_screen(make_project: MakeProject) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        ids = [k.binding_id for k in help_screen.keys]
        assert ids[:3] == ["focus_projects", "focus_endpoints", "focus_environments"]
        assert {"new", "filter", "refresh", "quit", "palette", "help"} <= set(ids)
        new = next(k for k in help_screen.keys if k.binding_id == "new")
        assert new.keys == ("n",) and "Create an endpoint" in new.detail
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        # the form has its own help (f1: "?" is text there)
        await pilot.press("n", "f1")
        assert isinstance(app.screen, HelpScreen)
        assert {"back", "submit"} <= {k.binding_id for k in app.screen.keys}
        await pilot.press("question_mark")
        assert isinstance(app.screen, NewChildForm)


def test_the_palette_offers_every_binding_of_the_main_screen() -> None:
    actions = {cmd.action for cmd in MainScreen.commands(_FakeMain())}  # type: ignore[arg-type]
    for binding in MainScreen.BINDINGS:
        assert isinstance(binding, Binding)
        if binding.id != "back":
            assert binding.action in actions, binding


class _FakeMain:
    class discovery:
        items = ()


async def test_palette_runs_real_actions(make_project: MakeProject) -> None:
    make_project("bank", endpoints=("ledger",))
    app = WorkbenchApp(make_project("shop"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in commands_for(app.screen)]
        assert titles[:3] == ["New endpoint", "New model", "New utility"]
        assert "Switch to project bank" in titles and "Switch to project shop" not in titles
        assert titles[-2:] == ["Help", "Quit"]
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"new model")
        await palette_offers(pilot, "New model")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NewChildForm) and app.screen.kind == "model"
        await pilot.press("escape", "ctrl+p", *"switch to project bank")
        await palette_offers(pilot, "Switch to project bank")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.current is not None and app.screen.current.name == "bank"


async def test_config_keys_remap_bindings(make_project: MakeProject) -> None:
    write_config("keys:\n  new: ctrl+n\n  quit: x\n")
    loaded = settings.load(binding_ids())
    assert dict(loaded.keys) == {"new": "ctrl+n", "quit": "x"}
    app = WorkbenchApp(make_project(), settings=loaded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, NewChildForm)
        await pilot.press("escape", "q")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, MainScreen)
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert next(k for k in help_screen.keys if k.binding_id == "new").keys == ("^n",)
        await pilot.press("escape", "x")
        await pilot.pause()
        assert not app.is_running


def test_unknown_binding_id_names_file_line_and_a_close_id() -> None:
    path = write_config("# my keys\nkeys:\n  new: ctrl+n\n  qiut: x\n")
    with pytest.raises(ConfigError) as caught:
        settings.load(binding_ids())
    assert caught.value.line == (f"{path}:4: unknown binding id 'qiut' in 'keys'; "
                                 "did you mean 'quit'?")


@pytest.mark.parametrize(("text", "expected"), [
    ("keys: [new]\n", ":1: 'keys' must map binding ids to keys"),
    ("keys:\n  new: ctrl+\n", ":2: bad key for 'new': 'ctrl+' is not a key name"),
    ("keys:\n  new: hyperspace+n\n", "unknown modifier 'hyperspace'"),
    ("keys:\n  new: 5\n", ":2: the key of 'new' must be text"),
    ("kes:\n  new: x\n", ":1: unknown key 'kes' in config.yaml; did you mean 'keys'?"),
])
def test_bad_settings_are_one_line_errors(text: str, expected: str) -> None:
    write_config(text)
    with pytest.raises(ConfigError) as caught:
        settings.load(binding_ids())
    assert expected in caught.value.line


def test_no_config_file_means_defaults() -> None:
    loaded = settings.load(binding_ids())
    assert dict(loaded.keys) == {}
    write_config("keys: {new: 'f2, ctrl+n', help: '?'}\n")
    assert dict(settings.load(binding_ids()).keys) == {"new": "f2,ctrl+n", "help": "?"}


def test_run_prints_one_line_and_exit_2_for_bad_settings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config("keys:\n  nwe: x\n")
    assert tui.run(["-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"workbench: error: {path}:2: unknown binding id 'nwe' in 'keys'; "
                   "did you mean 'new'?\n")


def test_run_rejects_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tui.run(["-C", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith(f"workbench: error: folder {tmp_path}/nope does "
                                              "not exist")
    assert tui.run(["--what"]) == 2
    assert "unrecognized arguments: --what" in capsys.readouterr().err


async def test_filter_keeps_typed_keys_out_of_bindings(make_project: MakeProject) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "n", "q", "1")
        assert isinstance(app.focused, Input) and app.focused.value == "nq1"
        assert app.is_running and isinstance(app.screen, MainScreen)


async def test_the_palette_on_a_form_offers_its_bindings(make_project: MakeProject) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert [c.title for c in commands_for(app.screen)] == ["Cancel", "Create", "Help",
                                                               "Quit"]
        await pilot.press("ctrl+p", *"cancel")
        await palette_offers(pilot, "Cancel")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
