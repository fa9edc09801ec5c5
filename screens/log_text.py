"""The text of a LogView's rows (:mod:`screens.log_view`): line breaks, hard wrap, arrival
stamps, and level colours.

- ``Log.write_lines`` splits on line breaks and drops empty strings, so the view stores a line
  holding breaks as several lines and an empty line as a single space: one stored line is one
  row (with wrap off).
- Textual's ``Log`` cannot wrap (8.x): :func:`wrap` hard-wraps lines at the Log's content width
  (in terminal cells), as the Log will render them.
- :class:`LevelHighlighter` colours the level word of a parsed log line (``INFO``, ``WARNING``,
  ...: how :func:`workbench.logmerge.Lines.shown` writes it, after the time and the source). It
  runs only on the rows the Log renders, so ``Log.write_lines`` keeps its speed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from rich.highlighter import Highlighter
from rich.text import Text

# str.splitlines() splits on all of these; Log.write_lines() uses it.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_ASCII_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e"
# What Log renders in place of control codes (it also expands tabs); see Log._process_line.
_CONTROL = re.compile("[\u0000-\u0014]")

LEVELS = ("debug", "info", "warning", "error", "critical")
"""The levels a view can be limited to (at least that level), lowest first."""
RANKS = {name: (index + 1) * 10 for index, name in enumerate(LEVELS)}
"""A level's rank (as :data:`workbench.logparse.RANKS`); a line without a level ranks 0."""
STYLES = {"DEBUG": "dim", "INFO": "green", "WARNING": "bold yellow", "ERROR": "bold red",
          "CRITICAL": "bold reverse red"}
# An optional arrival stamp, then the time and the source, then the level word.
_LEVEL = re.compile(r"^(?:\d\d:\d\d:\d\d\.\d{3} )?\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def format_stamp(moment: datetime) -> str:
    """``12:03:04.123``: the prefix shown for a batch that arrived at ``moment``."""
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"


def has_breaks(lines: Sequence[str]) -> bool:
    """True when some line is empty or holds a line break (the rare, slow case)."""
    if "" in lines:
        return True
    joined = "".join(lines)
    breaks = _ASCII_BREAKS if joined.isascii() else _BREAKS
    return any(b in joined for b in breaks)


def split_rows(line: str) -> list[str]:
    """One line as the rows it takes: split on breaks, an empty part as one space."""
    return [part or " " for part in (line.splitlines() or [""])]


def normalize(lines: Sequence[str]) -> Sequence[str]:
    """One entry per Log row: split lines on breaks, and write an empty line as one space."""
    if not has_breaks(lines):
        return lines
    out: list[str] = []
    for line in lines:
        out.extend(split_rows(line))
    return out


def wrap(lines: Iterable[str], width: int) -> list[str]:
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


class LevelHighlighter(Highlighter):
    """Colours the level word of a parsed log line by its level."""

    def highlight(self, text: Text) -> None:
        match = _LEVEL.match(text.plain)
        if match is not None:
            text.stylize(STYLES[match.group(1)], match.start(1), match.end(1))
