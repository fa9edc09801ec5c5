"""Merging container logs of several hosts and endpoints in time order (pure: no I/O, no Docker).

Docker prefixes each line with its timestamp (``timestamps=1``: RFC 3339 with nanoseconds,
UTC, e.g. ``2026-11-30T11:56:30.123456789Z``). :func:`parse_line` splits that off, masks
nothing (the caller redacts first), and parses a JSON line, as the python template writes it
(``{"ts", "level", "msg", ...fields}``), into level, message and fields; other lines pass
through with no level. Every line becomes a :class:`LogRecord` tagged ``endpoint@host``.

Two ways to put records of many sources in order:

- **Reading what is there** (no follow): each container's lines are sorted (they nearly are)
  and the sorted streams are k-way merged (:func:`merge_sorted`): a full sort of what was read.
- **Following**: a :class:`ReorderWindow` holds each record at most ``hold`` seconds after it
  arrived (default :data:`HOLD` = 0.5 s) and at most ``limit`` records in all (default
  :data:`LIMIT` = 50,000). On each :meth:`~ReorderWindow.drain` it releases, in time order:
  every record up to the last one whose hold time is over; every record no later than what each
  source still sending (one heard from within ``hold``) has already sent (its watermark: such a
  record cannot be overtaken by that source, so it need not wait); and, when more than
  ``limit`` are held, the earliest ones beyond the limit. So lines that arrive within the window
  of each other come out in time order, and a backlog read from several hosts at different
  speeds is merged as it comes; a line that arrives later than that, behind a line already
  released, is released at once, marked ``late`` and counted (never dropped, never held back
  further).

:class:`LineFilter` is the ``--grep`` regex over what is shown (level, message, fields, raw).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from heapq import merge
from operator import attrgetter, itemgetter
from typing import Any

HOLD = 0.5
"""Seconds a followed line may wait for earlier lines of other sources."""
LIMIT = 50_000
"""Most lines held by the reorder window."""

LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "log.level")
MESSAGE_KEYS = ("msg", "message", "event")
TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "asctime")
LEVELS = {"warn": "warning", "err": "error", "fatal": "critical", "crit": "critical",
          "dbg": "debug", "trace": "debug", "information": "info", "notice": "info"}
"""Spellings folded onto debug, info, warning, error, critical (others are kept, lower-case)."""


@dataclass(slots=True)
class LogRecord:
    """One log line of one container, parsed. Treat it as read-only (it is not frozen only
    because a frozen dataclass takes 5 times as long to make, per line)."""

    time: str
    """Docker's timestamp, RFC 3339 UTC with 9 fractional digits ("" when the line had none)."""
    source: str
    """``endpoint@host``"""
    raw: str
    """The line as the app printed it (secret values already masked)."""
    level: str = ""
    """``debug``, ``info``, ``warning``, ``error``, ``critical``, another word, or "" (not JSON
    or no level)."""
    message: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    late: bool = False
    """Released behind a later line: it arrived after the reorder window had passed it."""

    @property
    def endpoint(self) -> str:
        return self.source.partition("@")[0]

    @property
    def host(self) -> str:
        return self.source.partition("@")[2]

    @property
    def parsed(self) -> bool:
        """Whether the line was a JSON object."""
        return bool(self.level or self.message or self.fields)


def normal_time(stamp: str) -> str:
    """``stamp`` as ``YYYY-MM-DDTHH:MM:SS.fffffffffZ`` (UTC, 9 digits), which sorts as text.

    Docker already writes that form; other offsets and precisions are converted. A stamp that
    cannot be read gives "" (such lines sort first)."""
    if len(stamp) == 30 and stamp[19] == "." and stamp[-1] == "Z":
        return stamp
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp)
    if not match:
        return ""
    whole, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return ""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{(fraction or '').ljust(9, '0')[:9]}Z"


def parse_line(line: str, source: str) -> LogRecord:
    """A line as Docker gives it with ``timestamps=1`` (``STAMP TEXT``) as a record."""
    stamp, _, text = line.partition(" ")
    time = normal_time(stamp)
    if not time:  # no timestamp after all: keep the whole line
        text = line
    return parse_text(text, source, time)


def parse_text(text: str, source: str, time: str = "") -> LogRecord:
    """The app's own text as a record: a JSON object gives level, message and fields."""
    if not text.startswith("{"):
        return LogRecord(time, source, text)
    try:
        value = json.loads(text)
    except ValueError:
        return LogRecord(time, source, text)
    if not isinstance(value, dict):
        return LogRecord(time, source, text)
    fields: dict[str, Any] = value  # a fresh dict: ours to take keys out of
    level = fields.pop("level", None)
    if level is None:
        level = _pop_first(fields, LEVEL_KEYS)
    message = fields.pop("msg", None)
    if message is None:
        message = _pop_first(fields, MESSAGE_KEYS)
    if fields.pop("ts", None) is None:  # Docker's timestamp is the one lines are ordered by
        _pop_first(fields, TIME_KEYS)
    return LogRecord(time, source, text, level_name(level),
                     "" if message is None else str(message), fields)


def level_name(value: object) -> str:
    """A level as a word: ``WARN`` -> ``warning``; a number as logging's (30 -> ``warning``)."""
    if value is None or value == "":
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        for bound, name in ((50, "critical"), (40, "error"), (30, "warning"), (20, "info")):
            if value >= bound:
                return name
        return "debug"
    word = str(value).strip().lower()
    return LEVELS.get(word, word)


