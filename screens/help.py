"""The help screen: the keys of the screen it was opened from, with what they do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


@dataclass(frozen=True, slots=True)
class KeyHelp:
    """One action of a screen and the keys that run it (after the user's keymap)."""

    keys: tuple[str, ...]
    binding_id: str
    description: str
    detail: str
    everywhere: bool


def describe(screen: Screen[Any]) -> list[KeyHelp]:
    """The bindings with an id that are active on ``screen``: its own first, then the app's."""
    found: dict[str, KeyHelp] = {}
    app = screen.app
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.id:
            continue
        key = app.get_key_display(binding)
        known = found.get(binding.id)
        if known is not None:
            if key not in known.keys:
                found[binding.id] = KeyHelp((*known.keys, key), known.binding_id,
                                            known.description, known.detail, known.everywhere)
            continue
        found[binding.id] = KeyHelp((key,), binding.id, binding.description or binding.id,
                                    binding.tooltip, active.node is app)
    order = {**_declared(type(app)), **_declared(type(screen))}
    return sorted(found.values(),
                  key=lambda item: (item.everywhere, order.get(item.binding_id, len(order))))


def _declared(cls: type) -> dict[str, int]:
    """Binding ids in the order the class (then its bases) declares them."""
    ids = [binding.id for base in cls.__mro__ for binding in base.__dict__.get("BINDINGS", ())
           if isinstance(binding, Binding) and binding.id]
    return {binding_id: index for index, binding_id in reversed(list(enumerate(ids)))}


class HelpScreen(ModalScreen[None]):
    """Lists the keys of one screen; esc or ? closes it."""

    CSS_PATH = Path(__file__).with_name("help.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Close", id="back", tooltip="Close the help"),
        Binding("question_mark,f1", "back", "Close", id="help", tooltip="Close the help"),
        Binding("q", "app.quit", "Quit", id="quit", tooltip="Quit workbench"),
    ]
    HELP_TITLE = "Help"

    def __init__(self, title: str, keys: list[KeyHelp]) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog") as dialog:
            dialog.border_title = f"Keys: {self.title_text}"
            dialog.border_subtitle = "esc closes"
            yield Static(self._table(), id="keys")

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action", no_wrap=True)
        table.add_column("what it does", ratio=1)
        table.add_column("id (config.yaml keys:)", style="dim", no_wrap=True)
        section = None
        for item in self.keys:
            heading = "everywhere" if item.everywhere else "this screen"
            if heading != section:
                if section is not None:
                    table.add_row()
                table.add_row(Text(heading, style="underline"), "", "", "")
                section = heading
            table.add_row(Text(", ".join(item.keys)), Text(item.description), Text(item.detail),
                          Text(item.binding_id))
        return table

    def action_back(self) -> None:
        self.dismiss(None)
