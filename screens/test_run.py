"""The test screen: one run of the local test loop (:func:`workbench.ops.test.test_endpoints`).

On top the result, on the left a timeline of every endpoint's steps (pending, running with its
elapsed time, ok or failed with the duration, skipped), on the right the :class:`LogView` fed
with the run's log batches (``s`` there cycles the sources, one per endpoint and step kind).

The run is an async worker on the app's loop, so the core's events reach the widgets directly.
``x`` cancels it: the operation removes what it started before the cancel ends (as for Ctrl-C).
``t`` runs it again. Leaving (esc, q) during a run cancels it and leaves once that cleanup is
done; if the screen goes away otherwise (app exit), its unmount waits for the cleanup too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Static

from workbench.events import StepFinished, StepStarted
from workbench.model import Project, load_project
from workbench.ops.test import STEPS, EndpointReport, TestOptions, TestReport, test_endpoints

from .palette import Command
from .run_screen import RunScreen, format_duration

State = Literal["pending", "running", "ok", "failed", "skipped", "cancelled"]

MARKS: dict[State, tuple[str, str]] = {
    "pending": ("·", "dim"),
    "running": ("●", "bold yellow"),
    "ok": ("✓", "bold green"),
    "failed": ("✗", "bold red"),
    "skipped": ("-", "dim"),
    "cancelled": ("⊘", "bold magenta"),
}


def result_line(report: TestReport) -> str:
    """``2 passed, 1 failed: orders (health: GET /health ...)``."""
    failed = [r for r in report.endpoints if not r.ok]
    line = f"{len(report.endpoints) - len(failed)} passed"
    if failed:
        line += f", {len(failed)} failed: " + ", ".join(
            f"{r.name} ({r.failed_step}: {r.reason})" for r in failed)
    return line


def failure_text(reports: Iterable[EndpointReport]) -> Text:
    """Why each failed endpoint failed, with the container's last lines."""
    text = Text()
    for report in reports:
        if report.ok:
            continue
        text.append(f"{report.name} failed at {report.failed_step}\n", style="bold red")
        text.append(f"{report.reason}\n")
        if report.last_lines:
            text.append("last lines of the container:\n", style="dim")
            for line in report.last_lines:
                text.append(f"  {line}\n")
        text.append("\n")
    text.rstrip()
    return text


@dataclass(slots=True)
class StepRow:
    """One endpoint x step of the timeline."""

    endpoint: str
    step: str
    label: str
    state: State = "pending"
    started: float | None = None
    duration: float | None = None
    detail: str = ""


class Timeline(Static):
    """Every endpoint's steps in order, redrawn on each step event and on the screen's tick."""

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._clock = clock
        self._groups: dict[str, dict[str, StepRow]] = {}

    @property
    def rows(self) -> list[StepRow]:
        return [row for group in self._groups.values() for row in group.values()]

    def row(self, step: str) -> StepRow:
        """The row of ``step`` (``<endpoint>/<suffix>``)."""
        return self._groups[step.partition("/")[0]][step]

    @property
    def running(self) -> bool:
        return any(row.state == "running" for row in self.rows)

    def reset(self, endpoints: Sequence[str]) -> None:
        """Every step of ``endpoints``, pending."""
        self._groups = {name: {f"{name}/{suffix}": StepRow(name, f"{name}/{suffix}", label)
                               for suffix, label in STEPS} for name in endpoints}
        self.refresh(layout=True)

    def _row(self, step: str, label: str) -> StepRow:
        endpoint = step.partition("/")[0]
        group = self._groups.setdefault(endpoint, {})
        if step not in group:  # a step the timeline did not expect: shown all the same
            group[step] = StepRow(endpoint, step, label.removeprefix(f"{endpoint}: "))
        return group[step]

    def start(self, event: StepStarted) -> None:
        row = self._row(event.step, event.label)
        row.state, row.started = "running", self._clock()
        self.refresh(layout=True)

    def finish(self, event: StepFinished, *, cancelling: bool = False) -> None:
        """A step ended; while cancelling, a step cut off shows as cancelled (not cleanup)."""
        row = self._row(event.step, event.label)
        row.duration = event.duration
        if event.ok:
            row.state = "ok"
        elif cancelling and not event.step.endswith("/cleanup"):
            row.state = "cancelled"
        else:
            row.state, row.detail = "failed", event.detail
        self.refresh(layout=True)  # a detail line, or a step it did not expect

    def close(self, *, cancelled: bool) -> None:
        """The run ended: steps never started were skipped; any still running were cut off."""
        for row in self.rows:
            if row.state == "pending":
                row.state = "skipped"
            elif row.state == "running":
                row.state = "cancelled" if cancelled else "failed"
                if row.started is not None:
                    row.duration = self._clock() - row.started
        self.refresh(layout=True)

    def _heading(self, endpoint: str, rows: list[StepRow]) -> Text:
        """What follows the endpoint's name: its outcome so far."""
        return _outcome(rows)

    def render(self) -> Text:
        now = self._clock()
        width = max((len(row.label) for row in self.rows), default=0)
        text = Text(no_wrap=False)
        for index, (endpoint, group) in enumerate(self._groups.items()):
            if index:
                text.append("\n")
            text.append(endpoint, style="bold")
            text.append(self._heading(endpoint, list(group.values())))
            for row in group.values():
                mark, style = MARKS[row.state]
                text.append(f"\n {mark} ", style=style)
                text.append(f"{row.label:<{width}}  ",
                            style="dim" if row.state in ("pending", "skipped") else "")
                if row.state == "running" and row.started is not None:
                    text.append(format_duration(now - row.started), style="yellow")
                elif row.duration is not None:
                    text.append(format_duration(row.duration), style="dim")
                elif row.state == "skipped":
                    text.append("skipped", style="dim")
                if row.detail:
                    text.append(f"\n     {row.detail}", style="red")
        return text


