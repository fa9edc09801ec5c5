"""LogView: live logs from the core's event stream (:class:`workbench.events.LogLines`).

The test-loop and deploy screens embed it. It is built to keep up with ~100k lines/s::

    LogLines batch --add()/post()--> bounded deque of (source, stamp, line)   (the history)
                                  \\-> only the lines that pass the filters --> Log.write_lines

- The history is a ``deque(maxlen=max_lines)``; whatever falls out of it is counted as dropped
  ("buffer"), beside what the producer reported with ``LogLines.dropped`` ("producer").
- The hot path appends a batch and makes one ``Log.write_lines`` call with the lines that pass
  the source and regex filters (``post()`` coalesces every batch queued since the last flush
  into one call). Changing filter, source, timestamps or wrap re-renders the Log from the
  history, as does a resize while wrap is on.
- Paused: batches go into the history and are counted as new, not shown. Resume shows those
  still in the history (the history is the bounded buffer: overflow is counted as dropped).
- Timestamps are taken when a batch arrives (one per batch), ``HH:MM:SS.mmm``, local time from
  an injectable ``clock``.
- Wrap: Textual's ``Log`` cannot wrap (8.x), so the view hard-wraps lines at the Log's content
  width (in terminal cells) when it writes them and re-renders on resize. Continuation rows are
  separate rows in ``Log.lines``.
- ``Log.write_lines`` splits on line breaks and drops empty strings, so the view stores a line
  holding breaks as several lines and an empty line as a single space: one stored line is one
  row (with wrap off).
"""

from __future__ import annotations

import re
import threading
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
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Log, Static

from workbench.events import LogLines

__all__ = ["DEFAULT_MAX_LINES", "LogView", "format_stamp"]

DEFAULT_MAX_LINES = 10_000

# str.splitlines() splits on all of these; Log.write_lines() uses it.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_ASCII_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e"
# What Log renders in place of control codes (it also expands tabs); see Log._process_line.
_CONTROL = re.compile("[\u0000-\u0014]")

Entry = tuple[str, str, str]
"""One stored line: (source, arrival stamp, text)."""


def format_stamp(moment: datetime) -> str:
    """``12:03:04.123``: the prefix shown for a batch that arrived at ``moment``."""
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"


def _has_breaks(lines: Sequence[str]) -> bool:
    """True when some line is empty or holds a line break (the rare, slow case)."""
    if "" in lines:
        return True
    joined = "".join(lines)
    breaks = _ASCII_BREAKS if joined.isascii() else _BREAKS
    return any(b in joined for b in breaks)


def _normalize(lines: Sequence[str]) -> Sequence[str]:
    """One entry per Log row: split lines on breaks, and write an empty line as one space."""
    if not _has_breaks(lines):
        return lines
    out: list[str] = []
    for line in lines:
        out.extend(part or " " for part in (line.splitlines() or [""]))
    return out


def _wrap(lines: Iterable[str], width: int) -> list[str]:
    """Hard-wrap lines at ``width`` terminal cells, as Log will render them."""
    from rich.cells import chop_cells

    out: list[str] = []
    for line in lines:
        if len(line) <= width and line.isascii() and "\t" not in line:
            out.append(line)
        elif line.isascii() and "\t" not in line:
            out.extend(line[i : i + width] for i in range(0, len(line), width))
        else:
            out.extend(chop_cells(_CONTROL.sub("\ufffd", line.expandtabs()), width) or [" "])
    return out


class _FlushInbox(Message, bubble=False):
    """Posted (thread-safely) when post() put the first batch into an empty inbox."""


