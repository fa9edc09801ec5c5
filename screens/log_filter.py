"""A LogView's regex filter (:mod:`screens.log_view`): the input ``/`` opens (enter applies,
esc cancels, empty clears), the error shown inline while a pattern is invalid, and
:meth:`FilterInput.set_filter`; and which of the view's keys apply now. A mixin of
:class:`~screens.log_view.LogView`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual.widgets import Input, Log, Static

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object


class FilterInput(_Base):
    """What LogView does with its filter input."""

    _pattern: re.Pattern[str] | None
    _leveled: bool
    _level: str | None
    _filter_error: str | None
    _filter_input: Input
    _error: Static
    _log: Log

    if TYPE_CHECKING:
        def _rerender(self) -> None: ...

    @property
    def filter_pattern(self) -> str | None:
        """The regex in force, or None."""
        return self._pattern.pattern if self._pattern is not None else None

    @property
    def filter_error(self) -> str | None:
        """Why the last pattern was rejected (shown inline), or None."""
        return self._filter_error

    def set_filter(self, pattern: str | None) -> bool:
        """Show only lines where ``pattern`` (a regex) matches; None or "" shows all.

        An invalid regex keeps the filter in force and shows the error inline; returns False.
        """
        if not pattern:
            compiled = None
        else:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                self._show_error(f"invalid regex {pattern!r}: {exc}")
                return False
        self._show_error(None)
        if compiled != self._pattern:
            self._pattern = compiled
            self._rerender()
        return True

    def _show_error(self, message: str | None) -> None:
        self._filter_error = message
        self._error.update(message or "")
        self.set_class(message is not None, "-error")

    def _filtering(self) -> bool:
        return self.has_class("-filtering")

    def _close_filter(self) -> None:
        self.remove_class("-filtering")
        self._log.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is not self._filter_input:
            return
        event.stop()
        try:
            if event.value:
                re.compile(event.value)
        except re.error as exc:
            self._show_error(f"invalid regex {event.value!r}: {exc}")
        else:
            self._show_error(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is not self._filter_input:
            return
        event.stop()
        if self.set_filter(event.value or None):
            self._close_filter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_filter":
            return self._filtering()
        if action == "cycle_level":  # offered once lines with a level came
            return self._leveled or self._level is not None
        return True

    def action_focus_filter(self) -> None:
        self._filter_input.value = self.filter_pattern or ""
        self.add_class("-filtering")
        self._filter_input.focus()

    def action_cancel_filter(self) -> None:
        self._filter_input.value = self.filter_pattern or ""
        self._show_error(None)
        self._close_filter()

