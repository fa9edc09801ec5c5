"""The endpoint x environment matrix: a typed cell per pair, filled by a status provider.

Until a provider reports, every cell is :data:`UNKNOWN` and shows ``-``. A provider (the later
status/deploy issues) runs in a worker and yields :class:`CellUpdate` values; the screen applies
them with :meth:`Matrix.apply`. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from rich.text import Text

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

    def render(self) -> Text:
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


class Matrix:
    """The cells of one project, keyed by (endpoint, environment)."""

    def __init__(self, endpoints: Iterable[str], environments: Iterable[str]) -> None:
        self.endpoints = tuple(endpoints)
        self.environments = tuple(environments)
        self._cells: dict[tuple[str, str], Cell] = {}

    def get(self, endpoint: str, environment: str) -> Cell:
        return self._cells.get((endpoint, environment), UNKNOWN)

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
