"""Pane 3 of the main screen: the endpoint x environment matrix, the selected environment's
line, and the detail panel of the highlighted endpoint x environment (:class:`EnvironmentsPane`).

It renders data it is given (no I/O): the cells a status provider reports
(:mod:`screens.matrix`) and the last log lines the screen reads. Styles live in ``main.tcss``.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from workbench.model import Environment, Project

from .cells import row_key
from .detail import DetailPanel
from .matrix import ROW_HEIGHT, CellUpdate, LiveCell, Matrix, clock
from .pane import Pane, matches


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
