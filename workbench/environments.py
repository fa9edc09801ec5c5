"""The ``environments:`` of ``workbench.yaml``: :class:`Environment` and its :class:`Host` s.

``local`` is the local Docker engine and always there; any other environment is hosts reached
over SSH as ``user@host[:port]``, each with an optional docker socket path. Parsing is pure
apart from resolving the secrets file's path (it must stay inside the project unless the
environment opts out), and every problem names the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast

from . import names
from .errors import ConfigError
from .schema import Section, shown
from .swarmconfig import SwarmOptions, parse_env_keys, refuse_on_swarm

LOCAL = "local"
DEFAULT_PROXY_IMAGE = "nginx:alpine"
DEFAULT_SOCKET = "/var/run/docker.sock"
Engine = Literal["docker", "swarm"]

_HOST = re.compile(
    r"^(?:(?P<user>[a-z_][a-z0-9_.-]{0,31})@)?"
    r"(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_EMPTY: MappingProxyType[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Host:
    """One server of an environment, reached over SSH."""

    host: str
    user: str | None = None
    port: int = 22
    docker_socket: str = DEFAULT_SOCKET

    @property
    def spec(self) -> str:
        """``user@host:port`` as written in workbench.yaml."""
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Environment:
    """A named target: the local engine, or hosts over SSH."""

    name: str
    engine: Engine = "docker"
    hosts: tuple[Host, ...] = ()
    proxy_port: int = 8080
    variables: MappingProxyType[str, str] = field(default_factory=lambda: _EMPTY)
    secrets_file: str = ""
    protected: bool = False
    readonly: bool = False
    proxy_image: str = "nginx:alpine"
    """The proxy container's image (any nginx; tests use the local base image)."""
    proxy_bind: str = "0.0.0.0"
    """Address the proxy port is published on."""
    state_root: str = ""
    """The hosts' folder for this environment's lock, releases and secrets; relative to the
    SSH user's home unless absolute. "" is the default (:func:`workbench.state.remote_root`)."""
    keep_releases: int = 5
    """Per endpoint and host: the last N released versions keep their images (for rollback)
    and the newest N stopped containers are kept (:mod:`workbench.ops.prune`)."""
    registry: str = ""
    """``engine: swarm``: push images to ``host[:port]/prefix`` instead of streaming them."""
    swarm: SwarmOptions = field(default_factory=SwarmOptions)
    """``engine: swarm``: endpoint and publish modes (:mod:`workbench.swarmconfig`)."""

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL


def parse_environments(sec: Section, project: str) -> tuple[Environment, ...]:
    """Every environment of the section, ``local`` first when it is not written down."""
    result: list[Environment] = []
    for env_name in sec.data:
        sec.known.append(env_name)
        reason = names.problem(env_name)
        if reason:
            raise sec.error(env_name, f"bad environment name: {reason}",
                            f"rename it, e.g. '{names.suggest(env_name)}'")
        result.append(_environment(sec.section(env_name, f"environment '{env_name}'"), env_name))
    if not any(env.is_local for env in result):
        _check_inside(sec.path, None, _secrets_default(LOCAL), LOCAL)
        result.insert(0, Environment(name=LOCAL, secrets_file=_secrets_default(LOCAL),
                                         proxy_bind="127.0.0.1"))
    return tuple(result)


def _environment(sec: Section, name: str) -> Environment:
    local = name == LOCAL
    engine = cast(Engine, sec.choice("engine", ("docker", "swarm"), "docker"))
    hosts: list[Host] = []
    raw_hosts = sec.raw("hosts", [])
    if not isinstance(raw_hosts, list):
        raise sec.error("hosts", f"'hosts' in environment '{name}' must be a list",
                        "write e.g. hosts: [deploy@10.0.0.5]")
    for index, item in enumerate(raw_hosts):
        line = raw_hosts.line_of(index) if hasattr(raw_hosts, "line_of") else sec.line("hosts")
        hosts.append(_host(item, sec, line, name))
    if local and hosts:
        raise sec.error("hosts", "the 'local' environment is the local Docker engine and has no "
                        "hosts", "remove 'hosts' from it, or use another environment name")
    if not local and not hosts:
        raise sec.error(None, f"environment '{name}' has no hosts",
                        "add e.g. hosts: [deploy@10.0.0.5]")
    refuse_on_swarm(sec, name, engine)
    registry, swarm = parse_env_keys(sec, name, engine)
    specs = [h.spec for h in hosts]
    for spec in specs:
        if specs.count(spec) > 1:
            raise sec.error("hosts", f"host {spec} is listed twice in '{name}'", "remove one")
    env = Environment(
        name=name,
        engine=engine,
        hosts=tuple(hosts),
        proxy_port=sec.port("proxy_port", 8080 if local else 80),
        variables=sec.text_map("variables", env_names=True),
        secrets_file=_secrets_file(sec, name),
        protected=sec.flag("protected", False),
        readonly=sec.flag("readonly", False),
        proxy_image=sec.text("proxy_image", DEFAULT_PROXY_IMAGE, example=DEFAULT_PROXY_IMAGE),
        proxy_bind=_bind(sec, "127.0.0.1" if local else "0.0.0.0"),
        state_root=_state_root(sec, local),
        keep_releases=sec.integer("keep_releases", 5, low=1, high=1000, example="5"),
        registry=registry,
        swarm=swarm,
    )
    sec.finish()
    return env


