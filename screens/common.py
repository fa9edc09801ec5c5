"""Small pieces the screens share: one-line failures and the progress of an operation."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from workbench.errors import WorkbenchError
from workbench.events import Event, StepFinished, StepStarted, Warning


def failure_line(exc: BaseException) -> str:
    """The one line shown for a failed operation: the core's ``exc.line``, or a bug report."""
    if isinstance(exc, WorkbenchError):
        return exc.line
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}; check the path, its permissions and free space"
    return (f"internal error: {type(exc).__name__}: {exc}; rerun with WORKBENCH_DEBUG=1 and "
            "report the traceback")


class OperationEvent(Message):
    """An event of a running operation, posted from its worker thread."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class ProgressLines(Static):
    """The steps of one operation: ``...`` while running, then ``ok`` or ``FAIL`` with time."""

    MAX_LINES = 6

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._lines: list[tuple[str, Text]] = []

    def reset(self) -> None:
        self._lines.clear()
        self.update("")

    def add(self, event: Event) -> None:
        """Show a step's start or finish; other events are ignored."""
        if isinstance(event, StepStarted):
            self._lines.append((event.step, Text.assemble(("... ", "yellow"), event.label)))
        elif isinstance(event, StepFinished):
            if event.ok:
                line = Text.assemble(("ok  ", "green"), event.label,
                                     (f"  {event.duration:.2f}s", "dim"))
            else:
                line = Text.assemble(("FAIL ", "bold red"), event.label,
                                     (f"  {event.detail}", "red"))
            for index, (step, _) in enumerate(self._lines):
                if step == event.step:
                    self._lines[index] = (step, line)
                    break
            else:
                self._lines.append((event.step, line))
        elif isinstance(event, Warning):
            self._lines.append(("", Text.assemble(("warning ", "bold yellow"), event.message)))
        else:
            return
        del self._lines[: -self.MAX_LINES]
        self.update(Text("\n").join(line for _, line in self._lines))
