"""The Log that the TUI's log views write to: Textual's ``Log``, with the width of a batch of
plain lines taken at once.

``Log.write_lines`` hands every batch to a thread worker that measures each line's cells with
rich's ``cell_len`` to widen the virtual size: about a fifth of the time a 200k-line log took to
reach the view (``bench/remote_logs.py``), and a worker per batch on the loop's default
executor. A batch of printable ASCII lines (what log lines nearly always are) is as wide as its
longest line in characters: that is measured here, on the loop, with one ``isascii`` and one
regex search over the batch (milliseconds for 50k lines). Any other batch (wide characters,
tabs, control codes) goes to the Log's own worker, as before.
"""

from __future__ import annotations

import re

from textual.widgets import Log

_NOT_ONE_CELL = re.compile("[\x00-\x1f\x7f]")
"""ASCII that is not one cell each: control codes (the Log shows some as a replacement
character, expands tabs, and rich counts the rest as zero cells)."""


class FastLog(Log):
    """``Log`` with the width of plain ASCII batches computed at once (module docstring)."""

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        if lines:
            batch = "".join(lines)
            if batch.isascii() and not _NOT_ONE_CELL.search(batch):
                self._update_maximum_width(updates, max(map(len, lines)))
                return
        super()._update_size(updates, lines)
