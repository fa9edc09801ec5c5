"""What the TUI opens first: the start folder's project and the registered projects.

:func:`discover` blocks (it reads the registry and the first project's files): call it in a
worker, or in ``run`` before the app starts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from workbench import registry
from workbench.errors import BadInput, WorkbenchError
from workbench.model import Project, find_root, load_project

from .panes import ProjectItem


@dataclass(frozen=True, slots=True)
class Discovery:
    """The start folder's project (if any) and the registered projects."""

    root: Path | None
    items: tuple[ProjectItem, ...]
    error: str | None = None
    #: The first project to show, already read (``discover(..., read_first=True)``).
    project: Project | None = None

    @property
    def empty(self) -> bool:
        return self.root is None and not self.items

    @property
    def first(self) -> Path | None:
        """The project to open first: the start folder's, else the first one that exists."""
        return self.root or next((item.path for item in self.items if item.exists), None)


def discover(start: Path, *, read_first: bool = False) -> Discovery:
    """Find the projects to show (blocking: a worker, or ``run`` before the app starts).

    ``read_first`` also reads the first project's files, so the main screen's first frame has
    its rows; a failure is left to the screen, which reads it again and shows the error.
    """
    try:
        root: Path | None = find_root(start)
    except BadInput:
        root = None
    error = None
    try:
        entries = registry.load()
    except WorkbenchError as exc:
        entries, error = [], exc.line
    items = [ProjectItem(e.name, e.path, e.exists, here=e.path == root) for e in entries]
    if root is not None and all(item.path != root for item in items):
        items.insert(0, ProjectItem(root.name, root, True, here=True))
    found = Discovery(root, tuple(items), error)
    if read_first and found.first is not None:
        try:
            return replace(found, project=load_project(found.first))
        except (WorkbenchError, OSError):
            pass
    return found
