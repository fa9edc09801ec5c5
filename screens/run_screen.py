"""RunScreen: what the test and deploy screens share, the life of one long operation on screen.

A subclass composes its widgets (a ``timeline`` with start/finish/close, ``log_view``, a
``#result`` Static), and gives :meth:`_run` (the operation, awaited in an async worker on the
app's loop, so the core's events reach the widgets directly), :meth:`_reset` and
:meth:`_finished` (its own widgets) and the wording of the result line. The base does the rest:
events to widgets, ``x`` cancel, leaving (esc, q) only once the cancelled operation has cleaned
up, an unmount that waits for that cleanup too (app exit), the ticking elapsed time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from workbench.events import Event, LogLines, StepFinished, StepStarted, Warning
from workbench.model import Project

from .common import failure_line
from .log_view import LogView

if TYPE_CHECKING:
    from .test_run import Timeline

Phase = Literal["running", "cancelling", "passed", "failed", "error", "cancelled"]
R = TypeVar("R")


def format_duration(seconds: float) -> str:
    """``0.42s``, ``12.3s``, ``2m05s``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


class RunScreen(Screen[None], Generic[R]):
    """One long operation of ``project``'s ``names`` (all endpoints when empty)."""

    TICK = 0.2
    NOUN = "run"
    """What the operation is called in notices: "Cancelling the run; ..."."""
    TITLE_WORD = "Run"
    """The title of its notifications."""
    timeline: Timeline

    def __init__(self, project: Project, names: Sequence[str],
                 clock: Callable[[], float]) -> None:
        super().__init__()
        self.project = project
        self.names = tuple(names)
        self.phase: Phase = "running"
        self.report: R | None = None
        self.error: str | None = None
        self.runs = 0
        self._clock = clock
        self._started = clock()
        self._worker: Worker[R] | None = None
        self._then: Callable[[], object] | None = None  # once the run has ended
        self._unmounting = False
        self.log_view = LogView(id="log")

    # -- for subclasses -----------------------------------------------------------------------
    async def _run(self, *, reload: bool) -> R:
        raise NotImplementedError

    def _reset(self) -> None:
        """Clear the subclass's own widgets before a run."""

    def _finished(self, report: R) -> None:
        """Show a finished run's report in the subclass's own widgets."""

    def _ok(self, report: R) -> bool:
        return bool(getattr(report, "ok", False))

    def _running_text(self, elapsed: str) -> Text:
        return Text(f"● running  {elapsed}")

    def _cancelled_text(self) -> Text:
        return Text("⊘ cancelled", style="bold magenta")

    _cancelling = "⊘ cancelling… cleaning up"

    def _report_line(self, report: R) -> str:
        return str(report)

    # -- the run ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether a run (or its cleanup) is going on."""
        return self.phase in ("running", "cancelling")

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self.names or tuple(e.name for e in self.project.endpoints)

    def _begin(self, *, name: str, group: str) -> None:
        self.phase, self.report, self.error = "running", None, None
        self._started = self._clock()
        self.log_view.clear()
        self._reset()
        self.runs += 1
        self._worker = self.run_worker(self._run(reload=self.runs > 1), name=name, group=group,
                                       exclusive=True, exit_on_error=False)
        self._show_result()
        self.refresh_bindings()

    def _event(self, event: Event) -> None:
        """The core's emit: called on this loop, between the run's awaits."""
        if self._unmounting:
            return
        if isinstance(event, LogLines):
            self.log_view.add(event)
        elif isinstance(event, StepStarted):
            self.timeline.start(event)
        elif isinstance(event, StepFinished):
            self.timeline.finish(event, cancelling=self.phase == "cancelling")
        elif isinstance(event, Warning):
            self.notify(event.message, title=self.TITLE_WORD, severity="warning")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self._worker or not worker.is_finished:
            return
        if event.state == WorkerState.SUCCESS and worker.result is not None:
            self.report = worker.result
            self.phase = "passed" if self._ok(worker.result) else "failed"
            self._finished(worker.result)
        elif event.state == WorkerState.CANCELLED:
            self.phase = "cancelled"
        else:
            self.phase = "error"
            self.error = failure_line(worker.error) if worker.error else \
                f"the {self.NOUN} failed"
        self.timeline.close(cancelled=self.phase == "cancelled")
        self._show_result()
        self.refresh_bindings()
        then, self._then = self._then, None
        if then is not None:
            then()

    def _tick(self) -> None:
        if self.busy:
            self.timeline.refresh()
            self._show_result()

    def _show_result(self) -> None:
        result = self.query_one("#result", Static)
        if self.phase == "running":
            text = self._running_text(format_duration(self._clock() - self._started))
        elif self.phase == "cancelling":
            text = Text(self._cancelling, style="bold magenta")
        elif self.phase == "cancelled":
            text = self._cancelled_text()
        elif self.phase == "error":
            text = Text.assemble(("✗ ", "bold red"), (self.error or "", "red"))
        else:
            assert self.report is not None
            ok = self.phase == "passed"
            text = Text.assemble(("✓ " if ok else "✗ ", "bold green" if ok else "bold red"),
                                 (self._report_line(self.report), "green" if ok else "red"))
        result.update(text)
        result.set_class(self.phase in ("failed", "error"), "-failed")

    def _cancel(self) -> None:
        if self.phase == "running" and self._worker is not None:
            self.phase = "cancelling"
            self._worker.cancel()
            self._show_result()
            self.refresh_bindings()

    async def on_unmount(self) -> None:
        """Never leave a run behind: cancel it and wait for its cleanup (app exit too)."""
        self._unmounting = True
        worker = self._worker
        if worker is not None and not worker.is_finished:
            if not worker.is_cancelled:
                worker.cancel()
            # asyncio.wait: were this handler cancelled, the worker must not be cancelled again
            await asyncio.wait([asyncio.ensure_future(_ended(worker))])

    # -- actions ------------------------------------------------------------------------------
    def action_cancel(self) -> None:
        self._cancel()

    def action_back(self) -> None:
        self._leave(self._dismiss, "going back")

    def action_quit(self) -> None:
        self._leave(self.app.exit, "quitting")

    def _leave(self, then: Callable[[], object], what: str) -> None:
        if not self.busy:
            then()
            return
        self._then = then
        self._cancel()
        self.notify(f"Cancelling the {self.NOUN}; {what} once it has cleaned up.",
                    title=self.TITLE_WORD)

    def _dismiss(self) -> None:
        if self.is_current:
            self.dismiss(None)


async def _ended(worker: Worker[Any]) -> None:
    """Wait until ``worker`` has ended, whatever its outcome."""
    with contextlib.suppress(WorkerCancelled, WorkerFailed):
        await worker.wait()

