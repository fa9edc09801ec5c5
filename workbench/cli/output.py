"""Batch output: the event printer (plain lines or JSON) and aligned tables."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO


class Printer:
    """Prints an operation's events: plain lines, or one JSON object per line.

    Output is a side channel: when the reader goes away (``| head``), printing stops quietly
    and the operation still finishes, rather than being aborted half-way.
    """

    def __init__(self, as_json: bool, out: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.broken = False

    def __call__(self, event: Any) -> None:
        if self.broken:
            return
        try:
            self._print(event)
        except BrokenPipeError:
            self.broken = True
            silence_stdout()

    def _print(self, event: Any) -> None:
        from .. import events

        if self.as_json:
            body = {"event": events.kind(event), **_plain(event)}
            print(json.dumps(body, default=str), file=self.out, flush=True)
        elif isinstance(event, events.StepFinished):
            mark = "ok  " if event.ok else "FAIL"
            extra = f"  ({event.detail})" if event.detail and not event.ok else ""
            print(f"{mark} {event.duration:6.2f}s  {event.label}{extra}", file=self.out,
                  flush=True)
        elif isinstance(event, events.Warning):
            print(f"warning: {event.message}", file=self.out, flush=True)
        elif isinstance(event, events.LogLines):
            for line in event.lines:
                print(f"[{event.source}] {line}", file=self.out)
        elif isinstance(event, events.Result):
            print(event.summary, file=self.out, flush=True)


def silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _plain(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__slots__}



def table(rows: Sequence[tuple[str, ...]]) -> None:
    """Print ``rows`` as left-aligned columns, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
