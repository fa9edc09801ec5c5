"""The Swarm keys of ``workbench.yaml`` and ``endpoint.yaml``, parsed strictly, and placement
constraints as pure data (docs/swarm.md).

Environment (``engine: swarm`` only; refused with one line on ``engine: docker``)::

    registry: registry.example.com:5000/shop     push images there instead of streaming them
    swarm: {endpoint_mode: vip|dnsrr, publish_mode: ingress|host}

Endpoint (refused on ``engine: docker`` when set: one container per host has no use for them)::

    replicas: 2
    update: {parallelism: 1, delay: 0, monitor: 20}     seconds; monitor is at least derived
    placement: [node.labels.db == true]
    volume_driver: rexray/ebs                            shared volumes: data with replicas > 1
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from .errors import ConfigError
from .schema import Section, shown

EndpointMode = Literal["vip", "dnsrr"]
PublishMode = Literal["ingress", "host"]

_CONSTRAINT = re.compile(
    r"^\s*(?P<key>node\.(?:id|hostname|role|platform\.os|platform\.arch|labels\.[A-Za-z0-9_.-]+)"
    r"|engine\.labels\.[A-Za-z0-9_.-]+)\s*(?P<op>==|!=)\s*(?P<value>[^\s=!]+)\s*$")
_REGISTRY = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:/[a-z0-9._-]+)*$")
_DRIVER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


@dataclass(frozen=True, slots=True)
class SwarmOptions:
    """How an environment's services are reached (``swarm:`` in workbench.yaml)."""

    endpoint_mode: EndpointMode = "vip"
    """``vip``: one virtual IP per service (needs IPVS on the nodes); ``dnsrr``: the service
    name resolves to its tasks' addresses."""
    publish_mode: PublishMode = "ingress"
    """``ingress``: the proxy port answers on every node (routing mesh, needs IPVS);
    ``host``: only on the node that runs the proxy."""


@dataclass(frozen=True, slots=True)
class UpdateSettings:
    """How Swarm replaces an endpoint's tasks (``update:`` in endpoint.yaml)."""

    parallelism: int = 1
    delay: float = 0.0
    """Seconds between batches; never longer than the monitor (moby #37972)."""
    monitor: float | None = None
    """Seconds each new task is watched for failure; None: derived from the health check
    (:func:`workbench.swarm.spec.derived_monitor`), and never below it."""


@dataclass(frozen=True, slots=True)
class Constraint:
    """One placement constraint: ``key op value`` (``node.labels.db == true``)."""

    key: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


def parse_constraint(text: str) -> Constraint | None:
    """The constraint ``text`` names, or None when it is not one workbench understands."""
    match = _CONSTRAINT.fullmatch(text)
    if match is None:
        return None
    return Constraint(match.group("key"), match.group("op"), match.group("value"))


def matches(constraint: Constraint, node: Mapping[str, str]) -> bool | None:
    """Whether a node (its attributes as ``node.id``, ``node.hostname``, ``node.role``,
    ``node.platform.os``, ``node.labels.<k>`` ...) meets ``constraint``; None when the node's
    attributes do not say (``engine.labels.*``, which only the node's engine knows)."""
    if constraint.key.startswith("engine.labels."):
        return None
    found = node.get(constraint.key)
    equal = found is not None and found.lower() == constraint.value.lower() \
        if constraint.key in ("node.role", "node.platform.os", "node.platform.arch") \
        else found == constraint.value
    return equal if constraint.op == "==" else not equal


def eligible(constraints: tuple[Constraint, ...], node: Mapping[str, str]) -> bool:
    """Whether a task may run on ``node``; a constraint that cannot be judged counts as met
    (so that a pin is never wrongly believed to hold)."""
    return all(matches(c, node) is not False for c in constraints)


