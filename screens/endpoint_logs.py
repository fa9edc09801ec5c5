"""The logs of one endpoint in one environment: every host's container, merged in time order.

``l`` on the main screen opens it for the highlighted endpoint x environment. It follows
:func:`workbench.ops.logs.stream_logs` (the last lines first) into a
:class:`~screens.log_view.LogView`, whose sources are ``endpoint@host`` (``s`` cycles them:
one host, then the next, then all). Each line shows Docker's time, its source, and for a JSON
line its level (coloured), message and fields; ``v`` shows only lines of at least a level
(info, warning, error, critical, then all again). ``esc`` stops the stream (every reader thread
and SSH connection is closed) and goes back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from workbench.model import Project

from .common import failure_line
from .log_view import LogView

TAIL = 200
"""Lines of each container shown before following."""


class EndpointLogs(Screen[None]):
    """Follows ``endpoint``'s logs on every host of ``env``."""

    CSS_PATH = Path(__file__).with_name("endpoint_logs.tcss")
    HELP_TITLE = "Endpoint logs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="back",
                tooltip="Stop following (every stream is closed) and go back"),
    ]

    def __init__(self, project: Project, env: str, endpoint: str) -> None:
        super().__init__()
        self.project, self.env, self.endpoint = project, env, endpoint
        self.stop = asyncio.Event()
        self.ended: str | None = None
        """How the stream ended ("" when it ended on its own), None while it runs."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text.assemble(("logs of ", "dim"), (self.endpoint, "bold"), (" in ", "dim"),
                                   (self.env, "bold"), ("  following every host", "dim")),
                     id="logs-title")
        yield LogView(id="logs")
        yield Footer()

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        self.sub_title = f"{self.endpoint} in {self.env}"
        self.run_worker(self._follow(), name="logs", group="logs", exclusive=True,
                        exit_on_error=False)
        self.log_view.focus()

    async def _follow(self) -> None:
        from workbench.ops.logs import LogBatch, LogQuery, stream_logs

        view = self.log_view

        def take(batch: LogBatch) -> None:
            lines = batch.lines
            if lines.times or batch.dropped:  # one Log write for the whole batch
                view.add_lines(lines.sources, lines.shown(), lines.levels, batch.dropped)
            for host, why in batch.unreachable.items():
                self.notify(f"{host}: {why}", title="Logs", severity="warning")
            for note in batch.notes:
                self.notify(note, title="Logs", severity="warning")

        query = LogQuery(endpoints=(self.endpoint,), tail=TAIL, follow=True)
        try:
            await stream_logs(self.project, self.env, query, take, stop=self.stop)
        except asyncio.CancelledError:
            self.ended = "cancelled"
            raise
        except Exception as exc:  # unreachable, auth: shown, never raised
            self.ended = failure_line(exc)
            self.notify(self.ended, title="Logs", severity="error")
            return
        self.ended = ""

    def action_back(self) -> None:
        self.stop.set()
        self.dismiss(None)
