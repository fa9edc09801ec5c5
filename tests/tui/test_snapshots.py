"""SVG snapshots of the main screen, the help, the new form and an endpoint's logs.

The project is made again under the fixed path /tmp/wb-snapshots/shop for each test, and
nothing on screen depends on clocks or random values. Update with
``pytest tests/tui --snapshot-update`` and look at the SVGs in __snapshots__/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SIZE, settle
from textual.pilot import Pilot
from textual.widgets import Input

from screens.app import WorkbenchApp
from screens.endpoint_logs import EndpointLogs
from workbench.logmerge import merge, parse_lines
from workbench.model import Project, load_project
from workbench.ops import logs as log_ops

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


HOSTS = ("prod-1.invalid", "prod-2.invalid")
LOG = [  # (host, second, level, message, fields) as the python template writes them
    (0, 1, "info", "started", {"port": 8000}),
    (1, 1, "info", "started", {"port": 8000}),
    (0, 2, "info", "request", {"method": "GET", "path": "/items/1", "status": 200}),
    (1, 3, "warning", "slow request", {"method": "GET", "path": "/items", "ms": 812}),
    (0, 4, "info", "request", {"method": "POST", "path": "/items", "status": 201}),
    (1, 5, "error", "database unreachable", {"host": "db", "attempt": 3}),
    (1, 5, None, "Traceback (most recent call last):", {}),
    (0, 6, "debug", "cache hit", {"key": "items:1"}),
    (1, 7, "critical", "giving up", {"attempts": 5}),
    (0, 8, "info", "request", {"method": "GET", "path": "/health", "status": 200}),
]


async def fixed_stream(project: Project, env: str, query: log_ops.LogQuery,
                       emit: log_ops.Emit, **_: object) -> log_ops.LogSummary:
    """Fixed lines of both hosts (fixed times), merged as stream_logs merges them."""
    parts = []
    for index, host in enumerate(HOSTS):
        lines = []
        for where, second, level, message, fields in LOG:
            if where == index:
                text = (message if level is None else
                        json.dumps({"ts": "x", "level": level, "msg": message, **fields}))
                lines.append(f"2026-11-30T12:00:{second:02d}.{index:09d}Z {text}")
        parts.append(parse_lines(lines, f"orders@{host}"))
    emit(log_ops.LogBatch(merge(parts), dropped=2))
    return log_ops.LogSummary(len(LOG), 2, 0, {}, tuple(f"orders@{h}" for h in HOSTS))


def test_endpoint_logs(snap_compare: SnapCompare, snapshot_project: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``l``'s screen: both hosts' lines merged in time order, each tagged with its source,
    JSON lines as level (coloured), message and fields."""
    monkeypatch.setattr(log_ops, "stream_logs", fixed_stream)

    async def open_logs(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        project = load_project(snapshot_project)
        await pilot.app.push_screen(EndpointLogs(project, "production", "orders"))
        await settle(pilot)

    app = WorkbenchApp(snapshot_project)
    assert snap_compare(app, terminal_size=SIZE, run_before=open_logs)