# -- parsing ------------------------------------------------------------------------------------
def parse_env_keys(sec: Section, name: str, engine: str) -> tuple[str, SwarmOptions]:
    """``registry`` and ``swarm`` of an environment; refused on ``engine: docker``."""
    for key in ("registry", "swarm"):
        if engine != "swarm" and sec.has(key):
            raise sec.error(key, f"'{key}' in environment '{name}' applies only to "
                            f"engine: swarm, and '{name}' has engine: {engine}",
                            f"remove '{key}', or set 'engine: swarm' for '{name}'")
    registry: str = sec.text("registry", "", example="registry.example.com:5000/shop")
    if registry and not _REGISTRY.fullmatch(registry):
        raise sec.error("registry", f"registry {shown(registry)} is not host[:port][/prefix]",
                        "write e.g. registry: registry.example.com:5000/shop (no scheme)")
    swarm = sec.section("swarm", f"'swarm' of environment '{name}'")
    options = SwarmOptions(
        endpoint_mode=cast(EndpointMode, swarm.choice("endpoint_mode", ("vip", "dnsrr"), "vip")),
        publish_mode=cast(PublishMode, swarm.choice("publish_mode", ("ingress", "host"),
                                                    "ingress")))
    swarm.finish()
    return registry, options


def refuse_on_swarm(sec: Section, name: str, engine: str) -> None:
    """Keys of an environment that ``engine: swarm`` would accept and ignore: refused."""
    if engine != "swarm":
        return
    if name == "local":
        raise sec.error("engine", "the 'local' environment is the local engine with its proxy on "
                        "127.0.0.1, which engine: swarm cannot keep (Swarm publishes on every "
                        "address)", "remove 'engine: swarm' from 'local'; for a Swarm on this "
                        "machine add an environment with hosts: [you@127.0.0.1]")
    if sec.has("proxy_bind") and sec.data.get("proxy_bind") != "0.0.0.0":
        raise sec.error("proxy_bind", f"environment '{name}' has engine: swarm, which publishes "
                        "the proxy port on every address of a node: proxy_bind cannot apply",
                        "remove proxy_bind (or firewall the port on the nodes)")
    if sec.has("keep_releases"):
        raise sec.error("keep_releases", f"environment '{name}' has engine: swarm, where "
                        "workbench does not prune images yet: keep_releases would not apply",
                        "remove keep_releases from it")


def parse_endpoint_keys(sec: Section,
                        data: bool) -> tuple[int, UpdateSettings, tuple[str, ...], str]:
    """(replicas, update, placement, volume_driver) of an endpoint.yaml, checked together
    and with ``data``."""
    replicas: int = sec.integer("replicas", 1, low=1, high=1000, example="2")
    update = sec.section("update", "'update' of endpoint.yaml")
    settings = UpdateSettings(
        parallelism=update.integer("parallelism", 1, low=1, high=1000, example="1"),
        delay=float(update.integer("delay", 0, low=0, high=3600, example="0")),
        monitor=(float(update.integer("monitor", 0, low=1, high=3600, example="20"))
                 if update.has("monitor") else None))
    update.finish()

    def constraint(item: str, line: int) -> None:
        found = parse_constraint(item)
        if found is None:
            raise ConfigError(sec.path, line, f"placement {shown(item)} is not a constraint "
                            "workbench knows", "write e.g. node.labels.db == true (node.id, "
                            "node.hostname, node.role, node.platform.os|arch, node.labels.*, "
                            "engine.labels.*; == or !=)")
        if found.key == "node.role" and found.value.lower() not in ("manager", "worker"):
            raise ConfigError(sec.path, line, f"placement {shown(item)}: node.role is manager "
                              "or worker", "write e.g. node.role == worker")

    placement = sec.text_list("placement", check=constraint, example="[node.labels.db == true]")
    driver: str = sec.text("volume_driver", "", example="rexray/ebs")
    if driver and not _DRIVER.fullmatch(driver):
        raise sec.error("volume_driver", f"volume_driver {shown(driver)} is not a driver name",
                        "write e.g. volume_driver: rexray/ebs")
    if driver and not data:
        raise sec.error("volume_driver", "volume_driver is set but data is false: no volume is "
                        "mounted", "remove volume_driver, or set data: true")
    if replicas > 1 and data and driver in ("", "local"):
        what = "the local driver" if driver else "a local volume"
        raise sec.error("replicas", f"replicas: {replicas} with data: true on {what} would "
                        "give each node its own /data (data split across nodes)",
                        "set data: false, or replicas: 1 (pinned to one node), or "
                        "volume_driver: a driver whose volumes all nodes share (docs/swarm.md)")
    return replicas, settings, placement, driver
