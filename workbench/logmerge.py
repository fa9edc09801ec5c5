"""Merging container logs of several hosts and endpoints in time order (pure: no I/O, no Docker).

Lines travel as :class:`Lines`: columns (times, sources, shown texts, levels, raw texts), not
an object per line. At 50,000 lines a second an object per line, a call per line to format
it and a generator step per line to merge were most of the cost; here a batch is parsed in one
loop (:func:`parse_lines`, :func:`workbench.logparse.split_json` per JSON line), merged by one
sort of its times, and shown by one join per line. A :class:`~workbench.logparse.LogRecord`
is made only when a consumer asks for one (:meth:`Lines.records`).

Two ways to put lines of many sources in order:

- **Reading what is there** (no follow): :func:`merge` sorts every source's lines by time at
  once (a stable sort: lines with one timestamp keep the order they came in; each source's
  lines are already nearly in order, so this is a k-way merge of runs).
- **Following**: a :class:`ReorderWindow` holds each line at most ``hold`` seconds after it
  arrived (default :data:`HOLD` = 0.5 s) and at most ``limit`` lines in all (default
  :data:`LIMIT` = 50,000). On each :meth:`~ReorderWindow.drain` it releases, in time order:
  every line up to the last one whose hold time is over; every line no later than what each
  source still sending (one heard from within ``hold``) has already sent (its watermark: such a
  line cannot be overtaken by that source, so it need not wait); and, when more than
  ``limit`` are held, the earliest ones beyond the limit. So lines that arrive within the window
  of each other come out in time order, and a backlog read from several hosts at different
  speeds is merged as it comes; a line that arrives later than that, behind a line already
  released, is released at once, marked late and counted (never dropped, never held back
  further).

:class:`LineFilter` is ``--grep`` (a regex over what is shown or the raw text) and ``--level``
(at least that level).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

from .logparse import LogRecord, parse_text, rank, short_time, split_json, split_stamp

HOLD = 0.5
"""Seconds a followed line may wait for earlier lines of other sources."""
LIMIT = 50_000
"""Most lines held by the reorder window."""


@dataclass(slots=True)
class Lines:
    """Log lines as columns, one entry per line in each."""

    times: list[str] = field(default_factory=list)
    """Docker's timestamps, normalized (:func:`~workbench.logparse.normal_time`; "" = none)."""
    sources: list[str] = field(default_factory=list)
    """``endpoint@host``"""
    texts: list[str] = field(default_factory=list)
    """What is shown after time and source: ``LEVEL message key=value ...`` for a JSON line,
    else the line as it is."""
    levels: list[str] = field(default_factory=list)
    """``info``, ``warning``, ... or "" (no level)."""
    raws: list[str] = field(default_factory=list)
    """The line as the app printed it (secret values already masked)."""
    late: frozenset[int] = frozenset()
    """Positions of lines released behind a later one (they came after the reorder window)."""

    def __len__(self) -> int:
        return len(self.times)

    def take(self, order: Sequence[int]) -> Lines:
        """The lines at positions ``order``, in that order (late marks are not kept)."""
        return Lines([self.times[i] for i in order], [self.sources[i] for i in order],
                     [self.texts[i] for i in order], [self.levels[i] for i in order],
                     [self.raws[i] for i in order])

    def slice(self, start: int, stop: int) -> Lines:
        late = frozenset(i - start for i in self.late if start <= i < stop)
        return Lines(self.times[start:stop], self.sources[start:stop], self.texts[start:stop],
                     self.levels[start:stop], self.raws[start:stop], late)

    def shown(self, with_time: bool = True, with_source: bool = True) -> list[str]:
        """Each line as plain output shows it: ``TIME endpoint@host TEXT`` (TIME to the
        millisecond, ``2026-11-30T11:56:30.123Z``)."""
        if with_time and with_source:
            return [f"{t[:23]}Z {s} {x}" if len(t) == 30 else f"{short_time(t)} {s} {x}"
                    for t, s, x in zip(self.times, self.sources, self.texts, strict=True)]
        if with_time:
            return [f"{t[:23]}Z {x}" if len(t) == 30 else f"{short_time(t)} {x}"
                    for t, x in zip(self.times, self.texts, strict=True)]
        if with_source:
            return [f"{s} {x}" for s, x in zip(self.sources, self.texts, strict=True)]
        return list(self.texts)

    def record(self, index: int) -> LogRecord:
        """Line ``index`` as a record (parsed again: only ``--json`` and the like need one)."""
        record = parse_text(self.raws[index], self.sources[index], self.times[index])
        record.late = index in self.late
        return record

    def records(self) -> list[LogRecord]:
        return [self.record(i) for i in range(len(self.times))]


def concat(parts: Sequence[Lines]) -> Lines:
    """The lines of ``parts`` one after the other (late marks are not kept)."""
    if len(parts) == 1:
        return parts[0]
    out = Lines()
    for part in parts:
        out.times += part.times
        out.sources += part.sources
        out.texts += part.texts
        out.levels += part.levels
        out.raws += part.raws
    return out


