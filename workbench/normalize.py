"""An observed environment as comparable facts, without what the engine fills in.

:func:`normalize` turns an :class:`~workbench.observed.EnvState` into :class:`Normalized`: per
endpoint, per category, per key, the value on this environment. What it drops or rewrites
follows one table, :data:`RULES`, and every value a rule drops is counted, so that output can
say what was ignored. Pure: no I/O.

Categories and keys, per endpoint:

- ``release``: ``version``, ``git sha`` (``1a2b3c (dirty)``), ``image`` (only when it is not
  the workbench-made ``...:<version>``), ``config hash`` and ``secrets generation``.
- ``env``: each variable. A secret's value stays a :class:`Sealed` HMAC: compared, never shown.
- ``network``: ``port <port>/<proto>`` (its host bindings), ``mount <path>``, ``routes`` (the
  live proxy config).
- ``health``: ``path`` (the deployed endpoint.yaml's, else the container's label), ``state``
  (``running, healthy``), ``restarts`` (a count). These are volatile and belong to status too;
  diff compares them (the issue asks for it). Start times are dropped.
- ``deploy``: ``containers per host``, ``replicas`` (desired: a plain container is one),
  ``placement`` and ``endpoint mode`` (Swarm), ``limit <name>``, ``restart policy``,
  ``label <name>`` (labels no rule drops), ``endpoint.yaml <key>`` (deployed endpoint.yaml
  values not observed live elsewhere: port, health_timeout, ...; from the release record).

Swarm (``engine: swarm``): a service is one instance on the first host (the manager). Which
node runs each task is the scheduler's choice, so ``containers per host`` reads ``scheduled by
Swarm`` there (rule ``task-node``); ``replicas`` and ``placement`` are compared, and a pin to
the environment's first node reads ``node.id==(first node)`` (rule ``node-id``); update and
volume_driver at their defaults are dropped (rule ``swarm-default``). ``health``: ``state``
says how many run when fewer than wanted (``running, starting (1/2 running)``), ``update`` the
last update's state when it did not complete.

Hosts: container keys are taken over the hosts that run the endpoint, ``secrets generation``
and ``endpoint.yaml`` keys over those with a release record, the other release keys, health
path and routes over those with either (a container's labels win over its host's record);
``containers per host`` shows where it is missing. A key whose hosts agree has that value; one
whose hosts disagree is :class:`Mixed` (``mixed: h1=a, h2=(none)``, in host order).
Unreachable hosts are left out and listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .normvalues import mount_key, placement, ports
from .observed import EnvState, Instance, Sealed, Value
from .releases import Release

CATEGORIES = ("release", "env", "network", "health", "deploy")
LABEL = "dev.workbench."
ENGINE_LABELS = (LABEL, "com.docker.")
LIVE_CONFIG = frozenset({"health", "routes", "env", "secrets", "data", "replicas", "placement"})
"""endpoint.yaml keys compared as observed (health path, routes, variables, mounts, replicas,
placement)."""
SCHEDULED = "scheduled by Swarm"
"""``containers per host`` of a Swarm environment: its scheduler places the tasks."""
SWARM_DEFAULTS: Mapping[str, Any] = {"update": {"parallelism": 1, "delay": 0.0, "monitor": None},
                                     "volume_driver": ""}
"""Swarm settings a Swarm release records even when not set: at these values they are what a
single host runs with (which refuses them set otherwise)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the table: what is dropped (plural and singular, for counts) and why."""

    id: str
    what: str
    one: str
    why: str


RULES: tuple[Rule, ...] = (
    Rule("container-name", "container names", "container name",
         "made of the version and a random token, new at every start"),
    Rule("container-id", "container ids", "container id", "Docker's id of one container"),
    Rule("start-time", "start times", "start time", "when a container started is status"),
    Rule("image-id", "image ids", "image id",
         "each host builds its own image, so ids differ for one version; the version names "
         "the build inputs"),
    Rule("image-name", "image names", "image name",
         "wb_<project>_<endpoint>:<version> says nothing the version does not"),
    Rule("ephemeral-port", "ephemeral ports", "ephemeral port",
         "host ports Docker chose, not asked for; the container port and host ip are kept"),
    Rule("image-env", "image variables", "image variable",
         "the image's own default environment (kept when workbench set the variable)"),
    Rule("image-label", "image labels", "image label", "labels the image itself carries"),
    Rule("engine-label", "workbench labels", "workbench label",
         "dev.workbench.* and com.docker.*: identity, or compared as release and health keys"),
    Rule("env-name", "volume names with the environment", "volume name with the environment",
         "wb_<project>_<env>_<endpoint>_data (or the older wb-<project>-<env>-<endpoint>-data) "
         "compares as 'data volume'"),
    Rule("env-digest", "per-environment digests", "per-environment digest",
         "config hashes and secrets generations are HMACs under each environment's own key: "
         "only whether the hosts agree is compared; what they cover is compared key by key"),
    Rule("release-history", "release times and users", "release time and user",
         "who deployed, when and how long is history (see releases)"),
    Rule("order", "orderings", "ordering", "ports, mounts, routes and variables are sets"),
    Rule("task-node", "task nodes", "task node",
         "which Swarm node runs a task (and its task and container ids) is the scheduler's "
         "choice: replicas and placement constraints are compared instead"),
    Rule("swarm-default", "Swarm settings at their defaults", "Swarm setting at its default",
         "update and volume_driver as a Swarm release records them when endpoint.yaml does not "
         "set them: a single host runs with the same"),
    Rule("node-id", "node ids in placement", "node id in placement",
         "each Swarm names its own nodes: the pin of local data to the environment's first "
         "node reads node.id==(first node)"),
)
RULE_IDS = tuple(rule.id for rule in RULES)


@dataclass(frozen=True, slots=True)
class Mixed:
    """A key whose hosts disagree: (host, its value or None), in host order."""

    by_host: tuple[tuple[str, Value | None], ...]

    def __str__(self) -> str:
        secret = any(isinstance(v, Sealed) for _, v in self.by_host)
        numbers: dict[str, int] = {}
        shown = []
        for host, value in self.by_host:
            if value is None:
                text = "(none)"
            elif isinstance(value, Sealed):
                text = f"(secret {numbers.setdefault(value.digest, len(numbers) + 1)})"
            else:
                text = "(not secret)" if secret else value
            shown.append(f"{host}={text}")
        return "mixed: " + ", ".join(shown)


Fact = Value | Mixed
"""A key's value on one environment: text, a sealed secret, or hosts that disagree."""


