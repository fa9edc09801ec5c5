"""``import --compose FILE [--env ENV]``: routes, replicas, variables and secret names of a
compose file into the project's endpoint.yaml files (docs/compose.md).

:func:`plan` reads the file (:mod:`workbench.composein`) and works out, per service, what
changes in the endpoint of the same name: only the keys the file says something about, and
only where they differ. Variables that the environment (``--env``, or the one a workbench
export names) already sets to the same value stay in workbench.yaml, not in endpoint.yaml.
Each changed endpoint.yaml is edited in place (its other lines and comments kept), loaded
again as workbench would load it, and only when every one passes are they written, each in
one step. A service with no endpoint of its name is printed as the endpoint to create.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..composein import ComposeService, read_compose
from ..errors import BadInput, ConfigError
from ..events import Emit, LogLines, Result, Warning
from ..model import ENDPOINT_FILE, Endpoint, Environment, Project, load_endpoint
from ..yamlfile import LineDict, read, write_atomic

KEYS = ("routes", "replicas", "env", "secrets")
"""The endpoint.yaml keys an import may set, in the order they are written."""


@dataclass(frozen=True, slots=True)
class Change:
    """One service of the file against the project."""

    service: ComposeService
    endpoint: Endpoint | None
    """The project's endpoint of that name (None: it would be created)."""
    values: Mapping[str, Any]
    """endpoint.yaml key -> its new value (only keys that change)."""
    text: str = ""
    """The new endpoint.yaml (existing endpoints with changes)."""

    def lines(self) -> list[str]:
        name = self.service.endpoint
        if self.endpoint is None:
            body = yaml.safe_dump(dict(self.values), sort_keys=False, default_flow_style=False)
            return [f"{name}: no such endpoint in the project; create it with 'workbench "
                    f"--batch new -e {name}', then import again, for this endpoint.yaml:",
                    *(f"    {line}" for line in body.splitlines())]
        if not self.values:
            return [f"{name}: endpoint.yaml already says what the file says"]
        return [f"{name}: {key}: " + (_env_change(self.endpoint.env, value) if key == "env"
                                      else f"{_shown(getattr(self.endpoint, key))} -> "
                                           f"{_shown(value)}")
                for key, value in self.values.items()]


def plan(project: Project, source: Path, env_name: str | None, emit: Emit) -> list[Change]:
    """What importing ``source`` changes; raises on a bad file or a result workbench would
    refuse to load (naming the endpoint.yaml and the key)."""
    found = read_compose(source)
    env = _environment(project, env_name or found.environment, explicit=env_name is not None)
    if found.skipped:
        emit(LogLines("import", tuple(f"{key}: workbench's proxy, not an endpoint: skipped"
                                      for key in found.skipped)))
    changes: list[Change] = []
    seen: dict[str, str] = {}
    for service in found.services:
        if service.endpoint in seen:
            raise ConfigError(source, service.line, f"services.{service.key} and "
                              f"services.{seen[service.endpoint]} are both endpoint "
                              f"{service.endpoint}", "give one an x-workbench: {endpoint: NAME}")
        seen[service.endpoint] = service.key
        for note in service.notes:
            emit(Warning(f"{source.name}: services.{service.key}: {note}"))
        existing = next((e for e in project.endpoints if e.name == service.endpoint), None)
        changes.append(_change(service, existing, env))
    _check_routes(project, changes)
    return changes


def apply(changes: Sequence[Change], emit: Emit, *, dry_run: bool = False) -> None:
    """Write the changed endpoint.yaml files (all were checked by :func:`plan`)."""
    written = 0
    for change in changes:
        emit(LogLines("import", tuple(change.lines())))
        if change.endpoint is not None and change.values and not dry_run:
            write_atomic(change.endpoint.path / ENDPOINT_FILE, change.text)
            written += 1
    create = [c.service.endpoint for c in changes if c.endpoint is None]
    summary = (f"{'would change' if dry_run else 'changed'} "
               f"{sum(1 for c in changes if c.endpoint is not None and c.values)} "
               "endpoint.yaml file(s)" + (f"; to create: {', '.join(create)}" if create else ""))
    emit(Result(True, summary, {"written": written, "create": create,
                                "changes": {c.service.endpoint: dict(c.values)
                                            for c in changes}}))


def _environment(project: Project, name: str | None, *, explicit: bool) -> Environment | None:
    if name is None:
        return None
    if explicit:
        return project.environment(name)
    return next((e for e in project.environments if e.name == name), None)


