"""The compare screen (``c``): two environments, or one against the repo, side by side.

:class:`ComparePicker` asks for the first environment, then the second or "the repo".
:class:`CompareScreen` runs the core's comparison in a worker (``diff_envs``, or
``repo_drift`` for the repo, over :func:`workbench.sites.open_reachable`: a host that cannot be
read is named, the rest is shown) and gets its JSON back as a message: the ``compare`` JSON
with every key (docs/diff-json.md), or ``drift_json`` made into the same structure. The screen
only filters and toggles that data (:mod:`screens.compare_rows`): ``/`` filters by endpoint,
category or key, ``a`` toggles differences only / every key, ``n``/``p`` (``]``/``[``) move
the cursor to the next / previous differing key. A secret shows ``same`` or ``differs`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from workbench.model import Project

from .common import failure_line
from .compare_rows import NOTE, REPO, Row, differing, from_drift, rows
from .releases_view import environment_option

CSS = Path(__file__).with_name("compare_view.tcss")
MARKS: Mapping[str, tuple[str, str]] = {
    "same": (" ", ""), "differs": ("~", "yellow"), "only in A": ("-", "red"),
    "only in B": ("+", "green"), NOTE: ("·", "dim")}


class ComparePicker(ModalScreen[str | None]):
    """An environment to compare (every one: comparing changes nothing), or with ``repo``
    offered too, "the repo". Answers the environment's name, :data:`REPO`, or None."""

    CSS_PATH = CSS
    HELP_TITLE = "Pick what to compare"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Cancel", id="back", tooltip="Cancel"),
    ]

    def __init__(self, project: Project, what: str, *, skip: str | None = None,
                 selected: str | None = None, repo: bool = False) -> None:
        super().__init__()
        self.project, self.what = project, what
        self.skip, self.selected, self.repo = skip, selected, repo

    def compose(self) -> ComposeResult:
        options = [Option(environment_option(e).prompt, id=e.name)
                   for e in self.project.environments if e.name != self.skip]
        if self.repo:
            options.append(Option(Text.assemble(("the repo", "bold"),
                                                ("  what a deploy would run now", "dim")),
                                  id=REPO))
        with Vertical(id="dialog") as dialog:
            dialog.border_title = self.what
            yield OptionList(*options, id="choices")
            yield Static("enter picks · esc cancels", classes="hint")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        ids = [choices.get_option_at_index(i).id for i in range(choices.option_count)]
        if ids:
            choices.highlighted = ids.index(self.selected) if self.selected in ids else 0
        choices.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_back(self) -> None:
        self.dismiss(None)


