"""Observe a Swarm environment (``engine: swarm``) through its manager, as an
:class:`~workbench.observed.EnvState` (called by :func:`workbench.ops.observe.observe_keyed`).

All at once, each on a thread, through the hosts' forwarded docker sockets (the SSH connections
the opener made, one per host):

- on the manager (the environment's first host): ONE list of the environment's app services
  and ONE of their tasks (by labels), the nodes, the live proxy config (the proxy's task runs
  there) and the release records of its state root;
- on every host: its engine's ``info()`` (which node it is) and ONE list of its task
  containers by label (their health: ``(healthy)`` in the listing); for a diff
  (``with_secrets``), as soon as a host's list is in, each endpoint's secrets file is read from
  one running task container there (one exec per service, not per task), and sealed at once.

The manager holds every service (:mod:`workbench.swarm.facts` turns a service and its tasks
into an instance); the other hosts only say whether they were read. A manager that cannot be
read is ``unreachable`` with its reason; a host that is no node of the Swarm is read as empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from .. import releases
from ..engine import LABEL, blocking
from ..errors import BadInput
from ..model import Environment, Project
from ..observed import HostState
from ..site import Site
from . import facts
from .secrets import TARGET

SECRETS_FILE = f"/run/secrets/{TARGET}"
READ_SCRIPT = ('while IFS= read -r line || [ -n "$line" ]; do printf "%s\\n" "$line"; done < '
               f"{SECRETS_FILE}")
"""Prints the secrets file with the shell alone (an image need not have ``cat``)."""
Nodes = tuple[tuple[str, str], ...]


def manager_of(project: Project, env: Environment) -> str:
    """The manager's host spec: the first host of the project's environment of that name (an
    environment narrowed to some of its hosts, as the live matrix opens them, keeps it)."""
    try:
        whole = project.environment(env.name)
    except BadInput:
        whole = env
    hosts = whole.hosts or env.hosts
    return hosts[0].spec if hosts else ""


async def observe_hosts(project: Project, env: Environment, sites: Sequence[Site],
                        failed: Mapping[str, str], key: bytes,
                        hint: Mapping[str, frozenset[str]], *, with_secrets: bool = True,
                        with_routes: bool = True) -> tuple[dict[str, HostState], Nodes]:
    """host -> its state, and the Swarm's nodes (id, as shown; the manager's first)."""
    hosts = {name: HostState(name, unreachable=why) for name, why in failed.items()}
    spec = manager_of(project, env)
    manager = next((s for s in sites if s.name == spec), None)
    if manager is None:  # the manager is unreachable (said in failed) or not among these hosts
        hosts.update({s.name: HostState(s.name) for s in sites})
        return hosts, ()
    names = [e.name for e in project.endpoints]
    secrets: dict[str, asyncio.Future[dict[str, str] | None]] = {}
    sources: dict[str, list[tuple[Site, str]]] = {}  # endpoint -> running containers to read
    listed = asyncio.Event()  # every node's containers are in ``sources``

    async def read(endpoint: str) -> dict[str, str] | None:
        """The endpoint's secrets from its first readable container: one that went away (a
        task replaced meanwhile) gives way to the next, from any node."""
        tried = 0
        while True:
            if tried == len(sources[endpoint]):
                await listed.wait()
                if tried == len(sources[endpoint]):
                    return None
            site, container = sources[endpoint][tried]
            tried += 1
            got = await blocking(lambda s=site, c=container: _read_secrets(s, c))
            if got:
                return got

    async def node(site: Site) -> tuple[str, dict[str, str]]:
        """Which node the host is, its task containers' health; secret reads started."""
        info, listing = await asyncio.gather(
            blocking(lambda: dict(site.engine.api.info())),
            blocking(lambda: _task_containers(site, project.name, env.name)))
        if with_secrets:
            for endpoint, containers in _secret_sources(listing).items():
                sources.setdefault(endpoint, []).extend((site, c) for c in containers)
                if endpoint not in secrets:
                    secrets[endpoint] = asyncio.ensure_future(read(endpoint))
        return str((info.get("Swarm") or {}).get("NodeID") or ""), facts.container_health(listing)

    async def routes() -> dict[str, tuple[str, ...]]:
        from ..ops.observe import read_routes  # the proxy's config, as on a single host

        return await blocking(lambda: read_routes(manager, project.name, env.name)) \
            if with_routes else {}

    api = manager.engine.api
    filters = {"label": [f"{LABEL}project={project.name}", f"{LABEL}env={env.name}",
                         f"{LABEL}role=app"]}
    reading = asyncio.gather(
        blocking(lambda: list(api.services(filters=filters))),
        blocking(lambda: list(api.tasks(filters=filters))),
        blocking(lambda: list(api.nodes())), routes(),
        asyncio.gather(*(releases.history(manager.store, n) for n in names)))
    others = asyncio.gather(*(node(s) for s in sites), return_exceptions=True)
    try:
        (services, tasks, nodes, live_routes, records), per_site = \
            await asyncio.gather(reading, others)
    except Exception as exc:  # the manager cannot say: no Swarm manager, an engine error
        others.cancel()
        listed.set()
        await asyncio.gather(others, *secrets.values(), return_exceptions=True)
        hosts.update({s.name: HostState(s.name) for s in sites})
        hosts[manager.name] = HostState(manager.name, unreachable=_manager_line(exc))
        return hosts, ()
    listed.set()
    host_of: dict[str, str] = {}
    health: dict[str, str] = {}
    for site, got in zip(sites, per_site, strict=True):
        if isinstance(got, BaseException):
            if not isinstance(got, Exception):
                raise got
            hosts[site.name] = HostState(site.name, unreachable=_line(got))
            continue
        node_id, found = got
        if node_id:
            host_of[node_id] = site.name
        health.update(found)
        hosts[site.name] = HostState(site.name)
    by_endpoint = dict(zip(names, records, strict=True))
    for service in services:  # deployed, but no longer in the repo
        name = str(((service.get("Spec") or {}).get("Labels") or {}).get(f"{LABEL}endpoint", ""))
        if name and name not in by_endpoint:
            by_endpoint[name] = await releases.history(manager.store, name)
    read_secrets = dict(zip(secrets, await asyncio.gather(*secrets.values(),
                                                          return_exceptions=True), strict=True))
    shown = facts.node_names(nodes, host_of)
    instances = []
    for service in services:
        labels = (service.get("Spec") or {}).get("Labels") or {}
        endpoint = str(labels.get(f"{LABEL}endpoint", ""))
        ours = [t for t in tasks if t.get("ServiceID") == service.get("ID")]
        values = read_secrets.get(endpoint)
        instances.append(facts.service_instance(
            service, ours, host=manager.name, names=shown, health=health, key=key,
            hint=hint.get(endpoint, frozenset()),
            secrets=values if isinstance(values, dict) else None))
    instances.sort(key=lambda i: i.endpoint)
    current = {n: r for n, rs in by_endpoint.items()
               if (r := releases.current(rs, manager.name)) is not None}
    last = {n: rs[-1] for n, rs in by_endpoint.items() if rs}
    hosts[manager.name] = HostState(manager.name, instances=tuple(instances), routes=live_routes,
                                    releases=current, last=last)
    mine = next((i for i, s in host_of.items() if s == manager.name), "")
    order = sorted(shown.items(), key=lambda item: (item[0] != mine, item[1], item[0]))
    return hosts, tuple(order)