def _change(service: ComposeService, endpoint: Endpoint | None,
            env: Environment | None) -> Change:
    said: dict[str, Any] = {}
    if service.routes is not None:
        said["routes"] = list(service.routes)
    if service.replicas is not None:
        said["replicas"] = service.replicas
    if service.env is not None:
        shared = env.variables if env is not None else {}
        said["env"] = {k: v for k, v in sorted(service.env.items()) if shared.get(k) != v}
    if service.secrets is not None:
        said["secrets"] = list(service.secrets)
    if endpoint is None:
        new: dict[str, Any] = {}
        if service.port is not None:
            new["port"] = service.port
        if service.health is not None:
            new["health"] = service.health
        new["data"] = service.data
        return Change(service, None, {**new, **said})
    values = {k: v for k, v in said.items() if _current(endpoint, k) != v}
    if not values:
        return Change(service, endpoint, {})
    path = endpoint.path / ENDPOINT_FILE
    text, data = read(path)
    updated = set_keys(text, data, values, path)
    _check_loads(endpoint, updated)
    return Change(service, endpoint, values, updated)


def _current(endpoint: Endpoint, key: str) -> Any:
    value = getattr(endpoint, key)
    if key == "env":
        return dict(sorted(value.items()))
    return list(value) if isinstance(value, tuple) else value


def set_keys(text: str, data: Any, values: Mapping[str, Any], path: Path) -> str:
    """``text`` of a block-style YAML mapping with the top-level ``values`` set: a key that is
    there has its lines replaced (comments above the next key stay with it), any other is
    added at the end. Every other line is kept as it was."""
    if not isinstance(data, LineDict):
        raise ConfigError(path, 1, f"{ENDPOINT_FILE} is not a mapping", "fix it first")
    lines = text.splitlines(keepends=True)
    starts = sorted(data.key_lines.values())
    for key, line in data.key_lines.items():
        if not lines[line - 1].startswith(f"{key}:") and not lines[line - 1].startswith(
                (f'"{key}":', f"'{key}':")):
            raise ConfigError(path, line, f"{ENDPOINT_FILE} is not written one key per line "
                              f"(at '{key}')", f"set {', '.join(values)} by hand")
    spans: dict[str, tuple[int, int]] = {}
    for key, line in data.key_lines.items():
        following = [s for s in starts if s > line]
        end = (following[0] if following else len(lines) + 1) - 1
        while end > line and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1  # blank lines and comments before the next key are that key's
        spans[key] = (line, end)
    for key in sorted((k for k in values if k in spans), key=lambda k: -spans[k][0]):
        first, last = spans[key]
        lines[first - 1:last] = [_render(key, values[key])]
    added = [_render(k, values[k]) for k in KEYS if k in values and k not in spans]
    if added:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines += ["# Set by workbench import --compose.\n", *added]
    return "".join(lines)


def _render(key: str, value: Any) -> str:
    return yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False)


def _check_loads(endpoint: Endpoint, text: str) -> None:
    """Load ``text`` as the endpoint's endpoint.yaml (in a scratch folder of its name): what
    workbench would refuse is refused now, naming the real file."""
    real = endpoint.path / ENDPOINT_FILE
    with tempfile.TemporaryDirectory(prefix="wb-import-") as scratch:
        folder = Path(scratch) / endpoint.name
        folder.mkdir()
        (folder / ENDPOINT_FILE).write_text(text, encoding="utf-8")
        try:
            load_endpoint(folder)
        except ConfigError as exc:
            problem = exc.problem.replace(str(folder / ENDPOINT_FILE), str(real))
            raise BadInput(f"after the import, {problem}", exc.fix) from None


def _check_routes(project: Project, changes: Sequence[Change]) -> None:
    """Each route belongs to one endpoint, after the import as before."""
    routes = {e.name: e.routes for e in project.endpoints}
    for change in changes:
        if "routes" in change.values:
            routes[change.service.endpoint] = tuple(change.values["routes"])
    owner: dict[str, str] = {}
    for name, prefixes in sorted(routes.items()):
        for route in prefixes:
            key = route.rstrip("/")
            if key in owner and owner[key] != name:
                raise BadInput(f"after the import, route {route} would belong to {owner[key]} "
                               f"and to {name}", "give each endpoint its own route in the "
                               "compose file (x-workbench: routes)")
            owner[key] = name


def _env_change(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """``+ADDED ~CHANGED -REMOVED`` (names only)."""
    marks = [f"+{k}" for k in sorted(new) if k not in old]
    marks += [f"~{k}" for k in sorted(new) if k in old and old[k] != new[k]]
    marks += [f"-{k}" for k in sorted(old) if k not in new]
    return " ".join(marks)


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)
