"""The sync screen: every repo of the project fetched at once (:func:`workbench.ops.sync.
sync_project`), one row each, filled in as each repo finishes: branch, ahead/behind, dirty and
what was done (fast-forwarded, diverged: not touched, failed: why...).

The sync runs in a thread worker; its events come back as messages. ``p`` syncs again and
pushes the repos that are ahead, ``s`` syncs again, ``x`` cancels (git processes are stopped),
esc goes back (cancelling a running sync first).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.events import Event, StepFinished, StepStarted
from workbench.model import KIND_FOLDERS, Project

from .common import OperationEvent, failure_line

if TYPE_CHECKING:  # the operation is imported when the screen works, not when the app starts
    from workbench.gitcmd import GitSession
    from workbench.ops.sync import RepoSync, SyncReport

COLUMNS = ("repo", "branch", "ahead/behind", "dirty", "result")


class SyncScreen(Screen["SyncReport | None"]):
    """Syncs every repo of ``project``; dismissed with the last report (None if none)."""

    CSS_PATH = Path(__file__).with_name("sync_view.tcss")
    HELP_TITLE = "Sync"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sync", "Sync again", id="sync",
                tooltip="Fetch every repo again and fast-forward the ones behind"),
        Binding("p", "sync(True)", "Sync and push", id="push",
                tooltip="Sync, and push the repos that are ahead of their remote"),
        Binding("x", "cancel", "Cancel", id="cancel",
                tooltip="Stop the running sync (every git process is stopped)"),
        Binding("escape", "back", "Back", id="back",
                tooltip="Back to the main screen (a running sync is cancelled first)"),
    ]

    class Done(Message):
        def __init__(self, report: SyncReport | None, error: str | None) -> None:
            super().__init__()
            self.report, self.error = report, error

    def __init__(self, project: Project, *, push: bool = False) -> None:
        super().__init__()
        self.project = project
        self.push = push
        self.running = False
        self.report: SyncReport | None = None
        self._session: GitSession | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="summary")
        table: DataTable[str | Text] = DataTable(id="repos", cursor_type="row")
        for column in COLUMNS:
            table.add_column(column, key=column)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.project.root)
        self._start(self.push)

    # -- the run ----------------------------------------------------------------------------
    def _start(self, push: bool) -> None:
        from workbench.gitcmd import GitSession

        table = self.query_one(DataTable)
        table.clear()
        table.add_row(f"project {self.project.name}", "", "", "", Text("· waiting", "dim"),
                      key=self.project.name)
        for kind in KIND_FOLDERS:
            for child in self.project.children:
                if child.kind == kind:
                    table.add_row(f"{kind} {child.name}", "", "", "",
                                  Text("· waiting", "dim"), key=child.name)
        self.running = True
        self._session = GitSession()
        self._show_summary(Text(f"● syncing{' and pushing' if push else ''} "
                                f"{table.row_count} repos…", "bold yellow"))
        self.refresh_bindings()
        self._sync(push, self._session)

    @work(thread=True, exclusive=True, group="sync")
    def _sync(self, push: bool, session: GitSession) -> None:
        from workbench.ops.sync import sync_project

        def emit(event: Event) -> None:
            self.post_message(OperationEvent(event))

        try:
            report = sync_project(self.project.root, push=push, emit=emit, session=session)
        except Exception as exc:  # shown on screen; the app keeps running
            self.post_message(self.Done(None, failure_line(exc)))
        else:
            self.post_message(self.Done(report, None))
        finally:
            session.close()

    def on_operation_event(self, message: OperationEvent) -> None:
        event = message.event
        table = self.query_one(DataTable)
        name = getattr(event, "step", "").removeprefix("sync:")
        if name not in table.rows:
            return
        if isinstance(event, StepStarted):
            table.update_cell(name, "result", Text("● fetching…", "yellow"))
        elif isinstance(event, StepFinished):
            style = "green" if event.ok else "bold red"
            table.update_cell(name, "result", Text(("✓ " if event.ok else "✗ ") + event.detail,
                                                   style), update_width=True)

    def on_sync_screen_done(self, message: Done) -> None:
        self.running = False
        self.refresh_bindings()
        if message.report is None:
            self._show_summary(Text(f"✗ {message.error}", "bold red"))
            return
        self.report = message.report
        table = self.query_one(DataTable)
        for repo in message.report.repos:
            if repo.name in table.rows:
                for column, value in zip(COLUMNS[1:], cells(repo), strict=True):
                    table.update_cell(repo.name, column, value, update_width=True)
        ok = message.report.ok
        self._show_summary(Text(("✓ " if ok else "✗ ") + message.report.summary(),
                                "bold green" if ok else "bold red"))

    def _show_summary(self, text: Text) -> None:
        self.query_one("#summary", Static).update(text)

    # -- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sync":
            return None if self.running else True
        if action == "cancel":
            return True if self.running else None
        return True

    def action_sync(self, push: bool = False) -> None:
        if not self.running:
            self._start(push)

    def action_cancel(self) -> None:
        if self.running and self._session is not None:
            self._session.cancel()

    def action_back(self) -> None:
        self.action_cancel()
        self.dismiss(self.report)


def cells(repo: RepoSync) -> tuple[str | Text, ...]:
    """branch, ahead/behind, dirty and result of one repo."""
    ahead_behind = f"↑{repo.ahead} ↓{repo.behind}" if repo.upstream else "-"
    result = Text(("✓ " if repo.ok else "✗ ") + repo.line(),
                  "green" if repo.ok else "bold red")
    return (repo.branch or "-", ahead_behind,
            Text("dirty", "yellow") if repo.dirty else Text("clean", "green"), result)

