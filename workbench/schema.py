"""Strict reading of one YAML mapping: typed getters, then unknown keys rejected.

A :class:`Section` wraps a mapping from :mod:`workbench.yamlfile`. Each getter checks one key
and records it as known; :meth:`Section.finish` then rejects every other key with a
did-you-mean. Errors name the file, the line and what to write instead.

Text is one line of at most MAX_LINE characters without control characters (tab is allowed)
unless a getter says otherwise; NUL is never allowed: it cannot reach a process's argv or
environment.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from .errors import ConfigError
from .yamlfile import LineDict, LineList

T = TypeVar("T")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # use fullmatch: '$' allows a final "\n"
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CHAR_NAMES = {"\x00": "a NUL character", "\n": "a line break (LF)",
               "\r": "a carriage return (CR)", "\t": "a tab", " ": "a space"}
_MISSING = object()
MAX_LINE = 1024
"""The longest one-line text (a name, path, image, URL) accepted."""


def is_env_name(name: str) -> bool:
    """Whether ``name`` is a variable name: letters, digits and '_', not starting with a digit."""
    return _ENV_NAME.fullmatch(name) is not None


def control_problem(text: str, *, lines: bool = False) -> str | None:
    """What control character ``text`` holds, as "a line break (LF)", or None.

    Tab is allowed; with ``lines`` line feeds are too (a shell script). NUL never is."""
    found = (_CONTROL_IN_LINES if lines else _CONTROL).search(text)
    if found is None:
        return None
    return describe_char(found.group())


def describe_char(char: str) -> str:
    """A character as a message names it: "a space", "a line break (LF)", "'#'"."""
    if char in _CHAR_NAMES:
        return _CHAR_NAMES[char]
    if not char.isprintable():
        return f"the control character U+{ord(char):04X}"
    return repr(char)


def did_you_mean(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    """A ' (did you mean 'x'?)'-style hint, or an empty string."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


