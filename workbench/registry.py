"""The user's project registry: ``$XDG_CONFIG_HOME/workbench/projects.yaml``.

It lists known projects by name and path. A project that was moved or deleted is reported as
missing, never crashed on. Writes replace the file in one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ConfigError
from .model import PROJECT_FILE
from .paths import config_dir
from .yamlfile import read, write_atomic


@dataclass(frozen=True, slots=True)
class Entry:
    """One known project."""

    name: str
    path: Path

    @property
    def exists(self) -> bool:
        """False when the project was moved or deleted since it was registered."""
        return (self.path / PROJECT_FILE).is_file()


def registry_file() -> Path:
    return config_dir() / "projects.yaml"


def load() -> list[Entry]:
    """The registered projects, in the order they were added."""
    path = registry_file()
    if not path.exists():
        return []
    _, data = read(path)
    fix = f"fix it, or delete {path} to start a new registry"
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("projects", []), list):
        raise ConfigError(path, 1, "the registry must be 'projects:' with a list", fix)
    entries = []
    for index, item in enumerate(data.get("projects") or []):
        line = data["projects"].line_of(index)
        if not (isinstance(item, dict) and isinstance(item.get("name"), str)
                and isinstance(item.get("path"), str)):
            raise ConfigError(path, line, "each project needs 'name' and 'path'", fix)
        entries.append(Entry(name=item["name"], path=Path(item["path"])))
    return entries


def save(entries: list[Entry]) -> None:
    path = registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"projects": [{"name": e.name, "path": str(e.path)} for e in entries]}
    write_atomic(path, "# Projects known to workbench.\n" + yaml.safe_dump(body, sort_keys=False))


def add(name: str, path: Path) -> None:
    """Register a project (again, if its path was known)."""
    path = path.resolve()
    entries = [e for e in load() if e.path != path]
    save([*entries, Entry(name=name, path=path)])


def remove(path: Path) -> bool:
    """Forget the project at ``path``; True when it was registered."""
    path = path.resolve()
    entries = load()
    kept = [e for e in entries if e.path != path]
    if len(kept) != len(entries):
        save(kept)
    return len(kept) != len(entries)
