"""The project model: ``workbench.yaml`` and each ``endpoint.yaml``, as typed immutable objects.

Loading is pure apart from reading the files. Every problem is a :class:`ConfigError` naming the
file, the line and what to write instead. Layout of a project::

    workbench.yaml            project name, git host, children, environments
    endpoints/NAME/           one git repo each, with endpoint.yaml
    models/NAME/  utilities/NAME/
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from . import names
from .environments import DEFAULT_PROXY_IMAGE as DEFAULT_PROXY_IMAGE
from .environments import DEFAULT_SOCKET as DEFAULT_SOCKET
from .environments import LOCAL as LOCAL
from .environments import Engine as Engine
from .environments import Environment as Environment
from .environments import Host as Host
from .environments import parse_environments
from .errors import BadInput, ConfigError
from .schema import Section, describe_char, did_you_mean, is_env_name, shown
from .swarmconfig import UpdateSettings, parse_endpoint_keys
from .yamlfile import LineDict, read, read_text

PROJECT_FILE = "workbench.yaml"
ENDPOINT_FILE = "endpoint.yaml"
KIND_FOLDERS: dict[str, str] = {"endpoint": "endpoints", "model": "models", "utility": "utilities"}
Kind = Literal["endpoint", "model", "utility"]

_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
"""One segment of a route. Routes are checked segment by segment: a nested pattern such as
``^/(?:[...]+/?)*$`` backtracks exponentially on a long route that fails at its end."""
_URL_PATH_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                            "-._~!$&'()*+,;=:@/?")
"""What a health path may hold besides %XX escapes (RFC 3986 path and query characters)."""
_HEX = frozenset("0123456789abcdefABCDEF")
MAX_PATH = 1024
"""The longest route or health path accepted."""
_EMPTY: MappingProxyType[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A deployable HTTP service and its ``endpoint.yaml``."""

    name: str
    path: Path
    port: int = 8000
    health: str = "/health"
    health_timeout: float = 30.0
    routes: tuple[str, ...] = ()
    data: bool = True
    env: MappingProxyType[str, str] = field(default_factory=lambda: _EMPTY)
    secrets: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    test: str | None = None
    models: tuple[str, ...] = ()
    utilities: tuple[str, ...] = ()
    build_args: MappingProxyType[str, str] = field(default_factory=lambda: _EMPTY)
    template: str | None = None
    replicas: int = 1
    """Tasks of the endpoint's Swarm service (``engine: docker`` runs one per host)."""
    update: UpdateSettings = field(default_factory=UpdateSettings)
    placement: tuple[str, ...] = ()
    """Swarm placement constraints (:mod:`workbench.swarmconfig`)."""
    volume_driver: str = ""
    """The /data volume's driver on Swarm ("": local, pinned to one node)."""
    kind: Kind = field(default="endpoint", init=False)


@dataclass(frozen=True, slots=True)
class Library:
    """A model or utility: a Python package copied into the endpoints that include it."""

    name: str
    kind: Kind
    path: Path
    template: str | None = None


