"""The main screen's filter bar (a mixin of :class:`~screens.main.MainScreen`): ``/``
narrows the focused pane's list as you type, enter keeps the filter, esc clears it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer, Input

from .panes import EndpointsPane, Pane

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[None]
else:
    _Base = object


class FilterActions(_Base):
    """``/`` and esc, and the filter input's events."""

    _filter_target: Pane | None

    if TYPE_CHECKING:
        @property
        def focused_pane(self) -> Pane | None: ...

    @property
    def filter_bar(self) -> Input | None:
        """The filter input, once "/" has mounted it."""
        found = self.query("#filter")
        return found.first(Input) if found else None

    async def action_filter(self) -> None:
        target = self.focused_pane or self.query_one(EndpointsPane)
        self._filter_target = target
        bar = self.filter_bar
        if bar is None:
            bar = Input(placeholder="type to narrow the list; enter keeps it, esc clears it",
                        id="filter")
            await self.mount(bar, before=self.query_one(Footer))
        bar.border_title = f"filter {target.LABEL.lower()}"
        bar.value = target.filter_text
        bar.display = True
        bar.focus()

    def action_back(self) -> None:
        bar = self.filter_bar
        if bar is not None and bar.display and self._filter_target is not None:
            target = self._filter_target
            target.apply_filter("")
            self._close_filter()
            return
        pane = self.focused_pane
        if pane is not None and pane.filter_text:
            pane.apply_filter("")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter" and self._filter_target is not None:
            self._filter_target.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self._close_filter()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        if event.input.id == "filter":
            event.input.display = False

    def _close_filter(self) -> None:
        if self.filter_bar is not None:
            self.filter_bar.display = False
        if self._filter_target is not None:
            self._filter_target.focus_list()
