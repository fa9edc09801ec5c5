"""The base of the main screen's panes: a titled, numbered box around one list widget, with a
note line and a text filter (:class:`Pane`), and the filter's match (:func:`matches`)."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static


def matches(text: str, *fields: str | None) -> bool:
    """Case-insensitive substring filter over ``fields``."""
    needle = text.strip().lower()
    return not needle or any(needle in (f or "").lower() for f in fields)


class Pane(Vertical):
    """A titled, numbered pane holding one list widget and a note line."""

    NUMBER = 0
    LABEL = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter_text = ""
        self._retitle()

    @property
    def list_widget(self) -> Widget:
        raise NotImplementedError

    def _retitle(self) -> None:
        shown = f"  /{self.filter_text}" if self.filter_text else ""
        self.border_title = f"{self.NUMBER} {self.LABEL}{shown}"

    def note(self, text: str | Text, *, error: bool = False) -> None:
        """Show a hint (or an error) under the list; empty text hides it."""
        found = self.query(".note")
        if not found:
            if not str(text):
                return  # mounted on the first hint: most panes never need one
            self.mount(Static(text, classes="note error" if error else "note"))
            return
        note = found.first(Static)
        note.update(text)
        note.set_class(error, "error")
        note.display = bool(str(text))

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._retitle()
        self.redraw()

    def redraw(self) -> None:
        """Render the stored data again (after a filter change)."""

    def focus_list(self) -> None:
        self.list_widget.focus()
