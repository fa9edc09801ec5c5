"""What a LogView (:mod:`screens.log_view`) reports: its counts and settings
(:class:`ViewState`, a mixin of the view) and its status line (source, level, filter, follow
state, counts and drops)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Log

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object


@dataclass(frozen=True, slots=True)
class Status:
    """What the status line says."""

    source: str | None
    level: str | None
    pattern: str | None
    paused: bool
    pending: int
    lines: int
    shown: int
    producer_dropped: int
    buffer_dropped: int
    wrap: bool
    timestamps: bool


def status_content(status: Status) -> Content:
    sep = (" │ ", "dim")
    parts: list[str | tuple[str, str]] = ["source ", (status.source or "all", "bold"), sep]
    if status.level is not None:
        parts += ["level ", (f"≥{status.level}", "bold"), sep]
    parts += ["filter ",
              (f"/{status.pattern}/", "bold") if status.pattern is not None else ("none", "dim"),
              sep]
    if status.paused:
        parts += [("‖ paused", "bold reverse"), f" {status.pending:,} new"]
    else:
        parts += [("● following", "bold")]
    parts += [sep, f"{status.lines:,} lines · {status.shown:,} shown", sep]
    dropped = status.producer_dropped + status.buffer_dropped
    if dropped:
        parts += [(f"dropped {dropped:,}", "bold reverse"),
                  f" (producer {status.producer_dropped:,} · buffer {status.buffer_dropped:,})"]
    else:
        parts += ["dropped 0"]
    flags = [name for name, on in (("wrap", status.wrap), ("time", status.timestamps)) if on]
    if flags:
        parts += [sep, " ".join(flags)]
    return Content.assemble(*parts)


class ViewState(_Base):
    """A LogView's counts and settings, read-only."""

    _log: Log
    _history: deque[tuple[str, str, str, int]]
    _sources: dict[str, None]
    _source: str | None
    _level: str | None
    _paused: bool
    _pending: int
    _wrap: bool
    _timestamps: bool
    _producer_dropped: int
    _buffer_dropped: int

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
    def level(self) -> str | None:
        """The least level shown, or None for every line."""
        return self._level

    @property
    def source(self) -> str | None:
        """The source shown, or None for all."""
        return self._source

    @property
    def sources(self) -> tuple[str, ...]:
        """Sources seen so far, in first-seen order."""
        return tuple(self._sources)
