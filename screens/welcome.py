"""The welcome screen: no project here and none registered, so create one or open the demo."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Static

from workbench import names
from workbench.errors import WorkbenchError
from workbench.events import Event, Warning

from .common import OperationEvent, ProgressLines, failure_line
from .palette import Command


class WelcomeScreen(Screen[None]):
    """Offers ``new_project`` in the start folder, or the demo project (``ensure_demo``)."""

    CSS_PATH = Path(__file__).with_name("welcome.tcss")
    HELP_TITLE = "Welcome"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "create", "Create", id="create",
                tooltip="Create the project named in the field (enter does too)"),
        Binding("ctrl+o", "demo", "Open demo", id="demo",
                tooltip="Create (once) and open the demo project in your data folder"),
    ]

    class Opened(Message):
        """A project is ready to be shown."""

        def __init__(self, root: Path) -> None:
            super().__init__()
            self.root = root

    class Failed(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    def __init__(self, start: Path) -> None:
        super().__init__()
        self.start = start
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Welcome to workbench"
            yield Static(f"There is no project in {self.start}, and none is registered yet.",
                         classes="intro")
            yield Static(f"Create a project in {self.start}:")
            with Horizontal(id="create-row"):
                yield Input(placeholder="project name, e.g. shop", id="name")
                yield Button("Create", variant="primary", id="create")
            yield Static("", id="problem")
            with Horizontal(id="demo-row"):
                yield Static("Or look around a demo project: two endpoints, a model, a "
                             "utility and three environments.", id="demo-text")
                yield Button("Open demo", id="demo")
            yield ProgressLines(id="progress")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.start)
        self.query_one("#name", Input).focus()

    def commands(self) -> Iterable[Command]:
        """Every action of this screen, for the command palette."""
        yield Command("Create project", f"Create the project named in the field in {self.start}",
                      "create")
        yield Command("Open demo project", "Create (once) and open the demo project", "demo")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("create", "demo") and self.busy:
            return None
        return True

    @on(Input.Changed, "#name")
    def _name_changed(self, event: Input.Changed) -> None:
        reason = names.problem(event.value) if event.value else None
        self.query_one("#problem", Static).update(reason or "")

    @on(Input.Submitted, "#name")
    @on(Button.Pressed, "#create")
    def _create_requested(self) -> None:
        self.action_create()

    @on(Button.Pressed, "#demo")
    def _demo_requested(self) -> None:
        self.action_demo()

    def action_create(self) -> None:
        if self.busy:
            return
        name = self.query_one("#name", Input).value.strip()
        try:
            names.check(name, "project")
        except WorkbenchError as exc:
            self.query_one("#problem", Static).update(exc.line)
            return
        self._start()
        self._create(name)

    def action_demo(self) -> None:
        if not self.busy:
            self._start()
            self._demo()

    def _start(self) -> None:
        self.busy = True
        self.query_one("#problem", Static).update("")
        self.query_one(ProgressLines).reset()
        self.refresh_bindings()

    def _emit(self, event: Event) -> None:
        self.post_message(OperationEvent(event))

    @work(thread=True, exclusive=True, group="welcome")
    def _create(self, name: str) -> None:
        from workbench.ops.new import new_project

        try:
            created = new_project(self.start, name, emit=self._emit)
        except Exception as exc:
            self.post_message(self.Failed(failure_line(exc)))
            return
        self.post_message(self.Opened(created.path))

    @work(thread=True, exclusive=True, group="welcome")
    def _demo(self) -> None:
        from workbench.ops.demo import ensure_demo

        try:
            root = ensure_demo(emit=self._emit)
        except Exception as exc:
            self.post_message(self.Failed(failure_line(exc)))
            return
        self.post_message(self.Opened(root))

    def on_operation_event(self, message: OperationEvent) -> None:
        self.query_one(ProgressLines).add(message.event)
        if isinstance(message.event, Warning):  # outlives the form: a notification too
            self.notify(message.event.message, title="New project", severity="warning")

    def on_welcome_screen_failed(self, message: Failed) -> None:
        self.busy = False
        self.query_one("#problem", Static).update(message.line)
        self.refresh_bindings()

    def on_welcome_screen_opened(self, message: Opened) -> None:
        self.busy = False  # the app switches to the main screen (the message bubbles up)
