"""The endpoint detail panel: the highlighted endpoint in the highlighted environment.

It shows what the live matrix's watcher last reported (:class:`~screens.matrix.LiveCell`): each
host with its health, the time its container started and its restarts; the version served and
its drift against the repo; the last release records; and the last log lines (read by the
screen through the logs operation; until they come, those the newest release record kept).
It renders data it is given (no I/O); its styles are in ``detail.tcss``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from workbench.live import health_of
from workbench.model import Environment
from workbench.releases import Release
from workbench.swarm.cells import is_service, task_lines

from .matrix import MARKS, Cell, LiveCell, age, clock

CSS_PATH = Path(__file__).with_name("detail.tcss")
LAST_LINES = 6
DRIFT = {"code": "code differs from the repo", "config": "config differs from the repo",
         "replicas": "runs another replica count than endpoint.yaml",
         "missing": "released, but no container serves it", "removed": "not in the repo"}
KEYS = "l logs · h releases"
"""The panel's keys, as its last line shows them (the screen adds its own)."""


def stamp(iso: str) -> str:
    """``11-30 11:58 UTC`` from an ISO time ("?" when unreadable)."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return "?"
    return moment.strftime("%m-%d %H:%M UTC")


def release_row(record: Release) -> Text:
    """``11-30 11:58 UTC  deploy  ok      5567d5d3  by root``."""
    text = Text(f"  {stamp(record.time)}  {record.kind:8} ")
    text.append(f"{record.outcome:6}", style="green" if record.outcome == "ok" else "bold red")
    text.append(f"  {record.version[:8]}  by {record.user or '?'}", style="dim")
    return text


def detail_text(endpoint: str, env: Environment, cell: Cell, now: datetime | None = None,
                keys: str = KEYS, lines: Sequence[str] | None = None,
                watching: bool = True) -> Text:
    """Everything the panel shows for ``endpoint`` in ``env``."""
    now = now or clock()
    text = Text.assemble((endpoint, "bold"), " in ", (env.name, "bold"))
    update = cell.update if isinstance(cell, LiveCell) else None
    if update is None:
        text.append("\nnot observed yet: its hosts are being read" if watching else
                    "\nno live status: its hosts are not watched", style="dim")
        return text
    text.append(f"  (live: {'docker events' if update.source == 'events' else 'polling'})",
                style="dim")
    for row in update.rows:
        text.append(f"\n{row.host}  ")
        if row.unreachable:
            text.append("unreachable", style="bold red")
            text.append(f"  {row.unreachable}", style="dim")
            continue
        health = health_of(row)
        mark, style = MARKS[health]
        instance = row.instance
        if instance is None and row.release is None:
            # a Swarm's other nodes run tasks of the manager's services (listed there)
            text.append("node of the Swarm" if env.engine == "swarm" else "not deployed",
                        style="dim")
            continue
        text.append(f"{mark} {health}", style=style)
        if instance is not None and is_service(instance):
            text.append(f"  replicas {instance.replicas}")
            for line in task_lines(instance):
                text.append(f"\n    {line}", style="dim")
        elif instance is not None:
            since = age(instance.started_at, now)
            state = "up since" if instance.state == "running" else f"{instance.state}, started"
            text.append(f"  {state} {stamp(instance.started_at)}"
                        f"{f' ({since})' if since else ''}  restarts {instance.restarts}")
        else:
            text.append("  no container", style="bold red")
    found = cell.summary if isinstance(cell, LiveCell) else None
    if found is not None and found.deployed:
        text.append("\nversion ")
        text.append(found.version[:12] or "?", style="bold")
        first = next((r for r in update.rows if r.instance or r.release), None)
        served = first.instance if first is not None else None
        if served is not None and served.git_sha:
            text.append(f"  git {served.git_sha[:8]}{' dirty' if served.dirty else ''}",
                        style="dim")
        if found.drift:
            text.append("\ndrift   ")
            text.append("; ".join(DRIFT.get(f, f) for f in found.drift), style="bold yellow")
        else:
            text.append("\ndrift   ")
            text.append("none: what runs is what the repo would deploy", style="green")
    text.append("\nreleases")
    if update.history:
        for record in update.history:
            text.append("\n")
            text.append(release_row(record))
    else:
        text.append("  none recorded", style="dim")
    text.append(last_lines(update.history, lines))
    text.append(f"\n{keys}", style="dim")
    return text


def last_lines(history: Sequence[Release], read: Sequence[str] | None = None) -> Text:
    """The last log lines of its containers (``read``), else those the newest release record
    kept (a deploy keeps them)."""
    if read is not None:
        head = Text("\nlast lines")
        if not read:
            head.append("  none", style="dim")
        for line in read[-LAST_LINES:]:
            head.append(f"\n  {line}", style="dim")
        return head
    newest = history[0] if history else None
    lines = list(newest.last_lines[-LAST_LINES:]) if newest is not None else []
    head = Text(f"\nlast lines (release {newest.version[:8]})" if newest else "\nlast lines")
    if not lines:
        head.append("  none recorded", style="dim")
        return head
    for line in lines:
        head.append(f"\n  {line}", style="dim")
    return head


class DetailPanel(Static):
    """The highlighted endpoint x environment, in the free space under the matrix."""

    def show(self, endpoint: str | None, env: Environment | None, cell: Cell,
             now: datetime | None = None, keys: str = KEYS,
             lines: Sequence[str] | None = None, watching: bool = True) -> None:
        if endpoint is None or env is None:
            self.update(Text("Highlight an endpoint in an environment to see its status.",
                             style="dim"))
            return
        self.update(detail_text(endpoint, env, cell, now, keys, lines, watching))