class LogView(Widget):
    """A status line, a filter input and a :class:`~textual.widgets.Log`, fed with LogLines."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    BINDINGS = [
        Binding("f", "toggle_follow", "Follow/pause", id="log_view.follow"),
        Binding("w", "toggle_wrap", "Wrap", id="log_view.wrap"),
        Binding("T", "toggle_timestamps", "Timestamps", id="log_view.timestamps"),
        Binding("slash", "focus_filter", "Filter", id="log_view.filter"),
        Binding("s", "cycle_source", "Source", id="log_view.source"),
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
        self._pattern: re.Pattern[str] | None = None
        self._filter_error: str | None = None
        self._paused = not follow
        self._pending = 0  # lines that arrived while paused (some may have been dropped since)
        self._wrap = wrap
        self._wrap_width = 0
        self._timestamps = timestamps
        self._producer_dropped = 0
        self._buffer_dropped = 0
        # post(): batches from any thread wait here for the UI thread.
        self._inbox: deque[LogLines] = deque()
        self._inbox_lines = 0
        self._inbox_producer_dropped = 0  # from batches the inbox had to drop
        self._inbox_buffer_dropped = 0
        self._inbox_lock = threading.Lock()
        self._flush_scheduled = False
        self._status_scheduled = False

        self._status = Static("", classes="log-view--status", markup=False)
        self._filter_input = Input(
            placeholder="regex filter (enter applies, esc cancels, empty clears)",
            compact=True,
            select_on_focus=True,
            classes="log-view--filter",
        )
        self._error = Static("", classes="log-view--error", markup=False)
        self._log = Log(max_lines=max_lines, auto_scroll=True)
        self.set_class(wrap, "-wrap")

    def compose(self) -> ComposeResult:
        yield self._status
        yield self._filter_input
        yield self._error
        yield self._log

    def on_mount(self) -> None:
        self._rerender()
        self._update_status()

    # -- state ---------------------------------------------------------------------------

    @property
    def log_widget(self) -> Log:
        """The Log the lines are written to."""
        return self._log

    @property
    def dropped(self) -> int:
        """Lines lost: reported by the producer plus dropped by this view's bounded buffer."""
        return self._producer_dropped + self._buffer_dropped

    @property
    def producer_dropped(self) -> int:
        """Lines the producer reported dropped (``LogLines.dropped``)."""
        return self._producer_dropped

    @property
    def buffer_dropped(self) -> int:
        """Lines that fell out of the view's history (over ``max_lines``, also while paused)."""
        return self._buffer_dropped

    @property
    def line_count(self) -> int:
        """Lines in the history (at most ``max_lines``), shown or not."""
        return len(self._history)

    @property
    def shown_count(self) -> int:
        """Rows in the Log (lines that passed the filters; more than lines when wrapped)."""
        return len(self._log.lines)

    @property
    def pending(self) -> int:
        """Lines that arrived while paused and are still in the history (shown on resume)."""
        return min(self._pending, len(self._history))

    @property
    def following(self) -> bool:
        return not self._paused

    @property
    def wrap(self) -> bool:
        return self._wrap

    @property
    def timestamps(self) -> bool:
        return self._timestamps

    @property
    def filter_pattern(self) -> str | None:
        """The regex in force, or None."""
        return self._pattern.pattern if self._pattern is not None else None

    @property
    def filter_error(self) -> str | None:
        """Why the last pattern was rejected (shown inline), or None."""
        return self._filter_error

    @property
    def source(self) -> str | None:
        """The source shown, or None for all."""
        return self._source

    @property
    def sources(self) -> tuple[str, ...]:
        """Sources seen so far, in first-seen order."""
        return tuple(self._sources)

    # -- feeding ---------------------------------------------------------------------------

    def add(self, event: LogLines) -> None:
        """Take one batch. Call on the UI thread (use :meth:`post` from other threads)."""
        rows = self._ingest(event)
        if rows and self._log.is_mounted:
            self._write(rows)
        self._status_changed()

    def post(self, event: LogLines) -> None:
        """Take one batch from any thread, without blocking.

        Batches wait in an inbox bounded at ``max_lines`` lines (older whole batches beyond
        that are dropped and counted) and the UI thread takes them all in one Log write.
        """
        with self._inbox_lock:
            self._inbox.append(event)
            self._inbox_lines += len(event.lines)
            while len(self._inbox) > 1 and self._inbox_lines - len(self._inbox[0].lines) >= (
                self.max_lines
            ):
                old = self._inbox.popleft()
                self._inbox_lines -= len(old.lines)
                self._inbox_producer_dropped += old.dropped
                self._inbox_buffer_dropped += len(old.lines)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self.post_message(_FlushInbox())

    @on(_FlushInbox)
    def _flush_inbox(self) -> None:
        with self._inbox_lock:
            events = list(self._inbox)
            self._inbox.clear()
            self._inbox_lines = 0
            self._producer_dropped += self._inbox_producer_dropped
            self._buffer_dropped += self._inbox_buffer_dropped
            self._inbox_producer_dropped = self._inbox_buffer_dropped = 0
            self._flush_scheduled = False
        rows: list[str] = []
        for event in events:
            batch = self._ingest(event)
            if batch:
                rows.extend(batch)
        if rows and self._log.is_mounted:
            self._write(rows[-self.max_lines :])
        self._status_changed()

    def _ingest(self, event: LogLines) -> Sequence[str] | None:
        """Store a batch; return the rows to write now (None when nothing shows)."""
        self._producer_dropped += event.dropped
        if not event.lines:
            return None
        lines = _normalize(event.lines)
        count = len(lines)
        history = self._history
        overflow = len(history) + count - self.max_lines
        if overflow > 0:
            self._buffer_dropped += overflow
        source = event.source
        stamp = format_stamp(self._clock())
        history.extend(zip(repeat(source, count), repeat(stamp, count), lines, strict=True))
        if source not in self._sources:
            self._sources[source] = None
        if self._paused:
            self._pending += count
            return None
        if self._source is not None and source != self._source:
            return None
        if count > self.max_lines:
            lines = lines[-self.max_lines :]
        if self._pattern is not None:
            lines = list(filter(self._pattern.search, lines))
            if not lines:
                return None
        if self._timestamps:
            prefix = stamp + " "
            lines = [prefix + line for line in lines]
        if self._wrap and self._wrap_width > 0:
            lines = _wrap(lines, self._wrap_width)
        return lines

    def _write(self, rows: Sequence[str], scroll_end: bool | None = None) -> None:
        self._log.write_lines(rows, scroll_end=scroll_end)

    # -- rendering ---------------------------------------------------------------------------

    def _rows(self, entries: Iterable[Entry]) -> list[str]:
        """The Log rows for stored entries under the current settings."""
        if self._source is not None:
            wanted = self._source
            entries = [entry for entry in entries if entry[0] == wanted]
        if self._pattern is not None:
            search = self._pattern.search
            entries = [entry for entry in entries if search(entry[2])]
        if self._timestamps:
            rows = [f"{stamp} {line}" for _source, stamp, line in entries]
        else:
            rows = [line for _source, _stamp, line in entries]
        if self._wrap and self._wrap_width > 0:
            rows = _wrap(rows, self._wrap_width)
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
        """The status line: source, filter, follow state, counts and drops."""
        sep = (" │ ", "dim")
        source = self._source or "all"
        pattern = self.filter_pattern
        parts: list[str | tuple[str, str]] = [
            "source ",
            (source, "bold"),
            sep,
            "filter ",
            (f"/{pattern}/", "bold") if pattern is not None else ("none", "dim"),
            sep,
        ]
        if self._paused:
            parts += [("‖ paused", "bold reverse"), f" {self.pending:,} new"]
        else:
            parts += [("● following", "bold")]
        parts += [sep, f"{self.line_count:,} lines · {self.shown_count:,} shown", sep]
        if self.dropped:
            parts += [
                (f"dropped {self.dropped:,}", "bold reverse"),
                f" (producer {self._producer_dropped:,} · buffer {self._buffer_dropped:,})",
            ]
        else:
            parts += ["dropped 0"]
        flags = [name for name, on_ in (("wrap", self._wrap), ("time", self._timestamps)) if on_]
        if flags:
            parts += [sep, " ".join(flags)]
        return Content.assemble(*parts)

    # -- commands ---------------------------------------------------------------------------

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

    def set_source(self, source: str | None) -> None:
        """Show one source's lines (a ``LogLines.source`` tag), or all with None."""
        if source != self._source:
            self._source = source
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

    # -- filter input ---------------------------------------------------------------------

    def _show_error(self, message: str | None) -> None:
        self._filter_error = message
        self._error.update(message or "")
        self.set_class(message is not None, "-error")

    def _filtering(self) -> bool:
        return self.has_class("-filtering")

    def _close_filter(self) -> None:
        self.remove_class("-filtering")
        self._log.focus()

    @on(Input.Changed, ".log-view--filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            if event.value:
                re.compile(event.value)
        except re.error as exc:
            self._show_error(f"invalid regex {event.value!r}: {exc}")
        else:
            self._show_error(None)

    @on(Input.Submitted, ".log-view--filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.set_filter(event.value or None):
            self._close_filter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_filter":
            return self._filtering()
        return True

    def action_focus_filter(self) -> None:
        self._filter_input.value = self.filter_pattern or ""
        self.add_class("-filtering")
        self._filter_input.focus()

    def action_cancel_filter(self) -> None:
        self._filter_input.value = self.filter_pattern or ""
        self._show_error(None)
        self._close_filter()

    def action_toggle_follow(self) -> None:
        self.toggle_follow()

    def action_toggle_wrap(self) -> None:
        self.toggle_wrap()

    def action_toggle_timestamps(self) -> None:
        self.toggle_timestamps()

    def action_cycle_source(self) -> None:
        self.cycle_source()

    def action_clear(self) -> None:
        self.clear()
