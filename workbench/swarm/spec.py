"""What runs on a Swarm, as pure data: an endpoint (or the proxy) -> a frozen
:class:`ServiceSpec`, and that spec -> the Docker API's service spec (:func:`to_api`).

The one source of truth for deploys and compose export (docs/swarm.md). Every problem is one
line naming the key and the fix; nothing here touches a server.

Health: a command inside the container (:data:`HEALTH_SCRIPT`: curl, else wget, else
python3, with no proxy) GETs ``http://127.0.0.1:<port><health>`` and wants 200. Docker runs
it every :data:`HEALTH_INTERVAL` s; failures in the first ``health_timeout`` s do not count
(start period); :data:`HEALTH_RETRIES` failures in a row make the task unhealthy. A task is
given traffic (joins the service's DNS/VIP) and counts as running only once healthy.

Rollouts: ``order: start-first`` (a new task is healthy before an old one stops),
``failure_action: rollback``, ``max_failure_ratio: 0``. ``monitor`` is derived from the health
check (:func:`derived_monitor`: the time it takes to call a task unhealthy), may be raised but
never lowered, and ``delay`` may not exceed it: with ``delay > monitor`` a failing task can go
unseen and the rollback be skipped (moby #37972).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .. import naming, proxyconf
from ..engine import LABEL
from ..errors import BadInput, ConfigError
from ..model import ENDPOINT_FILE, Endpoint, Environment
from ..swarmconfig import EndpointMode, PublishMode, parse_constraint
from .secrets import SecretRef, wrapped_command

NAME_LIMIT = 63
"""Swarm's limit on service names (they are DNS names on the networks)."""
HEALTH_INTERVAL = 2.0
HEALTH_TIMEOUT = 3.0
HEALTH_RETRIES = 3
PROBE_TIMEOUT = 2
"""Seconds the probe itself waits for an answer (below HEALTH_TIMEOUT, so it can say why)."""
STOP_GRACE = 10.0
"""Seconds an old task has to finish its requests after SIGTERM (as the docker engine)."""
RESTART_DELAY = 2.0
DATA_PATH = "/data"
SPEC_HASH = f"{LABEL}spec-hash"
"""Service label: a hash of the rest of the spec, so that an unchanged endpoint is left alone."""
TASK_HASH = f"{LABEL}task-hash"
"""Container label: a hash of the task template, telling a new spec's tasks from the old ones
(a change of replicas alone keeps it, so a scale restarts no task)."""
_EMPTY: Mapping[str, str] = MappingProxyType({})

HEALTH_SCRIPT = """\
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
if command -v curl >/dev/null 2>&1; then
  code=$(curl -s -o /dev/null -m "$3" -w '%{http_code}' "$1")
  [ "$code" = 200 ] && exit 0
  echo "GET $2 answered ${code:-nothing}"; exit 1
elif command -v wget >/dev/null 2>&1; then
  wget -q -O /dev/null -T "$3" "$1" && exit 0
  echo "GET $2 did not answer 2xx"; exit 1
elif command -v python3 >/dev/null 2>&1; then
  exec python3 -c "$4" "$1" "$2" "$3"
fi
echo "no curl, wget or python3 in the image: the health check cannot run"; exit 1
"""
"""``sh -c`` script of the health check: $1 URL, $2 path, $3 seconds, $4 :data:`PROBE_PY`."""
PROBE_PY = """\
import sys, urllib.error, urllib.request
try:
    status = urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[3])).status
except urllib.error.HTTPError as exc:
    status = exc.code
except Exception as exc:
    status = type(exc).__name__
print(f"GET {sys.argv[2]} answered {status}")
sys.exit(0 if status == 200 else 1)
"""
PROXY_CONF_DIR = "/etc/workbench"
"""Where the proxy's config lives (its volume): :data:`workbench.proxy.CONF_DIR`."""
PROXY_SCRIPT = f"""\
[ -s {PROXY_CONF_DIR}/nginx.conf ] || printf '%s' "$WB_PROXY_SEED" > {PROXY_CONF_DIR}/nginx.conf
exec nginx -c {PROXY_CONF_DIR}/nginx.conf -g 'daemon off;'
"""
"""The proxy's command: the config in its volume, seeded with no routes on first start."""


@dataclass(frozen=True, slots=True)
class Health:
    test: tuple[str, ...]
    interval: float = HEALTH_INTERVAL
    timeout: float = HEALTH_TIMEOUT
    retries: int = HEALTH_RETRIES
    start_period: float = 30.0


