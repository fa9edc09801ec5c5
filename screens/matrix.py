"""The endpoint x environment matrix: a typed cell per pair, filled by a status provider.

Until a provider reports, every cell is :data:`UNKNOWN` and shows ``-``. A provider runs in a
worker and yields :class:`CellUpdate` values; the screen applies them with :meth:`Matrix.apply`.
A live provider (:class:`LiveProvider`) keeps reporting until it is stopped: its cells are
:class:`LiveCell` values (health mark, version, drift mark, age). Nothing here does I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from rich.text import Text

from workbench.live import LiveUpdate, Summary, summarize

if TYPE_CHECKING:
    from workbench.model import Project
    from workbench.ops.listing import Listing

Health = Literal["unknown", "starting", "healthy", "unhealthy"]
_HEALTH_STYLE: dict[str, str] = {"unknown": "dim", "starting": "yellow", "healthy": "green",
                                 "unhealthy": "bold red"}


@dataclass(frozen=True, slots=True)
class Cell:
    """What is known of one endpoint in one environment.

    ``deployed`` is None while nothing is known, False when the environment has no release of
    the endpoint. ``drift`` is True when the repo's code differs from the deployed version.
    """

    deployed: bool | None = None
    version: str | None = None
    health: Health = "unknown"
    drift: bool | None = None

    def render(self, now: datetime | None = None) -> Text:
        """The cell's text: ``-``, ``not deployed`` or ``version health [drift]``."""
        if self.deployed is None:
            return Text("-", style="dim")
        if not self.deployed:
            return Text("not deployed", style="dim")
        text = Text(self.version[:8] if self.version else "?")
        text.append(f" {self.health}", style=_HEALTH_STYLE[self.health])
        if self.drift:
            text.append(" drift", style="bold yellow")
        return text


UNKNOWN = Cell()


@dataclass(frozen=True, slots=True)
class CellUpdate:
    """A provider's news about one cell."""

    endpoint: str
    environment: str
    cell: Cell


class StatusProvider(Protocol):
    """Fills the matrix; called in a worker thread with the project's listing."""

    def __call__(self, listing: Listing) -> Iterable[CellUpdate]: ...


@runtime_checkable
class LiveProvider(Protocol):
    """Keeps the matrix up to date: ``watch`` runs in a worker thread, hands batches of
    updates to ``report`` as they happen, and returns once ``stopped`` is set."""

    def __call__(self, listing: Listing) -> Iterable[CellUpdate]: ...

    def watch(self, listing: Listing, report: Callable[[list[CellUpdate]], None],
              stopped: threading.Event) -> None: ...

    def last_lines(self, project: Project, env: str, endpoint: str, count: int) -> list[str]:
        """The endpoint's last log lines in ``env`` (blocks: called in a worker thread)."""
        ...


def clock() -> datetime:
    """Now, for the cells' ages (snapshot tests replace it)."""
    return datetime.now(UTC)


def age(since: str, now: datetime) -> str:
    """How long ago ``since`` (ISO 8601) was, in one short unit: ``45s``, ``12m``, ``3h``, ``5d``
    ("" when unknown)."""
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


MARKS: dict[str, tuple[str, str]] = {
    "healthy": ("●", "green"), "starting": ("◐", "yellow"), "unhealthy": ("●", "bold red"),
    "down": ("○", "bold red"), "unknown": ("●", "dim"), "unreachable": ("?", "bold red"),
}
"""Health -> (mark, style) in the cells and the detail panel."""
ROW_HEIGHT = 2
"""A live cell is two lines: ``● 3f2a9c0`` over ``Δ 12m``, so four environments fit 120
columns beside the other panes."""


@dataclass(frozen=True, slots=True)
class LiveCell(Cell):
    """A cell of the live matrix: the watcher's last word on it (``update``)."""

    update: LiveUpdate | None = None

    @classmethod
    def of(cls, update: LiveUpdate) -> LiveCell:
        found = summarize(update.rows)
        health = found.health if found.health in ("starting", "healthy", "unhealthy") \
            else "unknown"
        return cls(found.deployed, found.version or None, health,  # type: ignore[arg-type]
                   bool(found.drift), update)

    @property
    def summary(self) -> Summary:
        return summarize(self.update.rows) if self.update is not None else Summary(False)

    def render(self, now: datetime | None = None) -> Text:
        """``● 3f2a9c0`` over ``Δ 12m``: health mark and version, then the drift mark (Δ)
        and age; or ``unreachable``, ``not deployed`` (on two lines)."""
        found = self.summary
        if found.health == "unreachable" and found.unreachable == found.hosts:
            return Text("unreachable", style="bold red")
        if not found.deployed:
            return Text("not\ndeployed", style="dim")
        health = "unreachable" if found.unreachable else found.health
        mark, style = MARKS[health]
        text = Text()
        text.append(mark, style=style)
        text.append(f" {found.version[:7] or '?'}\n")
        text.append("Δ" if found.drift else " ", style="bold yellow")
        shown = age(found.since, now or clock())
        if shown:
            text.append(f" {shown}", style="dim")
        if found.replicas:  # a Swarm service: running/desired
            text.append(f" {found.replicas}")
        return text


def live_updates(updates: Iterable[LiveUpdate]) -> list[CellUpdate]:
    """The watcher's updates as the matrix's."""
    return [CellUpdate(u.endpoint, u.env, LiveCell.of(u)) for u in updates]


class Matrix:
    """The cells of one project, keyed by (endpoint, environment)."""

    def __init__(self, endpoints: Iterable[str], environments: Iterable[str]) -> None:
        self.endpoints = tuple(endpoints)
        self.environments = tuple(environments)
        self._cells: dict[tuple[str, str], Cell] = {}

    def get(self, endpoint: str, environment: str) -> Cell:
        return self._cells.get((endpoint, environment), UNKNOWN)

    def cells(self) -> list[tuple[tuple[str, str], Cell]]:
        """Every known cell, keyed by (endpoint, environment)."""
        return list(self._cells.items())

    def reshaped(self, endpoints: Iterable[str], environments: Iterable[str]) -> Matrix:
        """A matrix of new rows and columns that keeps the cells both have."""
        new = Matrix(endpoints, environments)
        for (endpoint, environment), cell in self._cells.items():
            new.apply(CellUpdate(endpoint, environment, cell))
        return new

    def apply(self, update: CellUpdate) -> bool:
        """Store ``update``; False when its endpoint or environment is not in the matrix."""
        if update.endpoint not in self.endpoints or update.environment not in self.environments:
            return False
        self._cells[(update.endpoint, update.environment)] = update.cell
        return True