def _outcome(rows: Iterable[StepRow]) -> Text:
    """An endpoint's state after its name: failed, cancelled, running or passed."""
    states = {row.state for row in rows}
    shown: tuple[State, ...] = ("failed", "cancelled", "running")
    for state in shown:
        if state in states:
            return Text(f"  {state}", style=MARKS[state][1])
    if states == {"ok"}:
        return Text("  passed", style=MARKS["ok"][1])
    return Text()


class TestRunScreen(RunScreen[TestReport]):
    """Tests ``names`` of ``project`` (all its endpoints when empty), starting on mount."""

    __test__ = False  # not a pytest class

    CSS_PATH = Path(__file__).with_name("test_run.tcss")
    HELP_TITLE = "Test run"
    NOUN = "run"
    TITLE_WORD = "Test"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "cancel", "Cancel run", id="cancel",
                tooltip="Stop the run; the containers, volumes and networks it started are "
                "removed (as for Ctrl-C in batch mode)"),
        Binding("t", "test", "Run again", id="test",
                tooltip="Run the same tests again (the project files are read again)"),
        Binding("escape", "back", "Back", id="back",
                tooltip="Back to the main screen; a running test is cancelled and cleaned "
                "up first"),
        Binding("q", "quit", "Quit", id="quit", show=False,
                tooltip="Quit workbench; a running test is cancelled and cleaned up first"),
    ]

    def __init__(self, project: Project, names: Sequence[str] = (), *,
                 options: TestOptions | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(project, names, clock)
        self.options = options or TestOptions()
        self.timeline = Timeline(clock, id="timeline")

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="result")
        with Horizontal(id="body"):
            with VerticalScroll(id="steps") as steps:
                steps.border_title = "Steps"
                yield self.timeline
                yield Static("", id="failures")
            yield self.log_view
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"test {', '.join(self.names) or 'all endpoints'} of {self.project.name}"
        self.log_view.border_title = "Logs (s: source)"
        self.log_view.focus()
        self.set_interval(self.TICK, self._tick)
        self._start()

    # -- the run ----------------------------------------------------------------------------
    def _start(self) -> None:
        self._begin(name="test", group="test")

    def _reset(self) -> None:
        self.timeline.reset(self.endpoints)
        self.query_one("#failures", Static).update("")

    async def _run(self, *, reload: bool) -> TestReport:
        if reload:  # edits to endpoint.yaml count on the next run
            self.project = await asyncio.to_thread(load_project, self.project.root)
            self.timeline.reset(self.endpoints)
        return await test_endpoints(self.project, self.names, self._event, self.options)

    def _finished(self, report: TestReport) -> None:
        self.query_one("#failures", Static).update(failure_text(report.endpoints))

    def _running_text(self, elapsed: str) -> Text:
        what = ", ".join(self.names) or f"all {len(self.endpoints)} endpoints"
        return Text.assemble(("● ", "bold yellow"), f"testing {what}  ", (elapsed, "yellow"),
                             ("   x cancels", "dim"))

    def _cancelled_text(self) -> Text:
        return Text.assemble(("⊘ cancelled", "bold magenta"),
                             ("; what the run started was removed.  t runs again", "dim"))

    def _report_line(self, report: TestReport) -> str:
        return result_line(report)

    # -- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return True if self.phase == "running" else None
        if action == "test":
            return None if self.busy else True
        return True

    def action_test(self) -> None:
        if not self.busy:
            self._start()

    def commands(self) -> Iterable[Command]:
        """This screen's actions for the palette (the app adds help and quit)."""
        yield Command("Cancel run", "Stop the run and remove what it started", "cancel")
        yield Command("Run again", "Run the same tests again", "test")
        yield Command("Back", "Back to the main screen (cancels a running test first)", "back")