class CompareScreen(Screen[None]):
    """``env_a`` against ``env_b`` (or the repo, :data:`REPO`), grouped by endpoint."""

    CSS_PATH = CSS
    HELP_TITLE = "Compare"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="filter",
                tooltip="Show only endpoints, categories or keys holding the text; esc clears"),
        Binding("a", "toggle_all", "All keys", id="compare.all",
                tooltip="Toggle between the differences only and every key"),
        Binding("n,right_square_bracket", "next_difference", "Next diff", id="compare.next",
                tooltip="Move the cursor to the next differing key"),
        Binding("p,left_square_bracket", "previous_difference", "Prev diff",
                id="compare.previous", tooltip="Move the cursor to the previous differing key"),
        Binding("ctrl+r", "refresh", "Refresh", id="refresh",
                tooltip="Read both sides again"),
        Binding("escape", "back", "Back", id="back",
                tooltip="Clear the filter, else go back to the main screen"),
    ]

    class Compared(Message):
        """The comparison's JSON (every key), from the worker."""

        def __init__(self, data: dict[str, Any]) -> None:
            super().__init__()
            self.data = data

    class Failed(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    def __init__(self, project: Project, env_a: str, env_b: str) -> None:
        super().__init__()
        self.project, self.env_a, self.env_b = project, env_a, env_b
        self.data: dict[str, Any] | None = None
        self.error: str | None = None
        self.all_keys = False
        self.filter_text = ""
        self.shown: list[Row] = []

    @property
    def against_repo(self) -> bool:
        return self.env_b == REPO

    # -- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sides")
        table: DataTable[Text] = DataTable(id="diff", cursor_type="row", zebra_stripes=False)
        yield table
        yield Static(id="summary")
        yield Static(id="ignored")
        yield Input(placeholder="endpoint, category or key; enter keeps it, esc clears it",
                    id="filter")
        yield Footer()

    def on_mount(self) -> None:
        other = "the repo" if self.against_repo else self.env_b
        self.sub_title = f"{self.env_a} against {other}"
        self.query_one("#filter", Input).display = False
        self._load()

    def _load(self) -> None:
        other = "the repo" if self.against_repo else self.env_b
        self.query_one("#sides", Static).update(
            Text(f"comparing {self.env_a} with {other}…", style="dim"))
        self.run_worker(self._compare(), name="compare", group="compare", exclusive=True,
                        exit_on_error=False)

    async def _compare(self) -> None:
        """The worker: the core's comparison, posted back as :class:`Compared`."""
        from workbench import sites

        try:
            if self.against_repo:
                from workbench.drift import drift_json
                from workbench.ops import drift as drift_ops

                found = await drift_ops.repo_drift(self.project, self.env_a,
                                                   sites.open_reachable)
                data = from_drift(drift_json(found), str(self.project.root))
            else:
                from workbench.compare import to_json
                from workbench.ops import diff as diff_ops

                comparison = await diff_ops.diff_envs(self.project, self.env_a, self.env_b,
                                                      (), sites.open_reachable)
                data = to_json(comparison, all_keys=True)
        except Exception as exc:  # every failure is one line on the screen
            self.post_message(self.Failed(failure_line(exc)))
            return
        self.post_message(self.Compared(data))

    def on_compare_screen_compared(self, message: Compared) -> None:
        self.data, self.error = message.data, None
        self._show_sides(message.data)
        self.refill()

    def on_compare_screen_failed(self, message: Failed) -> None:
        self.data, self.error = None, message.line
        self.query_one("#sides", Static).update(Text(f"cannot compare: {message.line}",
                                                     style="bold red"))
        self.refill()

    def _show_sides(self, data: Mapping[str, Any]) -> None:
        text = Text()
        for mark, side in (("A", data["a"]), ("B", data["b"])):
            if text:
                text.append("\n")
            text.append(f"{mark} ", style="bold")
            text.append(side["env"], style="bold")
            text.append(f": {', '.join(side['hosts']) or '(no hosts)'}")
            for host, why in sorted(side["unreachable"].items()):
                text.append(f"\n  {mark} {host} unreachable: {why}", style="red")
        self.query_one("#sides", Static).update(text)

    # -- the table --------------------------------------------------------------------------
    def on_resize(self, _event: Resize) -> None:
        if self.data is not None:  # the two value columns share the width
            self.refill()

    def refill(self) -> None:
        """Show the data again after a load, the toggle or the filter (the cursor stays on
        the same key when it is still shown)."""
        table: DataTable[Text] = self.query_one("#diff", DataTable)
        here = self.current_row
        table.clear(columns=True)
        data = self.data
        if data is None:
            self.shown = []
            self.query_one("#summary", Static).update("")
            self.query_one("#ignored", Static).update("")
            return
        self.shown = rows(data, self.all_keys, self.filter_text)
        width = max(self.size.width, 60)
        key_width = min(max([len(r.key) for r in self.shown] + [8]), width // 4)
        name_width = min(max([len(r.endpoint) for r in self.shown if not r.is_key] + [8]),
                         24)
        column = max(8, (width - 1 - name_width - key_width - 10 - 2) // 2)
        a, b = data["a"], data["b"]
        table.add_column(" ", width=1, key="mark")
        table.add_column("category", width=name_width, key="category")
        table.add_column("key", width=key_width, key="key")
        table.add_column(_side_label("A", a, column), width=column, key="a")
        table.add_column(_side_label("B", b, column), width=column, key="b")
        for index, row in enumerate(self.shown):
            table.add_row(*_cells(row, column), key=str(index))
        self._summary(data)
        if here is not None and here in self.shown:
            table.move_cursor(row=self.shown.index(here))

    @property
    def current_row(self) -> Row | None:
        """The row under the cursor (None when there is none)."""
        table: DataTable[Text] = self.query_one("#diff", DataTable)
        if not self.shown or not 0 <= table.cursor_row < len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def _summary(self, data: Mapping[str, Any]) -> None:
        count = differing(data)
        mode = "every key" if self.all_keys else "differences only"
        parts = [f"{count} difference{'' if count == 1 else 's'}", f"showing {mode} (a)",
                 "n/p jump", "/ filter"]
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if data.get("partial"):
            parts.append("partial: unreachable hosts not compared")
        if not self.shown:
            parts.append("nothing matches the filter" if self.filter_text else
                         "no differences" if not self.all_keys else "no keys")
        self.query_one("#summary", Static).update(Text(" · ".join(parts), style="dim"))
        if data.get("drift"):
            last = ("against the repo: what a deploy would run now, from the release "
                    "records; no normalization applies")
        else:
            from workbench.compare import ignored_line

            last = ignored_line(data["ignored"])
        self.query_one("#ignored", Static).update(Text(last, style="dim"))

    # -- actions ----------------------------------------------------------------------------
    def action_toggle_all(self) -> None:
        self.all_keys = not self.all_keys
        self.refill()

    def action_next_difference(self) -> None:
        self._jump(1)

    def action_previous_difference(self) -> None:
        self._jump(-1)

    def _jump(self, step: int) -> None:
        table: DataTable[Text] = self.query_one("#diff", DataTable)
        start = table.cursor_row if self.shown else -1
        index = start + step
        while 0 <= index < len(self.shown):
            if self.shown[index].differs:
                table.move_cursor(row=index)
                table.focus()
                return
            index += step
        self.app.bell()

    def action_refresh(self) -> None:
        self._load()

    def action_filter(self) -> None:
        bar = self.query_one("#filter", Input)
        bar.value = self.filter_text
        bar.display = True
        bar.focus()

    def action_back(self) -> None:
        bar = self.query_one("#filter", Input)
        if bar.display or self.filter_text:
            bar.display = False
            if self.filter_text:
                self.filter_text = ""
                self.refill()
            self.query_one("#diff", DataTable).focus()
            return
        self.dismiss(None)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refill()

    @on(Input.Submitted, "#filter")
    def _filter_kept(self, _event: Input.Submitted) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#diff", DataTable).focus()


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def _side_label(mark: str, side: Mapping[str, Any], width: int) -> Text:
    """``A staging (host, host)``; hosts that could not be read are counted, in red."""
    down = side["unreachable"]
    hosts = ", ".join(h for h in side["hosts"] if h not in down) or "no hosts"
    if not down:
        return Text(_cut(f"{mark} {side['env']} ({hosts})", width), style="bold")
    return Text(_cut(f"{mark} {side['env']} ({hosts}; {len(down)} unreachable)", width),
                style="bold red")


def _cells(row: Row, column: int) -> tuple[Text, ...]:
    if not row.is_key:
        blank = Text("")
        return (blank, Text(row.endpoint, style="bold"), blank,
                Text(_cut(row.heading, column), style="italic"), blank)
    mark, style = MARKS.get(row.status, ("?", ""))
    b = "" if row.status == NOTE and row.b is None else _cut(row.shown("b"), column)
    return (Text(mark, style=f"bold {style}".strip()), Text(row.category, style="dim"),
            Text(row.key), Text(_cut(row.shown("a"), column), style=style),
            Text(b, style=style))
