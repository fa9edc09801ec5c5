"""What runs in an environment, as plain frozen data: :class:`EnvState`.

An engine's ``observe`` reads it (by labels, through the one Docker API path); status, diff,
drift, the live matrix and the compare screen all stand on it. Nothing here does I/O.

Secret values never enter this data: an engine replaces each one with a :class:`Sealed` HMAC
under a key that exists only for the comparison in this process, so two environments' values
can be told the same or different, and nothing else.

On Swarm (``engine: swarm``) the unit is a service: the first host (the manager) holds one
:class:`Instance` per service, with its replicas, update state, placement and its
:class:`Task` values on every node; the other hosts hold no instances, only whether they could
be read (their tasks' container health comes from them). Release records live on the first
host, as a Swarm deploy writes them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .releases import Release

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Sealed:
    """A secret's value, as an HMAC under the comparison's key (never shown)."""

    digest: str

    def __str__(self) -> str:
        return "(secret)"


Value = str | Sealed
"""A variable's value: plain text, or a sealed secret."""


def seal(key: bytes, name: str, value: str) -> Sealed:
    """A secret's value as an HMAC under the comparison's ``key``."""
    return Sealed(hmac.new(key, f"{name}\0{value}".encode(), hashlib.sha256).hexdigest())


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a Swarm service: one replica's container on one node."""

    slot: int
    node: str
    """The node as shown: the environment's host that is that node, else ``hostname (id12)``
    (hostnames alone may repeat)."""
    state: str
    """Swarm's state: new, pending, assigned, preparing, starting, running, failed, ..."""
    desired: str
    """What Swarm wants of it: running, shutdown, ..."""
    error: str = ""
    container_id: str = ""
    health: str = ""
    """Its container's health where its node was read (healthy, unhealthy, starting), else ""."""
    since: str = ""
    """When it reached its state (ISO time)."""
    id: str = ""
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class Instance:
    """One endpoint on one host: a container, or on Swarm its service (with its tasks)."""

    endpoint: str
    host: str
    container: str = ""
    container_id: str = ""
    state: str = ""
    """The engine's state: running, exited, restarting, created, ..."""
    health: str = ""
    """healthy, unhealthy, starting, or "" when the container has no health check."""
    started_at: str = ""
    restarts: int = 0
    image: str = ""
    image_id: str = ""
    version: str = ""
    git_sha: str = ""
    dirty: bool = False
    config_hash: str = ""
    env: Mapping[str, Value] = field(default_factory=lambda: _EMPTY)
    image_env: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """The image's own default environment (what the engine fills in)."""
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    image_labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    ports: tuple[str, ...] = ()
    """Published ports: ``127.0.0.1:49153->8000/tcp``."""
    asked_ports: tuple[str, ...] | None = None
    """The bindings asked for (``HostConfig.PortBindings``), as in ``ports`` with an empty host
    port where Docker was to choose: ``127.0.0.1:->8000/tcp``. None when not read."""
    mounts: tuple[str, ...] = ()
    """``volume wb_shop_staging_orders_data -> /data (rw)``."""
    resources: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Limits that are set: memory, cpus, pids."""
    restart_policy: str = ""
    replicas: str = "1"
    """Running/desired (``"2/3"`` on Swarm); a plain container is one."""
    replicas_desired: int = 1
    replicas_running: int = 1
    update_state: str = ""
    """Swarm: the state of the service's last update (``completed``, ``updating``,
    ``rollback_completed``, ...; "" when it was never updated)."""
    update_message: str = ""
    placement: tuple[str, ...] = ()
    """Swarm: the placement constraints (``node.labels.zone==a``), as written in the spec."""
    endpoint_mode: str = ""
    """Swarm: ``vip`` or ``dnsrr``."""
    tasks: tuple[Task, ...] = ()
    """Swarm: the tasks that should run (and the last failed one of a slot that runs none)."""


@dataclass(frozen=True, slots=True)
class HostState:
    """What one host of the environment runs, or why it could not be read (on Swarm: the
    manager holds every service; see the module docstring)."""

    host: str
    unreachable: str = ""
    """Why the host could not be read ("" when it was)."""
    instances: tuple[Instance, ...] = ()
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    """endpoint -> its path prefixes, as the live proxy config has them."""
    releases: Mapping[str, Release] = field(default_factory=lambda: _EMPTY)
    """endpoint -> its current release (the last ok one) on this host."""
    last: Mapping[str, Release] = field(default_factory=lambda: _EMPTY)
    """endpoint -> its last release record on this host, whatever its outcome."""


@dataclass(frozen=True, slots=True)
class EnvState:
    """One environment as observed: every host, at about one moment."""

    env: str
    engine: str
    hosts: tuple[HostState, ...]
    nodes: tuple[tuple[str, str], ...] = ()
    """Swarm: (node id, as shown) of every node, the manager's (the first host's) first."""

    @property
    def unreachable(self) -> dict[str, str]:
        """host -> why it could not be read."""
        return {h.host: h.unreachable for h in self.hosts if h.unreachable}

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Every endpoint with a container or a release on some host, sorted."""
        names = {i.endpoint for h in self.hosts for i in h.instances}
        names |= {n for h in self.hosts for n in h.releases}
        return tuple(sorted(names))

    def instances(self, endpoint: str) -> tuple[Instance, ...]:
        """The endpoint's running (serving) containers, one per host that has one."""
        return tuple(i for h in self.hosts for i in h.instances if i.endpoint == endpoint)
