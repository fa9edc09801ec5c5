"""A Swarm service and its tasks, as the docker API lists them -> an
:class:`~workbench.observed.Instance` (pure: no I/O; :mod:`workbench.swarm.observe` reads).

One instance per service: what its spec asks for (version and hashes from its labels, the
variables of its spec, mounts, published ports, limits, restart condition, placement
constraints, endpoint mode), how many replicas it wants and how many run, its last update's
state, and its tasks on every node. Health is the task containers' health where their node was
read (the listing's ``(healthy)``), else only the task's state; a service with fewer running
tasks than it wants is ``starting`` (tasks on their way) or ``unhealthy``, with the count.

Secret values: the service's ``dev.workbench.secrets`` names them; their values come from the
secrets file of one task (:func:`parse_env_file`) and are sealed at once, like every secret the
docker engine's observe reads. Without a task to read them from, each is sealed as
``unread:<secret object>``: never a value, and never ``same`` as a value read elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..engine import LABEL
from ..observed import Instance, Sealed, Task, Value, seal
from .placement import shown

STARTING = frozenset({"new", "allocated", "pending", "assigned", "accepted", "ready",
                      "preparing", "starting"})
"""Task states on the way to running."""
FAILED = frozenset({"failed", "rejected", "orphaned"})
_HEALTH = (("(healthy)", "healthy"), ("(unhealthy)", "unhealthy"),
           ("(health: starting)", "starting"))


def node_names(nodes: Sequence[Mapping[str, Any]], host_of: Mapping[str, str]) -> dict[str, str]:
    """node id -> how a node is shown: the environment's host that is that node, else
    ``hostname (id12)``."""
    return {str(n.get("ID", "")): host_of.get(str(n.get("ID", ""))) or shown(n) for n in nodes}


def container_health(listing: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """container id -> its health, from one node's ``containers()`` listing ("" when its
    status names none)."""
    found = {}
    for container in listing:
        status = str(container.get("Status", ""))
        found[str(container.get("Id", ""))] = next((h for word, h in _HEALTH if word in status),
                                                   "")
    return found


def parse_env_file(text: str) -> dict[str, str]:
    """``NAME='value'`` lines, as :func:`workbench.swarm.secrets.env_file` writes them (a ``'``
    in a value written ``'\\''``) -> name -> value. Lines of another form are skipped."""
    found = {}
    for line in text.splitlines():
        name, eq, rest = line.partition("=")
        if eq and name.isidentifier() and len(rest) >= 2 and rest[0] == rest[-1] == "'":
            found[name] = rest[1:-1].replace("'\\''", "'")
    return found


def secret_names(service: Mapping[str, Any], hint: Collection[str] = ()) -> set[str]:
    """The variables the service's secrets hold (its label), and ``hint`` (the repo's)."""
    labels = (service.get("Spec") or {}).get("Labels") or {}
    return {n for n in str(labels.get(f"{LABEL}secrets", "")).split(",") if n} | set(hint)


def secret_objects(service: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of the Swarm secrets its tasks mount."""
    container = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
    return tuple(sorted(str(s.get("SecretName", "")) for s in container.get("Secrets") or ()))


def task_of(task: Mapping[str, Any], names: Mapping[str, str],
            health: Mapping[str, str]) -> Task:
    """One task of ``api.tasks()``; ``health``: container id -> health, where read."""
    status = task.get("Status") or {}
    node_id = str(task.get("NodeID") or "")
    container = str((status.get("ContainerStatus") or {}).get("ContainerID") or "")
    return Task(slot=int(task.get("Slot") or 0),
                node=names.get(node_id, node_id[:12]) if node_id else "(no node yet)",
                state=str(status.get("State", "")), desired=str(task.get("DesiredState", "")),
                error=str(status.get("Err") or ""), container_id=container,
                health=health.get(container, "") if container else "",
                since=str(status.get("Timestamp", "")), id=str(task.get("ID", "")),
                node_id=node_id)


def shown_tasks(tasks: Sequence[Task]) -> tuple[Task, ...]:
    """The tasks that should run, and for a slot that runs none its last failed task (why it
    does not run); by slot, then node."""
    current = [t for t in tasks if t.desired in ("running", "ready")]
    running_slots = {(t.slot, t.node_id if not t.slot else "") for t in current}
    last_failed: dict[tuple[int, str], Task] = {}
    for task in tasks:
        where = (task.slot, task.node_id if not task.slot else "")
        if task.state in FAILED and where not in running_slots and (
                where not in last_failed or task.since > last_failed[where].since):
            last_failed[where] = task
    return tuple(sorted([*current, *last_failed.values()],
                        key=lambda t: (t.slot, t.node, t.since, t.id)))


def service_state(tasks: Sequence[Task], desired: int) -> tuple[str, str, int]:
    """(state, health, running) of a service over its tasks (see the module docstring)."""
    current = [t for t in tasks if t.desired in ("running", "ready")]
    running = sum(1 for t in current if t.state == "running")
    if running:
        state = "running"
    elif current:
        state = max(current, key=lambda t: t.since).state
    else:
        state = "no tasks"
    read = {t.health for t in current if t.state == "running" and t.health}
    if running < desired:
        word = "starting" if any(t.state in STARTING for t in current) else "unhealthy"
        return state, f"{word} ({running}/{desired} running)", running
    for word in ("unhealthy", "starting", "healthy"):
        if word in read:
            return state, word, running
    return state, "", running


def service_instance(service: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], *,
                     host: str, names: Mapping[str, str], health: Mapping[str, str],
                     key: bytes, hint: Collection[str] = (),
                     secrets: Mapping[str, str] | None = None) -> Instance:
    """The :class:`Instance` of one service (``api.services()`` item) from its ``tasks``
    (``api.tasks()`` items of that service), as seen from ``host`` (the manager).
    ``secrets``: its secrets file's variables, read from one task (None: not read)."""
    spec = service.get("Spec") or {}
    labels = {str(k): str(v) for k, v in (spec.get("Labels") or {}).items()}
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    secret = secret_names(service, hint)
    env: dict[str, Value] = {}
    for item in container.get("Env") or ():
        name, _, value = str(item).partition("=")
        env[name] = seal(key, name, value) if name in secret else value
    if secrets is not None:
        env.update({n: seal(key, n, v) for n, v in secrets.items()})
    objects = ", ".join(secret_objects(service))
    for name in sorted(secret - set(env)):
        if name in str(labels.get(f"{LABEL}secrets", "")).split(","):
            env[name] = Sealed(f"unread:{objects}")
    mode = spec.get("Mode") or {}
    views = [task_of(t, names, health) for t in tasks]
    current = [t for t in views if t.desired in ("running", "ready")]
    desired = int((mode.get("Replicated") or {}).get("Replicas", 0)) if "Replicated" in mode \
        else len(current)
    state, health_text, running = service_state(views, desired)
    version = labels.get(f"{LABEL}version", "")
    started = sorted(t.since for t in current if t.state == "running" and t.since)
    restarts = sum(1 for t, raw in zip(views, tasks, strict=True) if t.state in FAILED and
                   _task_labels(raw).get(f"{LABEL}version") == version)
    image, image_id = _image(str(container.get("Image", "")))
    update = service.get("UpdateStatus") or {}
    limits = (template.get("Resources") or {}).get("Limits") or {}
    resources = {k: str(v) for k, v in (("memory", limits.get("MemoryBytes")),
                                        ("cpus", (limits.get("NanoCPUs") or 0) / 1e9),
                                        ("pids", limits.get("Pids"))) if v}
    return Instance(
        endpoint=labels.get(f"{LABEL}endpoint", ""), host=host,
        container=str(spec.get("Name", "")), state=state, health=health_text,
        started_at=started[0] if started else "", restarts=restarts, image=image,
        image_id=image_id, version=version, git_sha=labels.get(f"{LABEL}git-sha", ""),
        dirty=labels.get(f"{LABEL}dirty") == "true",
        config_hash=labels.get(f"{LABEL}config-hash", ""), env=env,
        labels={str(k): str(v) for k, v in (container.get("Labels") or {}).items()},
        ports=_ports((service.get("Endpoint") or {}).get("Ports")),
        asked_ports=_ports((spec.get("EndpointSpec") or {}).get("Ports"), asked=True),
        mounts=tuple(sorted(_mount(m) for m in container.get("Mounts") or ())),
        resources=resources,
        restart_policy=str((template.get("RestartPolicy") or {}).get("Condition", "")),
        replicas=f"{running}/{desired}", replicas_desired=desired, replicas_running=running,
        update_state=str(update.get("State", "")), update_message=str(update.get("Message", "")),
        placement=tuple(str(c) for c in (template.get("Placement") or {}).get("Constraints")
                        or ()),
        endpoint_mode=str((spec.get("EndpointSpec") or {}).get("Mode", "")),
        tasks=shown_tasks(views))


def _task_labels(task: Mapping[str, Any]) -> Mapping[str, Any]:
    return (((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels")) or {}


def _image(ref: str) -> tuple[str, str]:
    """(image, image id) of a pinned reference: ``sha256:<id>`` is an id; ``repo@sha256:<d>``
    a name and its digest; anything else a name."""
    if ref.startswith("sha256:"):
        return "", ref
    name, at, digest = ref.partition("@")
    return (name, digest) if at else (ref, "")


def _ports(ports: Sequence[Mapping[str, Any]] | None, asked: bool = False) -> tuple[str, ...]:
    """``<publish mode>:<published>-><target>/<protocol>``, as the docker engine's are written
    (``ip:host->port``); ``asked`` leaves out ports Swarm was to choose."""
    found = []
    for port in ports or ():
        published = port.get("PublishedPort")
        if asked and not published:
            continue
        found.append(f"{port.get('PublishMode') or 'ingress'}:{published or ''}->"
                     f"{port.get('TargetPort')}/{port.get('Protocol') or 'tcp'}")
    return tuple(sorted(found))


def _mount(mount: Mapping[str, Any]) -> str:
    mode = "ro" if mount.get("ReadOnly") else "rw"
    return (f"{mount.get('Type', '')} {mount.get('Source', '')} -> {mount.get('Target', '')} "
            f"({mode})")
