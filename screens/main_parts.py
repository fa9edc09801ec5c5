"""What the main screen's action mixins use of it (:class:`MainParts`): its state and the
methods they call, declared once for type checkers; at run time a plain base class."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.screen import Screen

    from workbench.model import Environment
    from workbench.ops.listing import Listing

    from .matrix import StatusProvider
    from .panes import Pane

    _Base = Screen[None]
else:
    _Base = object


class MainParts(_Base):
    """The parts of :class:`~screens.main.MainScreen` its mixins share."""

    listing: Listing | None
    current: Path | None
    status: StatusProvider | None

    if TYPE_CHECKING:
        @property
        def focused_pane(self) -> Pane | None: ...

        @property
        def selected_environment(self) -> Environment | None: ...

        def open_project(self, root: Path, select: str | None = None) -> None: ...
