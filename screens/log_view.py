"""LogView: live logs from the core's event stream (:class:`workbench.events.LogLines`).

The test-loop, deploy and endpoint-logs screens embed it. It is built to keep up with ~100k
lines/s::

    LogLines batch --add()/post()--> bounded deque of (source, stamp, line, level)  (the history)
    lines of many sources --add_lines()-/  \\-> the lines that pass the filters --> Log.write_lines

- The history is a ``deque(maxlen=max_lines)``; whatever falls out of it is counted as dropped
  ("buffer"), beside what the producer reported with ``LogLines.dropped`` ("producer").
- The hot path appends a batch and makes one ``Log.write_lines`` call with the lines that pass
  the source, level and regex filters (``post()`` coalesces every batch queued since the last
  flush into one call; ``add_lines()`` takes a batch of several sources, as
  :func:`workbench.ops.logs.stream_logs` merges them). Changing filter, source, level,
  timestamps or wrap re-renders the Log from the history, as does a resize while wrap is on.
- Level (``v``): only lines of at least a level; a line without a level (every line of
  ``add()``) is then hidden. The Log colours the level word of parsed lines
  (:class:`~screens.log_text.LevelHighlighter`, at render time only).
- Paused: batches go into the history and are counted as new, not shown. Resume shows those
  still in the history (the history is the bounded buffer: overflow is counted as dropped).
- Timestamps are taken when a batch arrives (one per batch), ``HH:MM:SS.mmm``, local time from
  an injectable ``clock``.
- Wrap: the view hard-wraps lines at the Log's content width when it writes them and
  re-renders on resize. Continuation rows are separate rows in ``Log.lines``. Lines holding
  breaks are stored as several lines (:mod:`screens.log_text`).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import islice, repeat
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import Input, Static

from workbench.events import LogLines

from . import log_text as text
from .log_filter import FilterInput
from .log_inbox import FlushInbox, LogInbox
from .log_status import Status, ViewState, status_content
from .log_text import LEVELS, RANKS, format_stamp
from .log_widget import FastLog

__all__ = ["DEFAULT_MAX_LINES", "LogView", "format_stamp"]

DEFAULT_MAX_LINES = 10_000

Entry = tuple[str, str, str, int]
"""One stored line: (source, arrival stamp, text, level rank: 0 = no level)."""


class LogView(FilterInput, ViewState, Widget):
    """A status line, a filter input and a :class:`~textual.widgets.Log`, fed with LogLines."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    BINDINGS = [
        Binding("f", "toggle_follow", "Follow/pause", id="log_view.follow"),
        Binding("w", "toggle_wrap", "Wrap", id="log_view.wrap"),
        Binding("T", "toggle_timestamps", "Timestamps", id="log_view.timestamps"),
        Binding("slash", "focus_filter", "Filter", id="log_view.filter"),
        Binding("s", "cycle_source", "Source", id="log_view.source"),
        Binding("v", "cycle_level", "Level", id="log_view.level"),
        Binding("c", "clear", "Clear", id="log_view.clear"),
        Binding("escape", "cancel_filter", "Cancel", show=False, id="log_view.cancel_filter"),
    ]

    def __init__(
        self,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        follow: bool = True,
        wrap: bool = False,
        timestamps: bool = False,
        clock: Callable[[], datetime] = datetime.now,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """Create the view.

        Args:
            max_lines: Lines kept in the history (and rows in the Log); older ones are dropped
                and counted.
            follow: Start following (True) or paused.
            wrap: Start with wrap on.
            timestamps: Start with arrival timestamps shown.
            clock: Gives the arrival time of a batch (inject a fixed one in tests).
        """
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = max_lines
        self._clock = clock
        self._history: deque[Entry] = deque(maxlen=max_lines)
        self._sources: dict[str, None] = {}  # first-seen order
        self._source: str | None = None
        self._level: str | None = None
        self._leveled = False  # some line had a level: ``v`` is offered
        self._pattern: re.Pattern[str] | None = None
        self._filter_error: str | None = None
        self._paused = not follow
        self._pending = 0  # lines that arrived while paused (some may have been dropped since)
        self._wrap = wrap
        self._wrap_width = 0
        self._timestamps = timestamps
        self._producer_dropped = 0
        self._buffer_dropped = 0
        self._inbox = LogInbox(max_lines)  # post(): batches from any thread wait here
        self._status_scheduled = False

        self._status = Static("", classes="log-view--status", markup=False)
        self._filter_input = Input(
            placeholder="regex filter (enter applies, esc cancels, empty clears)",
            compact=True,
            select_on_focus=True,
            classes="log-view--filter",
        )
        self._error = Static("", classes="log-view--error", markup=False)
        self._log = FastLog(max_lines=max_lines, auto_scroll=True, highlight=True)
        self._log.highlighter = text.LevelHighlighter()
        self.set_class(wrap, "-wrap")

    def compose(self) -> ComposeResult:
        yield self._status
        yield self._filter_input
        yield self._error
        yield self._log

    def on_mount(self) -> None:
        self._rerender()
        self._update_status()

    # -- feeding ---------------------------------------------------------------------------

    def add(self, event: LogLines) -> None:
        """Take one batch. Call on the UI thread (use :meth:`post` from other threads)."""
        rows = self._ingest(event)
        if rows and self._log.is_mounted:
            self._write(rows)
        self._status_changed()

    def add_lines(self, sources: Sequence[str], lines: Sequence[str],
                  levels: Sequence[str] | None = None, dropped: int = 0) -> None:
        """Take lines of several sources at once (``sources[i]`` is line i's, ``levels[i]``
        its level word or ""), in one Log write. Call on the UI thread."""
        self._producer_dropped += dropped
        if lines:
            ranks = ([RANKS.get(word, 20) if word else 0 for word in levels]
                     if levels is not None else [0] * len(lines))
            if not self._leveled and any(ranks):
                self._leveled = True
                self.refresh_bindings()
            if text.has_breaks(lines):  # one entry per row
                rows = [(s, row, r) for s, line, r in zip(sources, lines, ranks, strict=True)
                        for row in text.split_rows(line)]
                sources, lines, ranks = ([e[i] for e in rows] for i in range(3))  # type: ignore[assignment]
            shown = self._store(sources, lines, ranks, None)
            if shown and self._log.is_mounted:
                self._write(shown)
        self._status_changed()

    def post(self, event: LogLines) -> None:
        """Take one batch from any thread, without blocking.

        Batches wait in an inbox bounded at ``max_lines`` lines (older whole batches beyond
        that are dropped and counted) and the UI thread takes them all in one Log write.
        """
        if self._inbox.put(event):
            self.post_message(FlushInbox())

    @on(FlushInbox)
    def _flush_inbox(self) -> None:
        events, producer_dropped, buffer_dropped = self._inbox.take_all()
        self._producer_dropped += producer_dropped
        self._buffer_dropped += buffer_dropped
        rows: list[str] = []
        for event in events:
            batch = self._ingest(event)
            if batch:
                rows.extend(batch)
        if rows and self._log.is_mounted:
            self._write(rows[-self.max_lines :])
        self._status_changed()

    def _ingest(self, event: LogLines) -> Sequence[str] | None:
        """Store a batch of one source; return the rows to write now (None: nothing shows)."""
        self._producer_dropped += event.dropped
        if not event.lines:
            return None
        lines = text.normalize(event.lines)
        count = len(lines)
        return self._store([event.source] * count, lines, [0] * count, event.source)

    def _store(self, sources: Sequence[str], lines: Sequence[str], ranks: Sequence[int],
               only: str | None) -> Sequence[str] | None:
        """Keep lines in the history; the rows to write now (None: nothing shows). ``only``:
        the one source of every line, when that is so."""
        count = len(lines)
        history = self._history
        overflow = len(history) + count - self.max_lines
        if overflow > 0:
            self._buffer_dropped += overflow
        stamp = format_stamp(self._clock())
        history.extend(zip(sources, repeat(stamp, count), lines, ranks, strict=True))
        for source in (only,) if only is not None else dict.fromkeys(sources):
            if source not in self._sources:
                self._sources[source] = None
        if self._paused:
            self._pending += count
            return None
        if only is not None and self._source not in (None, only):
            return None
        if count > self.max_lines:
            sources, lines, ranks = (c[-self.max_lines :] for c in (sources, lines, ranks))
        if self._level is not None or (self._source is not None and only is None):
            wanted, least = self._source, RANKS[self._level] if self._level else 0
            lines = [line for source, line, rank in zip(sources, lines, ranks, strict=True)
                     if rank >= least and (wanted is None or source == wanted)]
        if self._pattern is not None:
            lines = list(filter(self._pattern.search, lines))
        if not lines:
            return None
        if self._timestamps:
            prefix = stamp + " "
            lines = [prefix + line for line in lines]
        if self._wrap and self._wrap_width > 0:
            lines = text.wrap(lines, self._wrap_width)
        return lines

    def _write(self, rows: Sequence[str], scroll_end: bool | None = None) -> None:
        self._log.write_lines(rows, scroll_end=scroll_end)

    # -- rendering ---------------------------------------------------------------------------

    def _rows(self, entries: Iterable[Entry]) -> list[str]:
        """The Log rows for stored entries under the current settings."""
        if self._source is not None:
            wanted = self._source
            entries = [entry for entry in entries if entry[0] == wanted]
        if self._level is not None:
            least = RANKS[self._level]
            entries = [entry for entry in entries if entry[3] >= least]
        if self._pattern is not None:
            search = self._pattern.search
            entries = [entry for entry in entries if search(entry[2])]
        if self._timestamps:
            rows = [f"{entry[1]} {entry[2]}" for entry in entries]
        else:
            rows = [entry[2] for entry in entries]
        if self._wrap and self._wrap_width > 0:
            rows = text.wrap(rows, self._wrap_width)
        return rows

    def _shown_entries(self) -> Iterable[Entry]:
        """The history without the lines that arrived while paused."""
        hidden = self.pending
        return islice(self._history, len(self._history) - hidden)

    def _rerender(self) -> None:
        """Rewrite the Log from the history (settings changed)."""
        if not self._log.is_mounted:
            return
        self._wrap_width = self._content_width() if self._wrap else 0
        rows = self._rows(self._shown_entries())
        self._log.clear()
        if rows:
            self._write(rows[-self.max_lines :], scroll_end=True)
        else:
            self._log.refresh()
        self._status_changed()

    def _content_width(self) -> int:
        return max(0, self._log.scrollable_content_region.width)

    def on_resize(self, _event: Resize) -> None:
        if self._wrap:
            self.call_after_refresh(self._check_wrap_width)

    def _check_wrap_width(self) -> None:
        if self._wrap and self._content_width() != self._wrap_width:
            self._rerender()

    # -- status ---------------------------------------------------------------------------

    def _status_changed(self) -> None:
        """Refresh the status line once per message-loop turn, not once per batch."""
        if self._status_scheduled or not self.is_mounted:
            return
        self._status_scheduled = True
        self.call_later(self._update_status)

    def _update_status(self) -> None:
        self._status_scheduled = False
        self._status.update(self.status_content())

    def status_text(self) -> str:
        """The status line as plain text."""
        return self.status_content().plain

    def status_content(self) -> Content:
        """The status line: source, level, filter, follow state, counts and drops."""
        return status_content(Status(
            self._source, self._level, self.filter_pattern, self._paused, self.pending,
            self.line_count, self.shown_count, self._producer_dropped, self._buffer_dropped,
            self._wrap, self._timestamps))

    # -- commands ---------------------------------------------------------------------------

    def set_source(self, source: str | None) -> None:
        """Show one source's lines (a ``LogLines.source`` tag), or all with None."""
        if source != self._source:
            self._source = source
            self._rerender()

    def set_level(self, level: str | None) -> None:
        """Show only lines of at least ``level`` (one of debug, info, warning, error,
        critical), or every line with None."""
        if level is not None and level not in RANKS:
            raise ValueError(f"no log level {level!r}: pick one of {', '.join(LEVELS)}")
        if level != self._level:
            self._level = level
            self._rerender()

    def toggle_follow(self) -> None:
        """Pause (new lines are kept and counted, not shown) or resume (show them)."""
        if not self._paused:
            self._paused = True
            self._pending = 0
            self._status_changed()
            return
        new = self.pending
        self._paused = False
        self._pending = 0
        if new and self._log.is_mounted:
            entries = islice(self._history, len(self._history) - new, None)
            rows = self._rows(entries)
            if rows:
                self._write(rows[-self.max_lines :], scroll_end=True)
        self._status_changed()

    def toggle_wrap(self) -> None:
        self._wrap = not self._wrap
        self.set_class(self._wrap, "-wrap")
        self._log.scroll_to(x=0, animate=False, immediate=True)
        # The Log's scrollbars change with the class; measure the width after that layout.
        self._rerender()
        if self._wrap:
            self.call_after_refresh(self._check_wrap_width)

    def toggle_timestamps(self) -> None:
        self._timestamps = not self._timestamps
        self._rerender()

    def cycle_source(self) -> None:
        """All -> each source seen, in first-seen order -> all."""
        order: list[str | None] = [None, *self._sources]
        index = order.index(self._source) if self._source in order else 0
        self.set_source(order[(index + 1) % len(order)])

    def cycle_level(self) -> None:
        """All -> at least info -> warning -> error -> critical -> all."""
        order: list[str | None] = [None, *LEVELS[1:]]
        index = order.index(self._level) if self._level in order else 0
        self.set_level(order[(index + 1) % len(order)])

    def clear(self) -> None:
        """Forget the history and the Log's rows, and reset the counts (sources are kept)."""
        self._history.clear()
        self._pending = 0
        self._producer_dropped = 0
        self._buffer_dropped = 0
        self._log.clear()
        self._log.refresh()
        self._status_changed()

    def focus(self, scroll_visible: bool = True) -> LogView:
        """Focus the Log (the view's keys work while focus is inside the view)."""
        self._log.focus(scroll_visible)
        return self

    action_toggle_follow = toggle_follow
    action_toggle_wrap = toggle_wrap
    action_toggle_timestamps = toggle_timestamps
    action_cycle_source = cycle_source
    action_cycle_level = cycle_level
    action_clear = clear