def is_secret(fact: Fact | None) -> bool:
    """Whether the fact is (or, on some host, holds) a secret value."""
    if isinstance(fact, Mixed):
        return any(isinstance(v, Sealed) for _, v in fact.by_host)
    return isinstance(fact, Sealed)


def shown(fact: Fact) -> str:
    """The fact as text: a secret is ``(secret)``, never its value or digest."""
    return str(fact)


@dataclass(frozen=True, slots=True)
class Normalized:
    """One environment's facts: endpoint -> category -> key -> value, and what was dropped."""

    env: str
    engine: str
    hosts: tuple[str, ...]
    unreachable: Mapping[str, str]
    endpoints: Mapping[str, Mapping[str, Mapping[str, Fact]]]
    ignored: Mapping[str, int] = field(default_factory=dict)
    """rule id -> how many values it dropped (every rule, in table order)."""


class _Facts:
    """Per-host values of one endpoint's keys, with which hosts each kind of source covers."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, Value]] = {}
        self.kinds: dict[tuple[str, str], str] = {}
        self.sources: dict[str, list[str]] = {}

    def source(self, kind: str, where: str) -> None:
        self.sources.setdefault(kind, []).append(where)

    def put(self, kind: str, where: str, category: str, key: str, value: Value) -> None:
        self.kinds[category, key] = kind
        self.values.setdefault((category, key), {})[where] = value

    def facts(self, count: dict[str, int]) -> dict[str, dict[str, Fact]]:
        out: dict[str, dict[str, Fact]] = {c: {} for c in CATEGORIES}
        for (category, key), per in self.values.items():
            hosts = self.sources.get(self.kinds[category, key], [])
            pairs = tuple((h, per.get(h)) for h in hosts)
            if category == "release" and key in ("config hash", "secrets generation"):
                fact = _agreement(pairs, count)
            else:
                fact = _merge(pairs)
            if fact is not None:
                out[category][key] = fact
        return {c: dict(sorted(keys.items())) for c, keys in out.items()}


def normalize(state: EnvState) -> Normalized:
    """``state`` as facts to compare, following :data:`RULES` (pure)."""
    count = dict.fromkeys(RULE_IDS, 0)
    swarm = state.engine == "swarm"
    first_node = state.nodes[0][0] if state.nodes else ""
    per_endpoint: dict[str, _Facts] = {name: _Facts() for name in state.endpoints}
    for host in state.hosts:
        if host.unreachable:
            continue
        running: dict[str, list[Instance]] = {}
        for instance in host.instances:
            running.setdefault(instance.endpoint, []).append(instance)
        for endpoint, facts in per_endpoint.items():
            release = host.releases.get(endpoint)
            mine = running.get(endpoint, [])
            facts.source("host", host.host)
            facts.put("host", host.host, "deploy", "containers per host",
                      SCHEDULED if swarm else str(len(mine)))
            if release is not None:
                facts.source("release", host.host)
                _release(facts, host.host, release, count)
            if release is not None or mine:
                facts.source("present", host.host)
                routes = host.routes.get(endpoint)
                if routes is not None:
                    count["order"] += list(routes) != sorted(routes)
                    facts.put("present", host.host, "network", "routes",
                              ", ".join(sorted(set(routes))))
            for n, instance in enumerate(mine, 1):
                where = host.host if n == 1 else f"{host.host}#{n}"
                facts.source("instance", where)
                _instance(facts, where, state.env, instance, release, count, first_node)
    endpoints = {name: facts.facts(count) for name, facts in per_endpoint.items()}
    return Normalized(state.env, state.engine, tuple(h.host for h in state.hosts),
                      dict(state.unreachable), endpoints, count)


def _release(facts: _Facts, where: str, release: Release, count: dict[str, int]) -> None:
    """The host's current release record: what its container's labels do not say."""
    count["release-history"] += 1
    for kind, key, value in (("present", "version", release.version),
                             ("present", "git sha", _sha(release.git_sha, release.dirty)),
                             ("present", "config hash", release.config_hash),
                             ("release", "secrets generation", release.secrets_generation)):
        if value:
            facts.put(kind, where, "release", key, value)
    config = _config(release)
    if config.get("health"):
        facts.put("present", where, "health", "path", str(config["health"]))
    for key, value in sorted(config.items()):
        if key in SWARM_DEFAULTS and value == SWARM_DEFAULTS[key]:
            count["swarm-default"] += 1
        elif key not in LIVE_CONFIG:
            facts.put("release", where, "deploy", f"endpoint.yaml {key}", _text(value))


def _config(release: Release | None) -> Mapping[str, Any]:
    """The deployed endpoint.yaml values a release record carries ({} for older records)."""
    return getattr(release, "endpoint_config", None) or {}


def _instance(facts: _Facts, where: str, env: str, instance: Instance,
              release: Release | None, count: dict[str, int], first_node: str = "") -> None:
    """One container's (or Swarm service's) keys (its version etc. replace the release
    record's on its host)."""
    count["container-name"] += bool(instance.container)
    count["container-id"] += bool(instance.container_id)
    count["start-time"] += bool(instance.started_at)
    count["image-id"] += bool(instance.image_id)
    count["task-node"] += sum(1 for t in instance.tasks if t.node_id or t.container_id)

    def put(category: str, key: str, value: Value) -> None:
        facts.put("instance", where, category, key, value)

    if instance.version:
        facts.put("present", where, "release", "version", instance.version)
        facts.put("present", where, "release", "git sha",
                  _sha(instance.git_sha, instance.dirty))
    if instance.config_hash:
        facts.put("present", where, "release", "config hash", instance.config_hash)
    if instance.image and instance.version and instance.image.endswith(f":{instance.version}"):
        count["image-name"] += 1
    elif instance.image:
        put("release", "image", instance.image)
    set_by_us = set(getattr(release, "variables", None) or ()) | set(
        getattr(release, "secret_names", None) or ())
    count["order"] += list(instance.env) != sorted(instance.env)
    for name, value in instance.env.items():
        default = instance.image_env.get(name)
        if default is not None and value == default and name not in set_by_us:
            count["image-env"] += 1
        else:
            put("env", name, value)
    for key, value in ports(instance, count).items():
        put("network", key, value)
    count["order"] += list(instance.mounts) != sorted(instance.mounts)
    project = instance.labels.get(f"{LABEL}project", "")
    for mount in instance.mounts:
        key, value = mount_key(mount, project, env, instance.endpoint, count)
        put("network", key, value)
    if not _config(release).get("health") and instance.labels.get(f"{LABEL}health"):
        facts.put("present", where, "health", "path", instance.labels[f"{LABEL}health"])
    state = ", ".join(s for s in (instance.state, instance.health) if s)
    if state:
        put("health", "state", state)
    put("health", "restarts", str(instance.restarts))
    if instance.update_state not in ("", "completed"):
        put("health", "update", instance.update_state)
    put("deploy", "replicas", str(instance.replicas_desired))
    if instance.placement:
        put("deploy", "placement", placement(instance.placement, first_node, count))
    if instance.endpoint_mode:
        put("deploy", "endpoint mode", instance.endpoint_mode)
    for name, limit in instance.resources.items():
        put("deploy", f"limit {name}", limit)
    if instance.restart_policy:
        put("deploy", "restart policy", instance.restart_policy)
    for name, value in instance.labels.items():
        if name.startswith(ENGINE_LABELS):
            count["engine-label"] += 1
        elif instance.image_labels.get(name) == value:
            count["image-label"] += 1
        else:
            put("deploy", f"label {name}", value)


def _merge(pairs: tuple[tuple[str, Value | None], ...]) -> Fact | None:
    """One value when every host has it, :class:`Mixed` when they disagree, None for none."""
    values = {v for _, v in pairs}
    if not pairs or values == {None}:
        return None
    if len(values) == 1:
        return next(iter(values))
    return Mixed(pairs)


def _agreement(pairs: tuple[tuple[str, Value | None], ...], count: dict[str, int]) -> Fact | None:
    """Digests under the environment's own key: ``same on every host``, or which hosts agree."""
    digests = [v if isinstance(v, str) and v else None for _, v in pairs]
    count["env-digest"] += sum(d is not None for d in digests)
    if not any(digests):
        return None
    if len(set(digests)) == 1:
        return "same on every host"
    numbers: dict[str, int] = {}
    return Mixed(tuple((h, None if d is None else f"#{numbers.setdefault(d, len(numbers) + 1)}")
                       for (h, _), d in zip(pairs, digests, strict=True)))


def _sha(sha: str, dirty: bool) -> str:
    return f"{sha} (dirty)".strip() if dirty else sha


def _text(value: Any) -> str:
    """A deployed config value as stable text (lists and mappings sorted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_text(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(sorted(_text(v) for v in value))
    return str(value)
