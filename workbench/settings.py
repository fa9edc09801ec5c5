"""User settings: ``$XDG_CONFIG_HOME/workbench/config.yaml``.

Today it holds key remaps for the TUI, by binding id::

    keys:
      new: ctrl+n        # one key
      quit: x,ctrl+q     # or several, comma-separated

The caller passes the binding ids that exist (the TUI knows them; this module never imports
it). Every problem is a :class:`~workbench.errors.ConfigError` naming the file and the line,
with a did-you-mean for a mistyped id.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import ConfigError
from .paths import config_dir
from .schema import Section, did_you_mean
from .yamlfile import LineDict, read

SETTINGS_FILE = "config.yaml"
MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_KEY_NAME = re.compile(r"^[a-z0-9_]+$")
_EMPTY: MappingProxyType[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Settings:
    """What config.yaml says; defaults when it does not exist."""

    path: Path
    keys: MappingProxyType[str, str] = field(default_factory=lambda: _EMPTY)


def settings_file() -> Path:
    """``$XDG_CONFIG_HOME/workbench/config.yaml``."""
    return config_dir() / SETTINGS_FILE


def load(binding_ids: Collection[str], path: Path | None = None) -> Settings:
    """Read and validate the settings; ``binding_ids`` are the ids ``keys:`` may remap."""
    path = path or settings_file()
    if not path.is_file():
        return Settings(path=path)
    _, data = read(path)
    if data is None:
        return Settings(path=path)
    if not isinstance(data, LineDict):
        raise ConfigError(path, getattr(data, "line", 1), f"{SETTINGS_FILE} must be a mapping",
                          "write e.g. 'keys: {new: ctrl+n}'")
    top = Section(data, path, SETTINGS_FILE)
    keys = _keys(top, path, sorted(binding_ids))
    top.finish()
    return Settings(path=path, keys=keys)


def check_key(text: str) -> str | None:
    """Why ``text`` is not a key list such as ``ctrl+n`` or ``x,f2``; None when it is."""
    for key in text.split(","):
        key = key.strip()
        if not key:
            return f"{text!r} has an empty key"
        if len(key) == 1 and key.isprintable() and not key.isspace():
            continue
        *mods, name = key.split("+")
        unknown = [m for m in mods if m not in MODIFIERS]
        if unknown:
            return f"{key!r} uses the unknown modifier {unknown[0]!r}"
        if not name or not (len(name) == 1 or _KEY_NAME.match(name)):
            return f"{key!r} is not a key name"
    return None


def _keys(top: Section, path: Path, ids: list[str]) -> MappingProxyType[str, str]:
    raw = top.raw("keys", None)
    if raw is None:
        return _EMPTY
    if not isinstance(raw, dict):
        raise top.error("keys", "'keys' must map binding ids to keys",
                        "write e.g. keys: {new: ctrl+n, quit: x}")
    result: dict[str, str] = {}
    for binding_id, key in raw.items():
        line = raw.line_of(binding_id) if isinstance(raw, LineDict) else top.line("keys")
        if binding_id not in ids:
            hint = did_you_mean(binding_id, ids)
            raise ConfigError(path, line, f"unknown binding id '{binding_id}' in 'keys'",
                              hint or f"the ids are: {', '.join(ids)}")
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(path, line, f"the key of '{binding_id}' must be text",
                              f"write e.g. {binding_id}: \"ctrl+n\"")
        reason = check_key(key.replace(" ", ""))
        if reason:
            raise ConfigError(path, line, f"bad key for '{binding_id}': {reason}",
                              "write e.g. ctrl+n, f2, x or several as 'x,ctrl+q'")
        result[binding_id] = key.replace(" ", "")
    return MappingProxyType(result)