@dataclass(frozen=True, slots=True)
class Rollout:
    """``update_config`` or ``rollback_config``."""

    parallelism: int
    delay: float
    monitor: float
    failure_action: Literal["rollback", "pause", "continue"]
    order: Literal["start-first", "stop-first"] = "start-first"
    max_failure_ratio: float = 0.0


@dataclass(frozen=True, slots=True)
class Mount:
    """A named volume: ``source`` (found by ``labels``) at ``target``; driver "" is local."""

    source: str
    target: str
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    driver: str = ""


@dataclass(frozen=True, slots=True)
class Port:
    published: int
    target: int
    mode: PublishMode


@dataclass(frozen=True, slots=True)
class Image:
    """The image a service runs: ``ref`` is pinned (``sha256:<id>``, or ``repo@sha256:<digest>``
    from a registry) so that no node resolves another; ``tag`` names it for people and compose;
    ``entrypoint`` and ``cmd`` are its own (from its inspect), run through the secrets wrapper."""

    ref: str
    tag: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    labels: Mapping[str, str]
    """The service's labels (identity, version, hashes)."""
    container_labels: Mapping[str, str]
    """The same on each task's container (``observe`` finds them by label on each node)."""
    image: str
    image_tag: str
    replicas: int
    env: Mapping[str, str]
    network: str
    aliases: tuple[str, ...]
    endpoint_mode: EndpointMode
    update: Rollout
    rollback: Rollout
    health: Health | None = None
    command: tuple[str, ...] = ()
    """The entrypoint to run instead of the image's ("" : the image's own)."""
    args: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    ports: tuple[Port, ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    stop_grace_period: float = STOP_GRACE
    stop_signal: str = ""


# -- derived values -------------------------------------------------------------------------------
def derived_monitor(health: Health) -> float:
    """Seconds Docker needs to call a task unhealthy once its health path fails: ``retries``
    probes ``interval`` apart, the last taking up to ``timeout``, plus one interval of slack."""
    return (health.retries + 1) * health.interval + health.timeout


def rollout_deadline(spec: ServiceSpec) -> float:
    """Seconds a deploy waits for the service to converge, at most: each batch's start, health
    and delay, then the monitor, twice over (an update that rolls back runs a second rollout),
    and a minute of slack for scheduling and images."""
    health = spec.health or Health(())
    per_batch = (health.start_period + derived_monitor(health) + spec.update.delay + 30.0)
    batches = math.ceil(spec.replicas / max(1, spec.update.parallelism))
    return 2 * (batches * per_batch + spec.update.monitor) + 60.0


# -- an endpoint's service ------------------------------------------------------------------------
def service_spec(project: str, env: Environment, endpoint: Endpoint, image: Image, *,
                 version: str, network: str, variables: Mapping[str, str] = _EMPTY,
                 secrets: Sequence[SecretRef] = (), git_sha: str = "", config_hash: str = "",
                 dirty: bool = False, pin: str = "",
                 health_timeout: float | None = None) -> ServiceSpec:
    """The Swarm service of ``endpoint`` in ``env``.

    ``pin`` is the constraint (``node.id==<id>``) that keeps a local data volume on one node
    when the endpoint names no placement of its own (the environment's first node by
    default; docs/swarm.md); it is needed exactly then."""
    name = service_name(project, env.name, endpoint.name)
    where = endpoint.path / ENDPOINT_FILE
    check_data_policy(endpoint)
    health = Health(health_test(endpoint.port, endpoint.health),
                    start_period=float(health_timeout or endpoint.health_timeout))
    update = rollouts(endpoint, health, where)
    constraints = tuple(str(parse_constraint(c) or c) for c in endpoint.placement)
    mounts: tuple[Mount, ...] = ()
    if endpoint.data:
        mounts = (Mount(naming.volume(project, env.name, endpoint.name), DATA_PATH,
                        naming.labels(project, env.name, "data", endpoint.name),
                        endpoint.volume_driver),)
        if not endpoint.volume_driver and not constraints:
            if not pin:
                raise ValueError("a local data volume needs a pin (the node it stays on)")
            constraints = (pin,)
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    if secrets:
        wrapper, inner = wrapped_command(image.entrypoint, image.cmd)
        command, args = tuple(wrapper), tuple(inner)
    identity = naming.labels(project, env.name, "app", endpoint.name)
    labels = {**identity, f"{LABEL}version": version, f"{LABEL}git-sha": git_sha,
              f"{LABEL}config-hash": config_hash, f"{LABEL}dirty": "true" if dirty else "false",
              f"{LABEL}secrets": ",".join(sorted(endpoint.secrets)),
              f"{LABEL}health": endpoint.health}
    return ServiceSpec(
        name=name, labels=MappingProxyType(labels), container_labels=MappingProxyType(labels),
        image=image.ref, image_tag=image.tag, replicas=endpoint.replicas,
        env=MappingProxyType(dict(sorted(variables.items()))), network=network,
        aliases=(endpoint.name,), endpoint_mode=env.swarm.endpoint_mode, update=update[0],
        rollback=update[1], health=health, command=command, args=args, constraints=constraints,
        mounts=mounts, secrets=tuple(secrets))


def service_name(project: str, env: str, endpoint: str) -> str:
    """``wb_<project>_<env>_<endpoint>``; refused when longer than Swarm takes."""
    name = naming.service(project, env, endpoint)
    if len(name) > NAME_LIMIT:
        raise BadInput(f"the Swarm service name {name} is {len(name)} characters long; Swarm "
                       f"takes at most {NAME_LIMIT}", "use shorter project, environment or "
                       "endpoint names")
    return name


def health_test(port: int, path: str) -> tuple[str, ...]:
    """The health check's ``Test``: :data:`HEALTH_SCRIPT` with its arguments (no shell ever
    sees the path: it is an argument)."""
    return ("CMD", "sh", "-c", HEALTH_SCRIPT, "workbench-health", f"http://127.0.0.1:{port}{path}",
            path, str(PROBE_TIMEOUT), PROBE_PY)


def check_data_policy(endpoint: Endpoint) -> None:
    """Data is never split across nodes: ``replicas > 1`` with ``data: true`` needs a
    ``volume_driver`` that all nodes share (not ``local``)."""
    if endpoint.replicas > 1 and endpoint.data and endpoint.volume_driver in ("", "local"):
        raise ConfigError(endpoint.path / ENDPOINT_FILE, None,
                          f"replicas: {endpoint.replicas} with data: true and no shared "
                          "volume_driver would give each node its own /data",
                          "set data: false, replicas: 1, or volume_driver (docs/swarm.md)")


def rollouts(endpoint: Endpoint, health: Health, where: Any) -> tuple[Rollout, Rollout]:
    """(update_config, rollback_config): monitor derived from ``health`` (a user's monitor may
    only raise it), ``delay`` at most the monitor (moby #37972)."""
    settings = endpoint.update
    derived = derived_monitor(health)
    if settings.monitor is not None and settings.monitor < derived:
        raise ConfigError(where, None, f"update.monitor {settings.monitor:g}s is shorter than "
                          f"the {derived:g}s the health check needs to call a task unhealthy",
                          f"remove it (the default is {derived:g}s) or raise it")
    monitor = max(derived, settings.monitor or 0.0)
    if settings.delay > monitor:
        raise ConfigError(where, None, f"update.delay {settings.delay:g}s is longer than the "
                          f"monitor ({monitor:g}s): a task failing in between would not roll "
                          "the update back (moby #37972)", f"lower delay to at most {monitor:g}, "
                          f"or set update.monitor to at least {settings.delay:g}")
    return (Rollout(settings.parallelism, settings.delay, monitor, "rollback"),
            Rollout(settings.parallelism, 0.0, monitor, "pause"))


# -- the proxy's service --------------------------------------------------------------------------
def proxy_spec(project: str, env: Environment, *, image: Image, network: str,
               pin: str) -> ServiceSpec:
    """The environment's proxy: one nginx task on the ``pin``-ned node (the manager, where its
    config is reloaded in place by an exec), publishing ``proxy_port`` in the environment's
    publish mode. Its config lives in a volume, seeded with no routes on first start."""
    name = naming.proxy(project, env.name)
    identity = naming.labels(project, env.name, "proxy")
    labels = {**identity, f"{LABEL}proxy-image": image.tag}
    seed = proxyconf.render(project, env.name, ())
    volume = Mount(naming.proxy_volume(project, env.name), PROXY_CONF_DIR,
                   naming.labels(project, env.name, "proxy-config"))
    # One task holding a host port: a new one cannot start beside the old (stop-first). The
    # proxy's spec changes only when its image or port does (the deploy refuses that).
    once = Rollout(1, 0.0, 5.0, "pause", "stop-first")
    mode: EndpointMode = "dnsrr" if env.swarm.publish_mode == "host" else "vip"
    return ServiceSpec(
        name=name, labels=MappingProxyType(labels), container_labels=MappingProxyType(labels),
        image=image.ref, image_tag=image.tag, replicas=1,
        env=MappingProxyType({"WB_PROXY_SEED": seed}), network=network, aliases=(),
        endpoint_mode=mode, update=once, rollback=once, command=("sh", "-c", PROXY_SCRIPT),
        constraints=(pin,), mounts=(volume,),
        ports=(Port(env.proxy_port, proxyconf.LISTEN_PORT, env.swarm.publish_mode),),
        stop_signal="SIGQUIT")


# -- the Docker API's form ------------------------------------------------------------------------
def to_api(spec: ServiceSpec, network_id: str) -> dict[str, Any]:
    """The service spec as ``POST /services/create`` takes it, with :data:`TASK_HASH` on the
    containers and :data:`SPEC_HASH` on the service."""
    body = _api_body(spec, network_id)
    body["TaskTemplate"]["ContainerSpec"]["Labels"][TASK_HASH] = task_hash(body["TaskTemplate"])
    body["Labels"][SPEC_HASH] = spec_hash(body)
    return body


def spec_hash(body: Mapping[str, Any]) -> str:
    """A hash of an API body without its :data:`SPEC_HASH` label."""
    plain = json.loads(json.dumps(body))
    plain.get("Labels", {}).pop(SPEC_HASH, None)
    return _digest(plain)


def task_hash(template: Mapping[str, Any]) -> str:
    """A hash of a task template without its :data:`TASK_HASH` label."""
    plain = json.loads(json.dumps(template))
    plain.get("ContainerSpec", {}).get("Labels", {}).pop(TASK_HASH, None)
    return _digest(plain)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _api_body(spec: ServiceSpec, network_id: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "Image": spec.image, "Labels": dict(spec.container_labels),
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "StopGracePeriod": _ns(spec.stop_grace_period)}
    if spec.command:
        container["Command"] = list(spec.command)
    if spec.args:
        container["Args"] = list(spec.args)
    if spec.stop_signal:
        container["StopSignal"] = spec.stop_signal
    if spec.health is not None:
        container["Healthcheck"] = {
            "Test": list(spec.health.test), "Interval": _ns(spec.health.interval),
            "Timeout": _ns(spec.health.timeout), "Retries": spec.health.retries,
            "StartPeriod": _ns(spec.health.start_period)}
    if spec.mounts:
        container["Mounts"] = [_mount(m) for m in spec.mounts]
    if spec.secrets:
        container["Secrets"] = [{"SecretID": s.id, "SecretName": s.name,
                                 "File": {"Name": s.target, "UID": "0", "GID": "0",
                                          "Mode": 0o444}} for s in spec.secrets]
    endpoint: dict[str, Any] = {"Mode": spec.endpoint_mode}
    if spec.ports:
        endpoint["Ports"] = [{"Protocol": "tcp", "TargetPort": p.target,
                              "PublishedPort": p.published, "PublishMode": p.mode}
                             for p in spec.ports]
    network: dict[str, Any] = {"Target": network_id}
    if spec.aliases:
        network["Aliases"] = list(spec.aliases)
    return {
        "Name": spec.name, "Labels": dict(spec.labels),
        "TaskTemplate": {
            "ContainerSpec": container,
            "Placement": {"Constraints": list(spec.constraints)} if spec.constraints else {},
            "RestartPolicy": {"Condition": "any", "Delay": _ns(RESTART_DELAY),
                              "MaxAttempts": 0},
            "Networks": [network]},
        "Mode": {"Replicated": {"Replicas": spec.replicas}},
        "UpdateConfig": _rollout(spec.update), "RollbackConfig": _rollout(spec.rollback),
        "EndpointSpec": endpoint}


def _mount(mount: Mount) -> dict[str, Any]:
    options: dict[str, Any] = {"Labels": dict(mount.labels)}
    if mount.driver:
        options["DriverConfig"] = {"Name": mount.driver}
    return {"Type": "volume", "Source": mount.source, "Target": mount.target,
            "VolumeOptions": options}


def _rollout(rollout: Rollout) -> dict[str, Any]:
    return {"Parallelism": rollout.parallelism, "Delay": _ns(rollout.delay),
            "FailureAction": rollout.failure_action, "Monitor": _ns(rollout.monitor),
            "MaxFailureRatio": rollout.max_failure_ratio, "Order": rollout.order}


def _ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)