class Section:
    """One mapping of a project file, read key by key."""

    def __init__(self, data: Any, path: Path, where: str, line: int = 1) -> None:
        self.path = path
        self.where = where
        if data is None:
            data = LineDict()
            data.line, data.key_lines = line, {}
        if not isinstance(data, dict):
            raise ConfigError(
                path, getattr(data, "line", line), f"{where} must be a mapping of keys to values",
                "write it as 'key: value' lines",
            )
        self.data: LineDict = data if isinstance(data, LineDict) else _as_linedict(data, line)
        self.known: list[str] = []

    # -- helpers -----------------------------------------------------------------------------
    def line(self, key: str | None = None) -> int:
        return self.data.line_of(key) if key else self.data.line

    def error(self, key: str | None, problem: str, fix: str | None = None) -> ConfigError:
        return ConfigError(self.path, self.line(key), problem, fix)

    def _get(self, key: str, default: Any) -> Any:
        self.known.append(key)
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise self.error(None, f"{self.where} needs '{key}'", f"add '{key}: ...'")
            return default
        return value

    def _label(self, key: str) -> str:
        return f"'{key}' in {self.where}"

    # -- getters -----------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, default: Any = _MISSING, *, example: str = "...",
             lines: bool = False) -> Any:
        """One line of text (``lines``: several, e.g. a shell script)."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"{self._label(key)} must be text, not {_shown(value)}",
                             f"write e.g. {key}: {example}")
        if not lines and len(value) > MAX_LINE:
            raise self.error(key, f"{self._label(key)} is longer than {MAX_LINE} characters",
                             f"write e.g. {key}: {example}")
        bad = control_problem(value, lines=lines)
        if bad:
            raise self.error(key, f"{self._label(key)} contains {bad}",
                             "remove it" if lines or bad.startswith("a NUL")
                             else f"write it on one line, e.g. {key}: {example}")
        return value

    def integer(self, key: str, default: Any = _MISSING, *, low: int = 0, high: int = 2**31,
                example: str = "8000") -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(
                key, f"{self._label(key)} must be a whole number from {low} to {high}, "
                f"not {_shown(value)}", f"write e.g. {key}: {example}")
        return value

    def port(self, key: str, default: Any = _MISSING) -> Any:
        return self.integer(key, default, low=1, high=65535)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"{self._label(key)} must be true or false, not {_shown(value)}",
                             f"write {key}: true or {key}: false")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self._get(key, default)
        if value not in choices:
            hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
            raise self.error(key, f"{self._label(key)} must be one of {', '.join(choices)}, "
                             f"not {_shown(value)}", hint or f"write e.g. {key}: {choices[0]}")
        return value

    def text_list(self, key: str, *, check: Callable[[str, int], None] | None = None,
                  example: str = "[a, b]") -> tuple[str, ...]:
        value = self._get(key, ())
        if value == ():
            return ()
        if not isinstance(value, list):
            raise self.error(key, f"{self._label(key)} must be a list, not {_shown(value)}",
                             f"write e.g. {key}: {example}")
        lines = value.item_lines if isinstance(value, LineList) else [self.line(key)] * len(value)
        seen: dict[str, int] = {}
        for item, line in zip(value, lines, strict=True):
            if not isinstance(item, str) or not item:
                raise ConfigError(self.path, line, f"{self._label(key)} must list text items, "
                                  f"not {_shown(item)}", f"write e.g. {key}: {example}")
            bad = control_problem(item)
            if bad:
                raise ConfigError(self.path, line, f"{_shown(item)} in {self._label(key)} "
                                  f"contains {bad}", f"write e.g. {key}: {example}")
            if item in seen:
                raise ConfigError(self.path, line, f"{self._label(key)} lists {_shown(item)} "
                                  "twice",
                                  "remove one of them")
            seen[item] = line
            if check:
                check(item, line)
        return tuple(value)

    def text_map(self, key: str, *, env_names: bool = False) -> MappingProxyType[str, str]:
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"{self._label(key)} must be a mapping, not {_shown(value)}",
                             f"write e.g. {key}: {{NAME: value}}")
        result: dict[str, str] = {}
        for name, item in value.items():
            line = value.line_of(name) if isinstance(value, LineDict) else self.line(key)
            if env_names and not is_env_name(name):
                raise ConfigError(self.path, line, f"{_shown(name)} in {key} is not a valid "
                                  "variable name", "use letters, digits and '_', not starting "
                                  "with a digit")
            if isinstance(item, (dict, list)) or item is None:
                raise ConfigError(self.path, line, f"'{name}' in {key} must be a single value, "
                                  f"not {_shown(item)}", f"write e.g. {name}: \"value\"")
            if not isinstance(item, (str, int, float)):  # a date, !!binary...: say it in text
                raise ConfigError(self.path, line, f"'{name}' in {key} must be text or a "
                                  f"number, not {_shown(item)}", f"quote it: {name}: \"...\"")
            text = _scalar_text(item)
            bad = control_problem(text)
            if bad:
                raise ConfigError(self.path, line, f"the value of '{name}' in {key} contains "
                                  f"{bad}", "remove it" if bad.startswith("a NUL") else
                                  "write the value on one line; for multi-line data (a PEM key) "
                                  "store it base64-encoded and decode it in the program")
            result[name] = text
        return MappingProxyType(result)

    def section(self, key: str, where: str) -> Section:
        value = self._get(key, None)
        return Section(value, self.path, where, self.line(key))

    def raw(self, key: str, default: Any = None) -> Any:
        return self._get(key, default)

    def finish(self) -> None:
        """Reject every key that no getter asked for."""
        for key in self.data:
            if key not in self.known:
                hint = did_you_mean(key, self.known)
                allowed = ", ".join(sorted(self.known))
                raise self.error(key, f"unknown key {_shown(key)} in {self.where}",
                                 hint or f"the keys allowed here are: {allowed}")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shown(value: Any) -> str:
    """``value`` as an error message shows it: quoted, escaped, at most 40 characters."""
    return _shown(value)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_linedict(data: dict[str, Any], line: int) -> LineDict:
    result = LineDict(data)
    result.line, result.key_lines = line, {}
    return result