def parse_lines(lines: Iterable[str], source: str) -> Lines:
    """Lines as Docker gives them with ``timestamps=1`` (``STAMP TEXT``), of one source."""
    times: list[str] = []
    texts: list[str] = []
    levels: list[str] = []
    raws: list[str] = []
    add_time, add_text, add_level, add_raw = times.append, texts.append, levels.append, raws.append
    for line in lines:
        if line[30:31] == " " and line[29:30] == "Z" and line[19:20] == ".":  # Docker's form
            add_time(line[:30])
            text = line[31:]
        else:
            time, text = split_stamp(line)
            add_time(time)
        add_raw(text)
        parsed = split_json(text) if text[:1] == "{" else None
        if parsed is None:
            add_text(text)
            add_level("")
        else:
            add_level(parsed[0])
            add_text(parsed[1])
    return Lines(times, [source] * len(times), texts, levels, raws)


def merge(parts: Sequence[Lines]) -> Lines:
    """Every line of ``parts`` in time order (stable: equal times keep the order of ``parts``
    and, within one, the order they came in)."""
    lines = concat([part for part in parts if part.times] or [Lines()])
    times = lines.times
    order = sorted(range(len(times)), key=times.__getitem__)
    if order == list(range(len(times))):  # already in order (one source, often)
        return Lines(lines.times, lines.sources, lines.texts, lines.levels, lines.raws)
    return lines.take(order)


class LineFilter:
    """``--grep`` and ``--level``: lines whose shown text or raw text matches ``pattern``, and
    whose level is at least ``level`` (a line without a level then never passes)."""

    def __init__(self, pattern: re.Pattern[str] | None, level: str | None = None) -> None:
        self.pattern = pattern
        self.level = level
        self.least = rank(level) if level else 0

    def __bool__(self) -> bool:
        return self.pattern is not None or self.least > 0

    def __call__(self, lines: Lines) -> Lines:
        if not self:
            return lines
        keep = range(len(lines.times))
        if self.least:
            least, levels = self.least, lines.levels
            keep = [i for i in keep if levels[i] and rank(levels[i]) >= least]
        if self.pattern is not None:
            search, raws, texts = self.pattern.search, lines.raws, lines.texts
            keep = [i for i in keep if search(raws[i]) or search(texts[i])]
        return lines.take(keep)


_Held = tuple[str, int, float, str, str, str, str]
"""time, arrival sequence, arrival time, source, text, level, raw"""


class ReorderWindow:
    """Holds followed lines briefly so that lines of several sources come out in time order.

    :meth:`add` takes lines as they arrive (with the arrival time, any monotonic clock in
    seconds); :meth:`drain` releases those that may go (see the module docstring). ``late``
    counts lines released behind a later one.
    """

    def __init__(self, hold: float = HOLD, limit: int = LIMIT) -> None:
        if hold < 0 or limit < 1:
            raise ValueError("hold must be >= 0 and limit >= 1")
        self.hold = hold
        self.limit = limit
        self._held: list[_Held] = []
        self._seen: dict[str, str] = {}
        """source -> the latest time it sent"""
        self._heard: dict[str, float] = {}
        """source -> when it last sent something"""
        self._sorted = True
        self._seq = 0
        self.last = ""
        """The time of the latest line released."""
        self.late = 0

    def __len__(self) -> int:
        return len(self._held)

    def add(self, lines: Lines, now: float, key: str | None = None) -> None:
        """Hold ``lines`` (arrived at ``now``). ``key``: what sends them, when not their source
        (two containers of one source, during a redeploy, each have their own watermark)."""
        count = len(lines.times)
        if not count:
            return
        seq = self._seq
        self._held.extend(zip(lines.times, range(seq, seq + count), repeat(now), lines.sources,
                              lines.texts, lines.levels, lines.raws))
        self._seq = seq + count
        sources = lines.sources
        if key is not None or len(set(sources)) == 1:  # the usual case: one inbox's lines
            newest = {key or sources[0]: max(lines.times)}
        else:
            newest = {}
            for time, source in zip(lines.times, sources, strict=True):
                if time > newest.get(source, ""):
                    newest[source] = time
        seen, heard = self._seen, self._heard
        for source, time in newest.items():
            if time > seen.get(source, ""):
                seen[source] = time
            heard[source] = now
        self._sorted = False

    def drain(self, now: float, everything: bool = False) -> Lines:
        """Release what may go at ``now`` (``everything``: all that is held, in order)."""
        held = self._held
        if not held:
            return Lines()
        if not self._sorted:
            held.sort()  # by time, then arrival (a unique sequence: nothing further compared)
            self._sorted = True
        if everything:
            cut = len(held)
        else:
            ripe = now - self.hold
            cut = max(0, len(held) - self.limit)
            for index in range(len(held) - 1, cut - 1, -1):
                if held[index][2] <= ripe:
                    cut = index + 1
                    break
            sending = [t for s, t in self._seen.items() if self._heard[s] > ripe]
            if sending:
                cut = max(cut, bisect_right(held, min(sending), key=itemgetter(0)))
        if not cut:
            return Lines()
        out = held[:cut]
        del held[:cut]
        times, _seq, _at, sources, texts, levels, raws = (list(c) for c in zip(*out, strict=True))
        return Lines(times, sources, texts, levels, raws, self._mark_late(times))

    def _mark_late(self, times: list[str]) -> frozenset[int]:
        last = self.last
        if times[0] >= last:  # the usual case: nothing released earlier is later
            self.last = times[-1] or last
            return frozenset()
        late = []
        for index, time in enumerate(times):
            if time < last:
                late.append(index)
            else:
                last = time
        self.last = last
        self.late += len(late)
        return frozenset(late)
