"""The new form: kind, name and template of a new endpoint, model or utility.

Names are checked as you type (``workbench.names``); the operation (``ops.new.new_child``)
runs in a thread worker, its steps show as progress lines, and its one-line error shows inline.
The form closes with the :class:`~workbench.ops.new.Created` result.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from workbench import names
from workbench.errors import WorkbenchError
from workbench.events import Event, Warning
from workbench.model import Kind
from workbench.ops.new import Created

from .common import OperationEvent, ProgressLines, failure_line

KINDS: tuple[Kind, ...] = ("endpoint", "model", "utility")


class NewChildForm(ModalScreen[Created | None]):
    """Creates one endpoint, model or utility in the project at ``root``."""

    CSS_PATH = Path(__file__).with_name("new_child.tcss")
    HELP_TITLE = "New endpoint, model or utility"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Cancel", id="back", tooltip="Close the form, create nothing"),
        Binding("ctrl+s", "submit", "Create", id="submit", tooltip="Create it (enter in the "
                "name field does too)"),
        Binding("f1", "app.help", "Help", id="help", tooltip="Show the keys of this screen"),
    ]

    class Done(Message):
        def __init__(self, created: Created) -> None:
            super().__init__()
            self.created = created

    class Failed(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    def __init__(self, root: Path, kind: Kind = "endpoint",
                 templates: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.root = root
        self.kind: Kind = kind
        if templates is None:
            from workbench import scaffold

            templates = tuple(scaffold.available("endpoint"))
        self.templates = templates
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "New endpoint, model or utility"
            dialog.border_subtitle = f"in {self.root}"
            yield Label("Kind", classes="field")
            with RadioSet(id="kind"):
                for kind in KINDS:
                    yield RadioButton(kind, value=kind == self.kind, id=f"kind-{kind}")
            yield Label("Name", classes="field")
            yield Input(placeholder="e.g. orders: a-z, 0-9 and '-'", id="name")
            yield Static("", id="problem")
            yield Label("Template", classes="field", id="template-label")
            with RadioSet(id="template"):
                for index, template in enumerate(self.templates):
                    yield RadioButton(template, value=index == 0, id=f"template-{template}")
            yield ProgressLines(id="progress")
            with Horizontal(id="buttons"):
                yield Button("Create", variant="primary", id="create")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._show_template()
        self.query_one("#name", Input).focus()

    # -- input ------------------------------------------------------------------------------
    @property
    def template(self) -> str | None:
        if self.kind != "endpoint":
            return None
        pressed = self.query_one("#template", RadioSet).pressed_button
        return str(pressed.label) if pressed is not None else None

    def _show_template(self) -> None:
        endpoint = self.kind == "endpoint"
        self.query_one("#template-label").display = endpoint
        self.query_one("#template").display = endpoint

    def _problem(self, text: str) -> None:
        self.query_one("#problem", Static).update(text)

    @on(RadioSet.Changed, "#kind")
    def _kind_changed(self, event: RadioSet.Changed) -> None:
        self.kind = cast(Kind, str(event.pressed.label))
        self._show_template()
        self._check_live(self.query_one("#name", Input).value)

    @on(Input.Changed, "#name")
    def _name_changed(self, event: Input.Changed) -> None:
        self._check_live(event.value)

    def _check_live(self, value: str) -> None:
        reason = names.problem(value) if value else None
        self._problem(f"{reason}" if reason else "")

    @on(Input.Submitted, "#name")
    def _name_submitted(self, _event: Input.Submitted) -> None:
        self.action_submit()

    @on(Button.Pressed, "#create")
    def _create_pressed(self, _event: Button.Pressed) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, _event: Button.Pressed) -> None:
        self.action_back()

    # -- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("back", "submit") and self.busy:
            return None
        return True

    def action_back(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def action_submit(self) -> None:
        if self.busy:
            return
        name = self.query_one("#name", Input).value.strip()
        try:
            names.check(name, self.kind)
        except WorkbenchError as exc:
            self._problem(exc.line)
            self.query_one("#name", Input).focus()
            return
        self._problem("")
        self._set_busy(True)
        self.query_one(ProgressLines).reset()
        self._create(self.kind, name, self.template)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        for selector in ("#kind", "#name", "#template", "#create", "#cancel"):
            self.query_one(selector).disabled = busy
        self.refresh_bindings()

    # -- work -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="new")
    def _create(self, kind: Kind, name: str, template: str | None) -> None:
        from workbench.ops.new import new_child

        def emit(event: Event) -> None:
            self.post_message(OperationEvent(event))

        try:
            created = new_child(self.root, kind, name, template=template, emit=emit)
        except Exception as exc:  # shown inline; the app keeps running
            self.post_message(self.Failed(failure_line(exc)))
            return
        self.post_message(self.Done(created))

    def on_operation_event(self, message: OperationEvent) -> None:
        self.query_one(ProgressLines).add(message.event)
        if isinstance(message.event, Warning):  # outlives the form: a notification too
            self.notify(message.event.message, title="New", severity="warning")

    def on_new_child_form_done(self, message: Done) -> None:
        self.busy = False
        self.dismiss(message.created)

    def on_new_child_form_failed(self, message: Failed) -> None:
        self._set_busy(False)
        self._problem(message.line)
        self.query_one("#name", Input).focus()
