"""One container log line, parsed (pure: no I/O, no Docker).

Docker prefixes each line with its timestamp (``timestamps=1``: RFC 3339 with nanoseconds,
UTC, e.g. ``2026-11-30T11:56:30.123456789Z``). :func:`parse_line` splits that off, masks
nothing (the caller redacts first), and parses a JSON line, as the python template writes it
(``{"ts", "level", "msg", ...fields}``), into level, message and fields; other lines pass
through with no level. Only a line that starts with ``{`` is given to the JSON scanner.

:func:`split_json` is the hot path (:func:`workbench.logmerge.parse_lines` calls it for each
line): the level and the text shown (``LEVEL message key=value ...``) without a record.
:class:`LogRecord` is the whole line, made only when a consumer asks for one (``--json``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.scanner import c_make_scanner  # type: ignore[attr-defined]
from typing import Any

LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "log.level")
MESSAGE_KEYS = ("msg", "message", "event")
TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "asctime")
LEVELS = {"warn": "warning", "err": "error", "fatal": "critical", "crit": "critical",
          "dbg": "debug", "trace": "debug", "information": "info", "notice": "info"}
"""Spellings folded onto debug, info, warning, error, critical (others are kept, lower-case)."""
RANKS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
"""A level's rank for ``at least LEVEL`` filters. Another word ranks as info; no level: 0."""

_scan = c_make_scanner(json.JSONDecoder())


@dataclass(slots=True)
class LogRecord:
    """One log line of one container, parsed. Treat it as read-only."""

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


def rank(level: str) -> int:
    """``level``'s rank (:data:`RANKS`): another word ranks as info, no level as 0."""
    return RANKS.get(level, 20) if level else 0


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


def split_stamp(line: str) -> tuple[str, str]:
    """A line as Docker gives it with ``timestamps=1`` as (normalized time, the app's text);
    a line without a readable timestamp is ("", the whole line)."""
    if line[30:31] == " " and line[29:30] == "Z" and line[19:20] == ".":  # Docker's own form
        return line[:30], line[31:]
    stamp, _, text = line.partition(" ")
    time = normal_time(stamp)
    return (time, text) if time else ("", line)


def parse_line(line: str, source: str) -> LogRecord:
    """A line as Docker gives it with ``timestamps=1`` (``STAMP TEXT``) as a record."""
    time, text = split_stamp(line)
    return parse_text(text, source, time)


def json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object, or None (not JSON, or JSON but not an object)."""
    if not text.startswith("{"):
        return None
    try:
        value, end = _scan(text, 0)
    except (StopIteration, ValueError):
        return None
    if end != len(text) and not text[end:].isspace():
        return None
    return value if type(value) is dict else None


def _take(fields: dict[str, Any]) -> tuple[object, object]:
    """Level and message taken out of a JSON line's fields (its own time is dropped too:
    Docker's timestamp is the one lines are ordered by)."""
    level = fields.pop("level", None)
    if level is None:
        level = _pop_first(fields, LEVEL_KEYS)
    message = fields.pop("msg", None)
    if message is None:
        message = _pop_first(fields, MESSAGE_KEYS)
    if fields.pop("ts", None) is None:
        _pop_first(fields, TIME_KEYS)
    return level, message


def parse_text(text: str, source: str, time: str = "") -> LogRecord:
    """The app's own text as a record: a JSON object gives level, message and fields."""
    fields = json_object(text)
    if fields is None:
        return LogRecord(time, source, text)
    level, message = _take(fields)
    return LogRecord(time, source, text, level_name(level),
                     "" if message is None else str(message), fields)


_NAMES: dict[str, tuple[str, str]] = {}
"""Level values seen -> (name, NAME): most lines reuse a handful."""


def split_json(text: str) -> tuple[str, str] | None:
    """A JSON line's (level, shown text ``LEVEL message key=value ...``); None for any other
    line (it is shown as it is). The hot path: no record is made."""
    try:
        fields, end = _scan(text, 0)
    except (StopIteration, ValueError):
        return None
    if type(fields) is not dict or (end != len(text) and not text[end:].isspace()):
        return None
    level, message = _take(fields)
    names = _NAMES.get(level) if type(level) is str else None
    if names is None:
        name = level_name(level)
        names = (name, name.upper() or "-")
        if type(level) is str and len(_NAMES) < 64:
            _NAMES[level] = names
    said = message if type(message) is str else "" if message is None else str(message)
    if not fields:
        return (names[0], f"{names[1]} {said}") if names[0] or said else None
    parts = [names[1], said]
    search = _QUOTED.search
    for key, value in fields.items():
        kind = type(value)
        if kind is int or (kind is str and value and not search(value)):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={show_value(value)}")
    return names[0], " ".join(parts)


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
