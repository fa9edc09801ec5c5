"""Where workbench keeps its own files (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    base = Path(value) if value and Path(value).is_absolute() else Path.home() / fallback
    return base / "workbench"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/workbench``: the project registry and user settings."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    """``$XDG_DATA_HOME/workbench``: the demo project and other data."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    """``$XDG_STATE_HOME/workbench``: the ``local`` environment's state root and the like."""
    return _xdg("XDG_STATE_HOME", ".local/state")
