"""The three panes of the main screen: Projects | Endpoints | Environments.

Each pane renders data it is given (no I/O) and can be filtered by text. Styles live in
``main.tcss``, the stylesheet of the screen that holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist
from textual.widgets.option_list import Option

from workbench.gitstate import GitState
from workbench.model import Endpoint, Environment, Library, Project
from workbench.ops.listing import Row, TemplateState

from .cells import GIT_WIDTH, git_text, row_key, template_text
from .detail import DetailPanel
from .matrix import ROW_HEIGHT, CellUpdate, LiveCell, Matrix, clock

__all__ = ["EndpointsPane", "EnvironmentsPane", "Pane", "ProjectItem", "ProjectsPane",
           "git_text", "row_key"]


@dataclass(frozen=True, slots=True)
class ProjectItem:
    """A project in the Projects pane: registered, or the one of the current folder."""

    name: str
    path: Path
    exists: bool
    here: bool = False


def matches(text: str, *fields: str | None) -> bool:
    """Case-insensitive substring filter over ``fields``."""
    needle = text.strip().lower()
    return not needle or any(needle in (f or "").lower() for f in fields)


class Pane(Vertical):
    """A titled, numbered pane holding one list widget and a note line."""

    NUMBER = 0
    LABEL = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter_text = ""
        self._retitle()

    @property
    def list_widget(self) -> Widget:
        raise NotImplementedError

    def _retitle(self) -> None:
        shown = f"  /{self.filter_text}" if self.filter_text else ""
        self.border_title = f"{self.NUMBER} {self.LABEL}{shown}"

    def note(self, text: str | Text, *, error: bool = False) -> None:
        """Show a hint (or an error) under the list; empty text hides it."""
        found = self.query(".note")
        if not found:
            if not str(text):
                return  # mounted on the first hint: most panes never need one
            self.mount(Static(text, classes="note error" if error else "note"))
            return
        note = found.first(Static)
        note.update(text)
        note.set_class(error, "error")
        note.display = bool(str(text))

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._retitle()
        self.redraw()

    def redraw(self) -> None:
        """Render the stored data again (after a filter change)."""

    def focus_list(self) -> None:
        self.list_widget.focus()


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


class EnvironmentsPane(Pane):
    """The endpoint x environment matrix, the selected environment's line, and the detail
    panel of the highlighted endpoint x environment."""

    NUMBER, LABEL = 3, "Environments"

    class Selected(Message):
        """The cursor moved to another environment (or to none)."""

        def __init__(self, environment: Environment | None) -> None:
            super().__init__()
            self.environment = environment

    AGES = 30.0
    """Seconds between two redraws of the live cells' ages."""

    class Highlighted(Message):
        """The cursor moved to another endpoint x environment (or to none)."""

        def __init__(self, endpoint: str | None, environment: Environment | None) -> None:
            super().__init__()
            self.endpoint, self.environment = endpoint, environment

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project: Project | None = None
        self.matrix = Matrix((), ())
        self._announced: Environment | None = None
        self._highlighted: tuple[str | None, str | None] = (None, None)
        self.detail_keys = ""
        """The keys the detail panel names (the screen sets them when it watches the hosts)."""
        self.last_lines: dict[tuple[str, str], tuple[str, ...]] = {}
        """(endpoint, environment) -> the last log lines read for the detail panel."""

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="matrix", cursor_type="cell", header_height=4)
        table.show_row_labels = True
        yield table
        yield Static("", id="env-detail")
        yield DetailPanel("", id="detail")

    def on_mount(self) -> None:
        self.set_interval(self.AGES, self._redraw_ages)

    def _redraw_ages(self) -> None:
        """Ages move on without news: draw the live cells again."""
        if not self.query(DataTable):
            return  # being removed
        table = self.list_widget
        now = clock()
        for (endpoint, environment), cell in self.matrix.cells():
            if isinstance(cell, LiveCell):
                try:
                    table.update_cell(endpoint, environment, cell.render(now))
                except CellDoesNotExist:
                    continue

    @property
    def list_widget(self) -> DataTable[Text]:
        return self.query_one(DataTable)

    def show(self, project: Project) -> None:
        endpoints = [e.name for e in project.endpoints]
        environments = [e.name for e in project.environments]
        old = self.project
        if (old is not None and old.root == project.root and old.environments ==
                project.environments and [e.name for e in old.endpoints] == endpoints):
            self.project = project  # same rows and columns: nothing to draw again
            return
        if self.project is None or self.project.root != project.root:
            self.matrix = Matrix(endpoints, environments)
        else:  # the same project again: keep what the status provider reported
            self.matrix = self.matrix.reshaped(endpoints, environments)
        self.project = project
        self.redraw()

    def clear(self) -> None:
        self.project = None
        self.matrix = Matrix((), ())
        table = self.list_widget
        table.clear(columns=True)
        self.query_one("#env-detail", Static).update("")
        self.query_one(DetailPanel).show(None, None, self.matrix.get("", ""))
        self.last_lines = {}
        self.note("")

    def redraw(self) -> None:
        table = self.list_widget
        if self.project is None:
            return
        column = table.cursor_coordinate.column
        table.clear(columns=True)
        for env in self.project.environments:
            table.add_column(environment_label(env), key=env.name)
        shown = 0
        now = clock()
        for endpoint in self.project.endpoints:
            if matches(self.filter_text, endpoint.name):
                cells = [self.matrix.get(endpoint.name, env.name).render(now)
                         for env in self.project.environments]
                table.add_row(*cells, key=endpoint.name, label=Text(endpoint.name, style="bold"),
                              height=ROW_HEIGHT)
                shown += 1
        if table.row_count and column < len(self.project.environments):
            table.move_cursor(column=column)
        if not self.project.endpoints:
            self.note("No endpoints to place in environments yet.")
        elif not shown:
            self.note(f"Nothing matches '{self.filter_text}'.")
        else:
            self.note("")
        self._describe()

    def update_cells(self, updates: list[CellUpdate]) -> None:
        if not self.query(DataTable):
            return  # the screen is closing: news from a watcher that is being stopped
        table = self.list_widget
        now = clock()
        for update in updates:
            if self.matrix.apply(update):
                try:
                    table.update_cell(update.endpoint, update.environment,
                                      update.cell.render(now), update_width=True)
                except CellDoesNotExist:  # filtered out: it shows on the next redraw
                    continue
        if any((u.endpoint, u.environment) == self._highlighted for u in updates):
            self.show_detail()

    def set_last_lines(self, endpoint: str, environment: str, lines: tuple[str, ...]) -> None:
        self.last_lines[(endpoint, environment)] = lines
        if (endpoint, environment) == self._highlighted and self.query(DetailPanel):
            self.show_detail()

    @property
    def selected_endpoint(self) -> str | None:
        return row_key(self.list_widget)

    def show_detail(self) -> None:
        """The detail panel for the highlighted endpoint x environment."""
        endpoint, env = self.selected_endpoint, self.selected_environment
        cell = self.matrix.get(endpoint or "", env.name if env else "")
        lines = self.last_lines.get((endpoint or "", env.name if env else ""))
        self.query_one(DetailPanel).show(endpoint, env, cell, keys=self.detail_keys,
                                         lines=lines, watching=bool(self.detail_keys))

    @property
    def selected_environment(self) -> Environment | None:
        if self.project is None or not self.project.environments:
            return None
        column = self.list_widget.cursor_coordinate.column
        envs = self.project.environments
        return envs[column] if column < len(envs) else None

    def _describe(self) -> None:
        env = self.selected_environment
        detail = self.query_one("#env-detail", Static)
        detail.update(environment_detail(env) if env else "")
        self.show_detail()

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        event.stop()
        self._describe()
        env = self.selected_environment
        spot = (self.selected_endpoint, env.name if env else None)
        if spot != self._highlighted:
            self._highlighted = spot
            self.post_message(self.Highlighted(spot[0], env))
        if env != self._announced:  # moving along a column changes nothing
            self._announced = env
            self.post_message(self.Selected(env))

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()


def environment_marks(env: Environment) -> list[str]:
    return [mark for mark, on in (("protected", env.protected), ("readonly", env.readonly)) if on]


def environment_label(env: Environment) -> Text:
    """A four-line column header: name, engine, hosts, marks."""
    count = len(env.hosts)
    hosts = "local" if env.is_local else f"{count} host" + ("s" if count != 1 else "")
    label = Text(env.name, style="bold")
    label.append(f"\n{env.engine}\n{hosts}", style="dim")
    marks = environment_marks(env)
    label.append("\n" + (" ".join(marks) if marks else " "),
                 style="bold magenta" if env.readonly else "bold yellow")
    return label


def environment_detail(env: Environment) -> Text:
    """One line about the selected environment: engine, every host, proxy port and marks."""
    hosts = ", ".join(h.spec for h in env.hosts) or "the local Docker engine"
    text = Text.assemble((env.name, "bold"), f": {env.engine} on {hosts}, proxy :{env.proxy_port}")
    if env.protected:
        text.append("  protected: type its name to confirm changes", style="yellow")
    if env.readonly:
        text.append("  readonly: no changes", style="magenta")
    return text

