"""Readonly environments hide changing actions; protected ones ask for their name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from conftest import SIZE, MakeProject, settle
from textual.binding import Binding, BindingType
from textual.widgets import Input

from screens.app import WorkbenchApp
from screens.confirm import ConfirmByName
from screens.guard import changes_environment, guarded, hidden
from screens.main import MainScreen
from screens.palette import Command, commands_for
from workbench.model import Environment


class PokeScreen(MainScreen):
    """The main screen plus a test-only action that changes the selected environment."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "poke", "Poke", id="poke", tooltip="test only"),
    ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.poked: list[str] = []

    @changes_environment("poke")
    def action_poke(self) -> None:
        env = self.selected_environment
        assert env is not None
        self.poked.append(env.name)

    def commands(self) -> Iterator[Command]:
        yield from super().commands()
        yield Command("Poke", "test only", "poke")


class PokeApp(WorkbenchApp):
    MAIN_SCREEN = PokeScreen


async def go_to(pilot: object, column: int) -> PokeScreen:
    await pilot.press("3", *["right"] * column)  # type: ignore[attr-defined]
    screen = pilot.app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, PokeScreen)
    return screen


async def test_protected_environment_needs_its_name(make_project: MakeProject) -> None:
    app = PokeApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await go_to(pilot, 2)
        assert screen.selected_environment and screen.selected_environment.name == "production"
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmByName)
        await pilot.press(*"prod", "enter")
        assert isinstance(app.screen, ConfirmByName)
        assert "You typed 'prod', not 'production'" in str(app.screen.query_one("#error").render())
        assert app.screen.query_one(Input).value == ""
        assert screen.poked == []
        await pilot.press(*"production", "enter")
        assert app.screen is screen
        assert screen.poked == ["production"]
        # esc refuses too
        await pilot.press("x", "escape")
        assert app.screen is screen and screen.poked == ["production"]
        assert any("was cancelled" in n.message for n in app._notifications)


async def test_plain_environment_runs_at_once(make_project: MakeProject) -> None:
    app = PokeApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await go_to(pilot, 1)
        await pilot.press("x")
        assert app.screen is screen and screen.poked == ["staging"]


async def test_readonly_environment_hides_changing_actions(make_project: MakeProject) -> None:
    app = PokeApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await go_to(pilot, 0)
        assert screen.check_action("poke", ()) is True
        assert "Poke" in [c.title for c in commands_for(screen)]
        await pilot.press(*["right"] * 3)
        assert screen.selected_environment and screen.selected_environment.readonly
        assert screen.check_action("poke", ()) is False
        assert "poke" not in [b.binding.action for b in screen.active_bindings.values()]
        assert "Poke" not in [c.title for c in commands_for(screen)]
        assert screen.check_action("new", ()) is True  # project actions stay
        await pilot.press("x")
        assert app.screen is screen and screen.poked == []


def test_guard_helpers_directly() -> None:
    readonly = Environment(name="audit", readonly=True)
    plain = Environment(name="staging")
    assert hidden(PokeScreen, "poke", readonly)
    assert hidden(PokeScreen, "poke", None)
    assert not hidden(PokeScreen, "poke", plain)
    assert not hidden(PokeScreen, "new", readonly)


@pytest.mark.parametrize("env", [None, Environment(name="audit", readonly=True)])
async def test_guarded_refuses_without_an_allowed_environment(
        make_project: MakeProject, env: Environment | None) -> None:
    app = WorkbenchApp(make_project())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ran: list[bool] = []
        guarded(app.screen, env, "deploy", lambda: ran.append(True))
        await pilot.pause()
        assert ran == [] and app.screen.__class__ is MainScreen
        assert len(app._notifications) == 1
