"""The three panes of the main screen: Projects | Endpoints | Environments (pane 3 lives in
:mod:`screens.environments_pane`, their base in :mod:`screens.pane`).

Each pane renders data it is given (no I/O) and can be filtered by text. Styles live in
``main.tcss``, the stylesheet of the screen that holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, OptionList
from textual.widgets.data_table import RowDoesNotExist
from textual.widgets.option_list import Option

from workbench.gitstate import GitState
from workbench.model import Endpoint, Library, Project
from workbench.ops.listing import Row, TemplateState

from .cells import GIT_WIDTH, git_text, row_key, template_text
from .environments_pane import EnvironmentsPane
from .pane import Pane, matches

__all__ = ["EndpointsPane", "EnvironmentsPane", "Pane", "ProjectItem", "ProjectsPane",
           "git_text", "row_key"]


@dataclass(frozen=True, slots=True)
class ProjectItem:
    """A project in the Projects pane: registered, or the one of the current folder."""

    name: str
    path: Path
    exists: bool
    here: bool = False


class ProjectsPane(Pane):
    """Registered projects and the current folder's; enter opens one."""

    NUMBER, LABEL = 1, "Projects"

    class Chosen(Message):
        """The user chose a project."""

        def __init__(self, item: ProjectItem) -> None:
            super().__init__()
            self.item = item

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[ProjectItem] = []
        self.current: Path | None = None

    def compose(self) -> ComposeResult:
        yield OptionList(id="project-list")

    @property
    def list_widget(self) -> OptionList:
        return self.query_one(OptionList)

    def show(self, items: list[ProjectItem], current: Path | None) -> None:
        self.items = items
        self.current = current
        self.redraw()

    def redraw(self) -> None:
        options = self.list_widget
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        shown = [i for i in self.items if matches(self.filter_text, i.name, str(i.path))]
        options.clear_options()
        options.add_options([Option(self._prompt(item), id=str(item.path)) for item in shown])
        ids = [str(item.path) for item in shown]
        keep = highlighted if highlighted in ids else str(self.current) if self.current else None
        if keep in ids:
            options.highlighted = ids.index(keep)
        if not self.items:
            self.note("No projects yet.")
        elif not shown:
            self.note(f"Nothing matches '{self.filter_text}'.")
        else:
            self.note("")

    def _prompt(self, item: ProjectItem) -> Text:
        mark = "> " if item.path == self.current else "  "
        text = Text(mark + item.name, style="bold" if item.path == self.current else "")
        if not item.exists:
            text.append(" missing", style="bold red")
            text.stylize("dim", 0, len(mark) + len(item.name))
        elif item.here:
            text.append(" (here)", style="dim")
        return text

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = next((i for i in self.items if str(i.path) == event.option.id), None)
        if chosen is not None:
            self.post_message(self.Chosen(chosen))


class EndpointsPane(Pane):
    """Endpoints, models and utilities with their template (and whether a newer version is
    available) and git state (branch, dirty, ahead/behind)."""

    NUMBER, LABEL = 2, "Endpoints"
    COLUMNS = ("kind", "name", "template", "git")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: tuple[Endpoint | Library, ...] = ()
        self.git: dict[str, GitState] = {}
        self.templates: dict[str, TemplateState] = {}

    def compose(self) -> ComposeResult:
        table: DataTable[str | Text] = DataTable(id="endpoint-table", cursor_type="row",
                                                 zebra_stripes=True)
        for column in self.COLUMNS:
            # git state arrives after the first paint: a fixed width keeps columns from jumping
            table.add_column(column, key=column, width=GIT_WIDTH if column == "git" else None)
        yield table

    @property
    def list_widget(self) -> DataTable[str | Text]:
        return self.query_one(DataTable)

    def show_project(self, project: Project) -> None:
        """Show the children; their git state follows with :meth:`show`."""
        self.entries = project.children
        self.git = {}
        self.redraw()

    def show(self, rows: tuple[Row, ...]) -> None:
        """Show the children with their git state (in place when only that changed)."""
        entries = tuple(row.child for row in rows)
        self.git = {row.child.name: row.git for row in rows}
        self.templates = {row.child.name: row.template for row in rows}
        if entries != self.entries:
            self.entries = entries
            self.redraw()
            return
        table = self.list_widget
        for row in rows:
            if row.child.name in table.rows:  # else filtered out: redraw() shows it later
                table.update_cell(row.child.name, "template",
                                  template_text(row.child, row.template), update_width=True)
                table.update_cell(row.child.name, "git", git_text(row.git), update_width=True)

    def show_error(self, line: str) -> None:
        self.entries, self.git, self.templates = (), {}, {}
        self.list_widget.clear()
        self.note(line, error=True)

    def show_loading(self, name: str) -> None:
        self.entries, self.git, self.templates = (), {}, {}
        self.list_widget.clear()
        self.note(f"Reading {name}...")

    def redraw(self) -> None:
        table = self.list_widget
        selected = self.selected_name
        table.clear()
        for child in self.entries:
            if matches(self.filter_text, child.name, child.kind, child.template):
                state = self.git.get(child.name)
                git = git_text(state) if state else Text("...", style="dim")
                template = template_text(child, self.templates.get(child.name))
                table.add_row(child.kind, child.name, template, git, key=child.name)
        if selected is not None:
            self.select(selected)
        if not self.entries:
            self.note("No endpoints yet: press n to create one.")
        elif not table.row_count:
            self.note(f"Nothing matches '{self.filter_text}'.")
        else:
            self.note("")

    @property
    def selected_name(self) -> str | None:
        table = self.list_widget
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return key.value

    def select(self, name: str) -> bool:
        """Move the cursor to the row of ``name``; False when it is not shown."""
        table = self.list_widget
        try:
            table.move_cursor(row=table.get_row_index(name))
        except RowDoesNotExist:  # filtered out or gone
            return False
        return True
