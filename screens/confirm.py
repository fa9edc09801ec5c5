"""ConfirmByName: a protected environment is changed only after the user types its name."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class ConfirmByName(ModalScreen[bool]):
    """Asks for the environment's name; dismisses True only when it is typed exactly."""

    CSS_PATH = Path(__file__).with_name("confirm.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Cancel", id="back", tooltip="Cancel: change nothing"),
        Binding("f1", "app.help", "Help", id="help", tooltip="Show the keys of this screen"),
    ]
    HELP_TITLE = "Confirm a protected environment"

    def __init__(self, environment: str, what: str) -> None:
        super().__init__()
        self.environment = environment
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = f"Protected environment {self.environment}"
            what = self.what[:1].upper() + self.what[1:]
            yield Static(Text.assemble(f"{what} changes the protected environment ",
                                       (self.environment, "bold"), "."), id="what")
            yield Label(f"Type {self.environment} to confirm:")
            yield Input(placeholder=self.environment, id="name")
            yield Static("", id="error")
            yield Static("enter confirms · esc cancels", id="hint")

    @on(Input.Submitted, "#name")
    def _submitted(self, event: Input.Submitted) -> None:
        typed = event.value.strip()
        if typed == self.environment:
            self.dismiss(True)
            return
        shown = f"'{typed}'" if typed else "nothing"
        self.query_one("#error", Static).update(
            f"You typed {shown}, not '{self.environment}': nothing was changed. "
            "Type the name or press esc.")
        event.input.clear()

    def action_back(self) -> None:
        self.dismiss(False)