def _pop_first(fields: dict[str, Any], keys: Sequence[str]) -> object:
    """The value of the first of ``keys`` in ``fields``, taken out of them (None: none)."""
    for key in keys:
        if key in fields:
            return fields.pop(key)
    return None


_QUOTED = re.compile(r'[\s"=]')


def show_value(value: object) -> str:
    """A field's value in plain output: text as is when it has no space, ``"`` or ``=``, a
    number as is, else JSON."""
    kind = type(value)
    if kind is str:
        if value and not _QUOTED.search(value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
    elif kind is int or kind is float:
        return repr(value)
    return json.dumps(value, default=str, ensure_ascii=False)


def plain(record: LogRecord, with_time: bool = True, with_source: bool = True) -> str:
    """``TIME endpoint@host LEVEL message key=value ...`` (a line that was not JSON: its text).

    TIME is shown to the millisecond (``2026-11-30T11:56:30.123Z``)."""
    head = []
    if with_time:
        head.append(short_time(record.time))
    if with_source:
        head.append(record.source)
    if not record.parsed:
        return " ".join([*head, record.raw])
    head.append(record.level.upper() or "-")
    head.append(record.message)
    for key, value in record.fields.items():
        head.append(f"{key}={show_value(value)}")
    return " ".join(head)


def short_time(time: str) -> str:
    return f"{time[:23]}Z" if len(time) == 30 else (time or "-")


def as_json(record: LogRecord) -> dict[str, Any]:
    """One record as ``--json`` prints it."""
    return {"time": record.time or None, "source": record.source, "endpoint": record.endpoint,
            "host": record.host, "level": record.level or None,
            "message": record.message if record.parsed else record.raw,
            "fields": dict(record.fields), "raw": record.raw, "late": record.late}


class LineFilter:
    """``--grep``: records whose shown line or raw text matches a regex (None: all)."""

    def __init__(self, pattern: re.Pattern[str] | None) -> None:
        self.pattern = pattern

    def __call__(self, records: Iterable[LogRecord]) -> list[LogRecord]:
        pattern = self.pattern
        if pattern is None:
            return list(records)
        search = pattern.search
        return [r for r in records
                if search(r.raw) or (r.parsed and search(plain(r, False, False)))]


_KEY = attrgetter("time")


def sort_records(records: list[LogRecord]) -> list[LogRecord]:
    """Records in time order (stable: lines with one timestamp keep the order they came in)."""
    records.sort(key=_KEY)
    return records


def merge_sorted(streams: Iterable[Iterable[LogRecord]]) -> Iterator[LogRecord]:
    """k-way merge of streams each already in time order."""
    return merge(*streams, key=_KEY)


class ReorderWindow:
    """Holds followed records briefly so that records of several sources come out in time order.

    :meth:`add` takes records as they arrive (with the arrival time, any monotonic clock in
    seconds); :meth:`drain` releases those that may go (see the module docstring). ``late``
    counts records released behind a later one.
    """

    def __init__(self, hold: float = HOLD, limit: int = LIMIT) -> None:
        if hold < 0 or limit < 1:
            raise ValueError("hold must be >= 0 and limit >= 1")
        self.hold = hold
        self.limit = limit
        self._held: list[tuple[str, float, int, LogRecord]] = []
        self._seen: dict[str, str] = {}
        """source -> the latest time it sent"""
        self._heard: dict[str, float] = {}
        """source -> when it last sent something"""
        self._sorted = True
        self._seq = 0
        self.last = ""
        """The time of the latest record released."""
        self.late = 0

    def __len__(self) -> int:
        return len(self._held)

    def add(self, records: Iterable[LogRecord], now: float) -> None:
        held, seen, heard = self._held, self._seen, self._heard
        seq = self._seq
        for record in records:
            time, source = record.time, record.source
            held.append((time, now, seq, record))
            seq += 1
            if time > seen.get(source, ""):
                seen[source] = time
            heard[source] = now
        self._seq = seq
        self._sorted = False

    def drain(self, now: float, everything: bool = False) -> list[LogRecord]:
        """Release what may go at ``now`` (``everything``: all that is held, in order)."""
        held = self._held
        if not held:
            return []
        if not self._sorted:
            held.sort(key=_sort_key)
            self._sorted = True
        if everything:
            cut = len(held)
        else:
            ripe = now - self.hold
            cut = max(0, len(held) - self.limit)
            for index in range(len(held) - 1, cut - 1, -1):
                if held[index][1] <= ripe:
                    cut = index + 1
                    break
            sending = [t for s, t in self._seen.items() if self._heard[s] > ripe]
            if sending:
                cut = max(cut, bisect_right(held, min(sending), key=itemgetter(0)))
        if not cut:
            return []
        out = [item[3] for item in held[:cut]]
        del held[:cut]
        return self._mark_late(out)

    def _mark_late(self, out: list[LogRecord]) -> list[LogRecord]:
        last = self.last
        if out[0].time >= last:  # the usual case: nothing released earlier is later
            self.last = out[-1].time or last
            return out
        marked = []
        for record in out:
            if record.time < last:
                self.late += 1
                marked.append(LogRecord(record.time, record.source, record.raw, record.level,
                                        record.message, record.fields, True))
            else:
                last = record.time
                marked.append(record)
        self.last = last
        return marked


def _sort_key(item: tuple[str, float, int, LogRecord]) -> tuple[str, int]:
    return item[0], item[2]