def _task_containers(site: Site, project: str, env: str) -> list[dict[str, Any]]:
    """The environment's app containers on one node (tasks carry the service's labels)."""
    filters = {"label": [f"{LABEL}project={project}", f"{LABEL}env={env}", f"{LABEL}role=app"]}
    return list(site.engine.api.containers(all=True, filters=filters))


def _secret_sources(listing: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """endpoint -> this node's running containers whose service has secrets, newest first."""
    found: dict[str, list[tuple[int, str]]] = {}
    for container in listing:
        labels = container.get("Labels") or {}
        endpoint = str(labels.get(f"{LABEL}endpoint", ""))
        if container.get("State") != "running" or not labels.get(f"{LABEL}secrets"):
            continue
        if endpoint:
            found.setdefault(endpoint, []).append((int(container.get("Created") or 0),
                                                   str(container["Id"])))
    return {endpoint: [ident for _c, ident in sorted(items, reverse=True)]
            for endpoint, items in found.items()}


def _read_secrets(site: Site, container: str) -> dict[str, str] | None:
    """The secrets file of one task container (None or empty when it cannot be read: the
    container stopped meanwhile, or has no shell), by an exec of
    the ``/bin/sh`` its secrets wrapper needs anyway (the archive API sees only the mount
    point). Its values go straight to :func:`workbench.swarm.facts.service_instance`, which
    seals them."""
    api = site.engine.api
    try:
        made = api.exec_create(container, ["/bin/sh", "-c", READ_SCRIPT], stdout=True,
                               stderr=False)
        out = api.exec_start(made["Id"], demux=True)
    except Exception:  # gone meanwhile, or no shell: the secrets are then not read
        return None
    stdout = out[0] if isinstance(out, tuple) else out
    return facts.parse_env_file((stdout or b"").decode("utf-8", "replace"))


def _manager_line(exc: BaseException) -> str:
    text = _line(exc)
    if "not a swarm manager" in text.lower() or getattr(exc, "status_code", 0) == 503:
        return f"no Swarm manager ({text}); make the first host a manager, or set engine: docker"
    return text


def _line(exc: BaseException) -> str:
    line = getattr(exc, "line", None)
    if line:
        return str(line)
    text = str(getattr(exc, "explanation", None) or exc)
    return (f"{type(exc).__name__}: {text}".splitlines() or ["?"])[0][:300]

