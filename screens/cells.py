"""How the endpoints pane draws its cells: git state and template version, compact and
coloured; and the row under a table's cursor."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from workbench.gitstate import GitState
from workbench.model import Endpoint, Library
from workbench.ops.listing import TemplateState

GIT_WIDTH = 12  # "main dirty", "main clean"; ahead/behind and long branch names are cut


def template_text(child: Endpoint | Library, state: TemplateState | None) -> str | Text:
    """The template's name, and ``1→2`` in bold when a newer version is available."""
    name = child.template or "-"
    if state is None or not state.update_available:
        return name
    return Text.assemble(name, " ", (f"{state.version}→{state.latest}", "bold magenta"),
                         (" u", "dim"))


def git_text(state: GitState) -> Text:
    """Branch, clean/dirty and ahead/behind its upstream, compact and coloured."""
    if not state.repo:
        return Text(state.error or "not a repo", style="red")
    text = Text(state.branch or "(detached)")
    text.append(" dirty" if state.dirty else " clean", style="yellow" if state.dirty else "green")
    if state.upstream is not None and (state.ahead or state.behind):
        text.append(f" ↑{state.ahead} ↓{state.behind}", style="bold")
    return text


def row_key(table: DataTable[Any]) -> str | None:
    """The key of the row under ``table``'s cursor (None when empty)."""
    if not table.row_count:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
