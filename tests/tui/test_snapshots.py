"""SVG snapshots of the main screen, the help and the new form.

The project is made again under the fixed path /tmp/wb-snapshots/shop for each test, and
nothing on screen depends on clocks or random values. Update with
``pytest tests/tui --snapshot-update`` and look at the SVGs in __snapshots__/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import SIZE, settle
from textual.pilot import Pilot
from textual.widgets import Input

from screens.app import WorkbenchApp

SnapCompare = Callable[..., bool]


async def ready(pilot: Pilot[Any]) -> None:
    await settle(pilot)


def test_main_screen(snap_compare: SnapCompare, snapshot_project: Path) -> None:
    app = WorkbenchApp(snapshot_project)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_main_screen_on_a_protected_environment(snap_compare: SnapCompare,
                                                snapshot_project: Path) -> None:
    app = WorkbenchApp(snapshot_project)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready,
                        press=["3", "right", "right"])


def test_help(snap_compare: SnapCompare, snapshot_project: Path) -> None:
    app = WorkbenchApp(snapshot_project)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready, press=["question_mark"])


def test_new_form_with_an_invalid_name(snap_compare: SnapCompare,
                                       snapshot_project: Path) -> None:
    async def type_a_bad_name(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("n", *"Orders_2")
        cursor = pilot.app.screen.query_one(Input)
        cursor.cursor_blink = False  # a blinking cursor is not deterministic

    app = WorkbenchApp(snapshot_project)
    assert snap_compare(app, terminal_size=SIZE, run_before=type_a_bad_name)