def _bind(sec: Section, default: str) -> str:
    import ipaddress

    value = sec.text("proxy_bind", default, example=default)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise sec.error("proxy_bind", f"proxy_bind {shown(value)} is not an IP address",
                        "write e.g. proxy_bind: 127.0.0.1 (or 0.0.0.0 for every interface)"
                        ) from None
    return value


def _state_root(sec: Section, local: bool) -> str:
    value: str = sec.text("state_root", "", example="/srv/workbench/shop/staging")
    if value and local:
        raise sec.error("state_root", "the 'local' environment keeps its state under "
                        "$XDG_STATE_HOME/workbench", "remove state_root from it")
    if value.startswith("~") and not value.startswith("~/"):
        raise sec.error("state_root", f"state_root {value!r} names another user's home",
                        "write the full path, or one relative to the SSH user's home")
    return value


def _secrets_default(env: str) -> str:
    return f".workbench/secrets/{env}.env"


def _secrets_file(sec: Section, env: str) -> str:
    """The environment's secrets file, relative to the project folder. It must stay inside
    the project (symlinks followed) unless the environment sets ``secrets_file_outside: true``:
    a cloned project must not be able to read, say, ~/.aws/credentials into a deploy."""
    default = _secrets_default(env)
    value: str = sec.text("secrets_file", default, example=default)
    outside = sec.flag("secrets_file_outside", False)
    if value.startswith("~"):
        raise sec.error("secrets_file", f"secrets_file {shown(value)} starts with '~', which "
                        "workbench does not expand", "write the full path")
    if not outside:
        _check_inside(sec.path, sec.line("secrets_file"), value, env)
    return value


def _check_inside(path: Path, line: int | None, secrets_file: str, env: str) -> None:
    """Refuse a secrets file outside the folder of ``path`` (workbench.yaml)."""
    root = path.parent.resolve()
    try:
        inside = (root / secrets_file).resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        raise ConfigError(path, line, f"secrets_file {shown(secrets_file)} of environment "
                          f"'{env}' is outside the project folder (symlinks are followed)",
                          f"keep it in the project (e.g. {_secrets_default(env)}, git-ignored), "
                          f"or add 'secrets_file_outside: true' to environment '{env}' to read "
                          "it from there")


def _host(item: object, sec: Section, line: int, env: str) -> Host:
    socket = DEFAULT_SOCKET
    if isinstance(item, dict):
        hsec = Section(item, sec.path, f"a host of '{env}'", line)
        spec = hsec.text("host", example="deploy@10.0.0.5:22")
        socket = hsec.text("docker_socket", DEFAULT_SOCKET, example=DEFAULT_SOCKET)
        hsec.finish()
        if not socket.startswith("/"):
            raise ConfigError(sec.path, line, f"docker_socket {shown(socket)} is not an "
                              f"absolute path", f"write e.g. docker_socket: {DEFAULT_SOCKET}")
    elif isinstance(item, str):
        spec = item
    else:
        raise ConfigError(sec.path, line, f"a host of '{env}' must be text like user@host:port",
                          "write e.g. - deploy@10.0.0.5:22")
    match = _HOST.fullmatch(spec.strip())
    port = int(match.group("port")) if match and match.group("port") else 22
    if not match or not 1 <= port <= 65535:
        raise ConfigError(sec.path, line, f"host {shown(spec)} is not user@host[:port]",
                          "write e.g. deploy@10.0.0.5:22")
    return Host(host=match.group("host"), user=match.group("user"), port=port,
                docker_socket=socket)
