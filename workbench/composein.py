"""Reading an existing compose file for ``workbench import --compose`` (pure apart from reading
the file; docs/compose.md).

Per service, what workbench takes (and nothing else):

- the endpoint: ``x-workbench: {endpoint}``, else the label ``dev.workbench.endpoint`` (in
  ``deploy.labels`` or ``labels``), else the service's key; workbench's own proxy (label
  ``dev.workbench.role: proxy``) is no endpoint;
- ``routes``, ``port``, ``health``: from ``x-workbench`` (what ``workbench export`` writes; a
  team adds it to its own file). A compose file has no routes of its own;
- ``replicas``: ``deploy.replicas`` (``mode: global`` has none);
- variables: ``environment`` (map or ``NAME=value`` list, ``$$`` read as ``$``); a variable
  taken from the shell (no value) or holding ``${...}`` is not taken, and says so;
- secret names: the label ``dev.workbench.secrets`` (values are never in a compose file);
  compose ``secrets:`` are files, which workbench does not mount: said, not taken;
- ``data``: a volume mounted at ``/data`` (only for an endpoint to create).

A file that cannot be read this way gets one :class:`~workbench.errors.ConfigError` naming the
file, the line, the key (``services.orders.deploy.replicas``) and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import names
from .engine import LABEL
from .errors import ConfigError
from .model import is_route
from .schema import is_env_name, shown
from .yamlfile import LineDict, LineList, read

EXTENSION = "x-workbench"
_INTERPOLATED = re.compile(r"(?<!\$)\$(\{|[A-Za-z_])")
"""A ``$`` compose would replace from the shell (after ``$$`` is taken as a plain ``$``)."""


@dataclass(frozen=True, slots=True)
class ComposeService:
    """What one service of a compose file says about an endpoint (None: nothing)."""

    key: str
    endpoint: str
    line: int
    routes: tuple[str, ...] | None = None
    port: int | None = None
    health: str | None = None
    replicas: int | None = None
    env: Mapping[str, str] | None = None
    secrets: tuple[str, ...] | None = None
    data: bool = False
    notes: tuple[str, ...] = ()
    """What was not taken, and why (one line each)."""


@dataclass(frozen=True, slots=True)
class ComposeFile:
    path: Path
    services: tuple[ComposeService, ...]
    environment: str | None = None
    """The environment a workbench export names (``x-workbench: {environment}``)."""
    skipped: tuple[str, ...] = field(default=())
    """Keys of services that are no endpoint (workbench's proxy)."""


def read_compose(path: Path) -> ComposeFile:
    """The services of the compose file at ``path``."""
    _, data = read(path)
    if not isinstance(data, LineDict) or not isinstance(data.get("services"), LineDict) \
            or not data["services"]:
        raise ConfigError(path, getattr(data, "line", None) or 1, "a compose file needs a "
                          "'services:' mapping with at least one service",
                          "check that this is a compose file (docker stack/compose)")
    top = data.get(EXTENSION)
    env = top.get("environment") if isinstance(top, LineDict) else None
    found, skipped = [], []
    for key, body in data["services"].items():
        where = f"services.{key}"
        line = data["services"].line_of(key)
        if not isinstance(body, LineDict):
            raise ConfigError(path, line, f"{where} is not a mapping", "give each service "
                              "its settings (image:, deploy:, ...)")
        service = _service(path, key, body, line)
        if service is None:
            skipped.append(key)
        else:
            found.append(service)
    return ComposeFile(path, tuple(found), str(env) if isinstance(env, str) else None,
                       tuple(skipped))


def _service(path: Path, key: str, body: LineDict, line: int) -> ComposeService | None:
    where = f"services.{key}"
    deploy = _mapping(path, body, "deploy", where)
    labels = {**_labels(path, body, "labels", where),
              **_labels(path, deploy, "labels", f"{where}.deploy")}
    if labels.get(f"{LABEL}role") == "proxy":
        return None
    extra = _mapping(path, body, EXTENSION, where)
    name = extra.get("endpoint") or labels.get(f"{LABEL}endpoint") or key
    if not isinstance(name, str) or names.problem(name):
        raise ConfigError(path, extra.line_of("endpoint") if "endpoint" in extra else line,
                          f"{where}: {shown(name)} is no endpoint name ({names.problem(name)})",
                          f"set x-workbench: {{endpoint: {names.suggest(str(name))}}} on it")
    notes: list[str] = []
    routes = _routes(path, extra, where)
    port = _port(path, extra, where)
    health = extra.get("health")
    if health is not None and (not isinstance(health, str) or not health.startswith("/")):
        raise ConfigError(path, extra.line_of("health"), f"{where}.{EXTENSION}.health "
                          f"{shown(health)} is not a path", "write e.g. health: /health")
    replicas = _replicas(path, deploy, where, notes)
    env = _environment(path, body, where, notes)
    secrets = None
    if f"{LABEL}secrets" in labels:
        secrets = tuple(s for s in labels[f"{LABEL}secrets"].split(",") if s)
    if body.get("secrets") and secrets is None:
        notes.append("its compose secrets are files, which workbench does not mount: add "
                     "their names to secrets: (passed as variables) and the values to the "
                     "environment's secrets file")
    if body.get("env_file"):
        notes.append("env_file is not read: copy what it sets to env:")
    return ComposeService(key, name, line, routes, port, health, replicas, env, secrets,
                          _has_data(body), tuple(notes))


def _mapping(path: Path, body: LineDict, key: str, where: str) -> LineDict:
    value = body.get(key)
    if value is None:
        empty = LineDict()
        empty.line, empty.key_lines = body.line, {}
        return empty
    if not isinstance(value, LineDict):
        raise ConfigError(path, body.line_of(key), f"{where}.{key} is not a mapping",
                          f"write {key}: as key: value lines")
    return value


def _labels(path: Path, body: LineDict, key: str, where: str) -> dict[str, str]:
    value = body.get(key)
    if value is None:
        return {}
    if isinstance(value, LineDict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, LineList) and all(isinstance(i, str) for i in value):
        return dict(item.partition("=")[::2] for item in value)
    raise ConfigError(path, body.line_of(key), f"{where}.{key} is neither a mapping nor a list "
                      "of NAME=value", "write labels as key: value lines")


def _routes(path: Path, extra: LineDict, where: str) -> tuple[str, ...] | None:
    value = extra.get("routes")
    if value is None:
        return None
    if not isinstance(value, LineList) or not all(isinstance(r, str) for r in value):
        raise ConfigError(path, extra.line_of("routes"), f"{where}.{EXTENSION}.routes is not a "
                          "list of paths", "write e.g. routes: [/orders]")
    for index, route in enumerate(value):
        if not is_route(route):
            raise ConfigError(path, value.line_of(index), f"{where}.{EXTENSION}.routes: "
                              f"{shown(route)} is not a path prefix", "write e.g. /orders")
    return tuple(value)


def _port(path: Path, extra: LineDict, where: str) -> int | None:
    value = extra.get("port")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(path, extra.line_of("port"), f"{where}.{EXTENSION}.port "
                          f"{shown(value)} is not a port", "write e.g. port: 8000")
    return value


def _replicas(path: Path, deploy: LineDict, where: str, notes: list[str]) -> int | None:
    if deploy.get("mode") == "global":
        notes.append("deploy.mode is global (one task per node): no replica count taken")
        return None
    value = deploy.get("replicas")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ConfigError(path, deploy.line_of("replicas"), f"{where}.deploy.replicas "
                          f"{shown(value)} is not a count from 1 to 1000",
                          "write e.g. replicas: 2 (or remove it)")
    return value


def _environment(path: Path, body: LineDict, where: str,
                 notes: list[str]) -> dict[str, str] | None:
    value = body.get("environment")
    if value is None:
        return None
    line = body.line_of("environment")
    pairs: list[tuple[str, Any]] = []
    if isinstance(value, LineDict):
        pairs = list(value.items())
    elif isinstance(value, LineList) and all(isinstance(i, str) for i in value):
        pairs = [(i.partition("=")[0], i.partition("=")[2] if "=" in i else None) for i in value]
    else:
        raise ConfigError(path, line, f"{where}.environment is neither a mapping nor a list of "
                          "NAME=value", "write it as NAME: value lines")
    result: dict[str, str] = {}
    for name, raw in pairs:
        if not is_env_name(name):
            raise ConfigError(path, line, f"{where}.environment: {shown(name)} is not a "
                              "variable name", "use letters, digits and '_'")
        if raw is None:
            notes.append(f"{name} takes its value from the shell: not taken")
            continue
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if _INTERPOLATED.search(text.replace("$$", "")):
            notes.append(f"{name} is interpolated from the shell (${{...}}): not taken")
            continue
        result[name] = text.replace("$$", "$")
    return result


def _has_data(body: LineDict) -> bool:
    for item in body.get("volumes") or ():
        if isinstance(item, str) and item.rstrip("/").split(":")[1:2] == ["/data"]:
            return True
        if isinstance(item, Mapping) and str(item.get("target", "")).rstrip("/") == "/data":
            return True
    return False