@dataclass(frozen=True, slots=True)
class GitSettings:
    """Where new repos are pushed: a URL template, its group, and an optional GitLab API."""

    remote: str | None = None
    group: str | None = None
    gitlab: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectFile:
    """What ``workbench.yaml`` itself says, before the children are read."""

    path: Path
    name: str
    git: GitSettings
    children: MappingProxyType[str, tuple[str, ...]]
    environments: tuple[Environment, ...]
    build_args: MappingProxyType[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Project:
    """A whole project: its file, endpoints, models, utilities and environments."""

    root: Path
    name: str
    git: GitSettings
    endpoints: tuple[Endpoint, ...]
    models: tuple[Library, ...]
    utilities: tuple[Library, ...]
    environments: tuple[Environment, ...]
    build_args: MappingProxyType[str, str] = field(default_factory=lambda: _EMPTY)
    """Build args for every endpoint (e.g. ``BASE_IMAGE``); an endpoint's own win."""

    @property
    def children(self) -> tuple[Endpoint | Library, ...]:
        return (*self.endpoints, *self.models, *self.utilities)

    def names(self) -> set[str]:
        """Every name in use: the project's and its children's."""
        return {self.name, *(child.name for child in self.children)}

    def endpoint(self, name: str) -> Endpoint:
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        hint = did_you_mean(name, [e.name for e in self.endpoints])
        raise BadInput(f"project '{self.name}' has no endpoint '{name}'",
                       hint or "run 'workbench --batch list' to see its endpoints")

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        hint = did_you_mean(name, [e.name for e in self.environments])
        raise BadInput(f"project '{self.name}' has no environment '{name}'",
                       hint or f"add it under 'environments:' in {PROJECT_FILE}")


# -- loading ----------------------------------------------------------------------------------
def find_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding workbench.yaml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise BadInput(f"{start} is not inside a workbench project (no {PROJECT_FILE} here or above)",
                   "cd into a project, pass -C PROJECT_DIR, or create one with "
                   "'workbench --batch new NAME'")


def load_project(root: Path) -> Project:
    """Load and validate a whole project rooted at ``root``."""
    _, data = read(root / PROJECT_FILE)
    pf = parse_project_file(root / PROJECT_FILE, data)
    endpoints = tuple(load_endpoint(root / "endpoints" / n, pf) for n in pf.children["endpoint"])
    models = tuple(_load_library(root, "model", n, pf) for n in pf.children["model"])
    utilities = tuple(_load_library(root, "utility", n, pf) for n in pf.children["utility"])
    project = Project(root=root, name=pf.name, git=pf.git, endpoints=endpoints, models=models,
                      utilities=utilities, environments=pf.environments,
                      build_args=pf.build_args)
    _check_routes(project)
    return project


def parse_project_file(path: Path, data: object) -> ProjectFile:
    """Validate the data of ``workbench.yaml`` alone (children are not read)."""
    if not isinstance(data, LineDict):
        raise ConfigError(path, 1, "workbench.yaml must be a mapping", "start with 'project: NAME'")
    top = Section(data, path, PROJECT_FILE)
    name = _name(top, "project", "project")
    git = top.section("git", "git")
    git_settings = GitSettings(
        remote=git.text("remote", None, example="git@gitlab.example.com:{group}/{name}.git"),
        group=git.text("group", None, example=name),
        gitlab=git.text("gitlab", None, example="https://gitlab.example.com"),
    )
    git.finish()
    if git_settings.remote is not None:
        from .remotes import check_template

        try:
            check_template(git_settings.remote)
        except BadInput as exc:
            raise git.error("remote", exc.problem, exc.fix) from None
    seen: dict[str, str] = {name: "the project"}
    children: dict[str, tuple[str, ...]] = {}
    for kind, key in KIND_FOLDERS.items():
        def check(item: str, line: int, kind: str = kind, key: str = key) -> None:
            reason = names.problem(item)
            if reason:
                raise ConfigError(path, line, f"bad {kind} name in '{key}': {reason}",
                                  f"rename it, e.g. '{names.suggest(item)}'")
            if item in names.RESERVED:
                raise ConfigError(path, line, f"'{item}' is reserved by workbench",
                                  f"choose another {kind} name")
            if item in seen:
                raise ConfigError(path, line, f"the name '{item}' is used by {seen[item]} "
                                  f"and by {kind} '{item}'", "names must be unique in a project")
            seen[item] = f"{kind} '{item}'"
        children[kind] = top.text_list(key, check=check, example="[orders, billing]")
    environments = parse_environments(top.section("environments", "environments"), name)
    build_args = top.text_map("build_args", env_names=True)
    top.finish()
    return ProjectFile(path=path, name=name, git=git_settings,
                       children=MappingProxyType(children), environments=environments,
                       build_args=build_args)


def load_endpoint(folder: Path, pf: ProjectFile | None = None) -> Endpoint:
    """Load ``endpoint.yaml`` of one endpoint folder."""
    path = folder / ENDPOINT_FILE
    if not path.is_file():
        raise ConfigError(path, None, f"endpoint '{folder.name}' has no {ENDPOINT_FILE}",
                          _missing_fix(folder, "endpoint"))
    _, data = read(path)
    sec = Section(data, path, ENDPOINT_FILE)

    def route(item: str, line: int) -> None:
        if not is_route(item):
            raise ConfigError(path, line, f"route {shown(item)} is not a path prefix",
                              f"write e.g. routes: [/{folder.name}] (segments of a-z, A-Z, "
                              "0-9, '.', '_', '~' and '-', separated by '/')")

    def contract(item: str, line: int) -> None:
        if names.problem(item):
            raise ConfigError(path, line, f"contract name {shown(item)} is not valid",
                              "use a-z, 0-9 and '-', e.g. orders-api")

    def secret(item: str, line: int) -> None:
        if not is_env_name(item):
            raise ConfigError(path, line, f"secret name {shown(item)} is not a variable name",
                              "use letters, digits and '_', e.g. DB_PASSWORD")

    health = sec.text("health", "/health", example="/health")
    if not health.startswith("/"):
        raise sec.error("health", f"'health' must be a path starting with '/', not "
                        f"{shown(health)}", "write e.g. health: /health")
    bad = health_problem(health)
    if bad:
        raise sec.error("health", f"'health' {shown(health)} is not a URL path: {bad}",
                        "percent-encode it (a space is %20), e.g. health: /health")
    has_data = sec.flag("data", True)
    replicas, update, placement, volume_driver = parse_endpoint_keys(sec, has_data)
    endpoint = Endpoint(
        name=folder.name,
        path=folder,
        port=sec.port("port", 8000),
        health=health,
        health_timeout=_health_timeout(sec),
        routes=sec.text_list("routes", check=route, example=f"[/{folder.name}]"),
        data=has_data,
        env=sec.text_map("env", env_names=True),
        secrets=sec.text_list("secrets", check=secret, example="[DB_PASSWORD]"),
        produces=sec.text_list("produces", check=contract, example="[orders-api]"),
        consumes=sec.text_list("consumes", check=contract, example="[billing-api]"),
        test=sec.text("test", None, example="python3 -m unittest discover -s tests",
                      lines=True),
        models=sec.text_list("models", example="[customer]"),
        utilities=sec.text_list("utilities", example="[textutil]"),
        build_args=sec.text_map("build_args", env_names=True),
        template=_template_of(folder),
        replicas=replicas, update=update, placement=placement, volume_driver=volume_driver,
    )
    sec.finish()
    if pf is not None:
        for kind, key in (("model", "models"), ("utility", "utilities")):
            for index, item in enumerate(getattr(endpoint, key)):
                if item not in pf.children[kind]:
                    line = data[key].line_of(index) if isinstance(data[key], list) else None
                    hint = did_you_mean(item, pf.children[kind])
                    raise ConfigError(path, line, f"{kind} '{item}' is not in this project",
                                      hint or f"create it with 'workbench --batch new "
                                      f"-{kind[0]} {item}' or remove it")
    return endpoint


def is_route(route: str) -> bool:
    """Whether ``route`` is a path prefix for the proxy: ``/seg[/seg...][/]``, not ``/``.

    Linear in its length (see _SEGMENT); '.' and '..' segments are refused."""
    if not route.startswith("/") or route == "/" or len(route) > MAX_PATH:
        return False
    return all(_SEGMENT.fullmatch(seg) and seg not in (".", "..")
               for seg in route[1:].removesuffix("/").split("/"))


def health_problem(path: str) -> str | None:
    """Why ``path`` cannot go into ``GET <path> HTTP/1.0`` as it is, or None.

    Only RFC 3986 path and query characters and %XX escapes: no space, CR, LF or other
    control character (they would split the request), nothing non-ASCII, no '#'."""
    if len(path) > MAX_PATH:
        return f"it is longer than {MAX_PATH} characters"
    for index, char in enumerate(path):
        if char == "%":
            if not (len(path) >= index + 3 and path[index + 1] in _HEX
                    and path[index + 2] in _HEX):
                return "a '%' must be followed by two hex digits"
        elif char not in _URL_PATH_CHARS:
            return f"it contains {describe_char(char)}"
    return None


def _health_timeout(sec: Section) -> float:
    return float(sec.integer("health_timeout", 30, low=1, high=3600, example="30"))


def _load_library(root: Path, kind: Kind, name: str, pf: ProjectFile) -> Library:
    folder = root / KIND_FOLDERS[kind] / name
    if not folder.is_dir():
        raise ConfigError(pf.path, None, f"{kind} '{name}' is listed but {folder} is missing",
                          _missing_fix(folder, kind))
    return Library(name=name, kind=kind, path=folder, template=_template_of(folder))


def _missing_fix(folder: Path, kind: str) -> str:
    return (f"clone its repo into {folder} or remove '{folder.name}' from "
            f"'{KIND_FOLDERS[kind]}' in {PROJECT_FILE}")


def _template_of(folder: Path) -> str | None:
    answers = folder / ".workbench-answers.yaml"
    if not answers.is_file():
        return None
    match = re.search(r"^template:[ \t]*(\S+)", read_text(answers), re.M)
    return match.group(1) if match else None


def _name(sec: Section, key: str, what: str) -> str:
    value = sec.text(key, example="shop")
    reason = names.problem(value)
    if reason:
        raise sec.error(key, f"bad {what} name: {reason}", f"write e.g. {key}: "
                        f"{names.suggest(value)}")
    return value


def _check_routes(project: Project) -> None:
    """Each route on the proxy belongs to one endpoint."""
    routes: dict[str, str] = {}
    for endpoint in project.endpoints:
        for route in endpoint.routes:
            key = route.rstrip("/") or "/"
            if key in routes:
                raise ConfigError(endpoint.path / ENDPOINT_FILE, None,
                                  f"route {route} is also claimed by endpoint '{routes[key]}'",
                                  "give each endpoint its own route")
            routes[key] = endpoint.name
