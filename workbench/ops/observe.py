"""Observe an environment: what runs on each host, read by labels, as an :class:`EnvState`.

Per host, over the one Docker API path (the local socket, or the one forwarded over SSH) and
the state root: one list of the environment's app containers, one inspect of each current
container and of each image they run (all at once, on threads), the live proxy config (one
archive read), and the endpoints' release records (all at once over SFTP). Hosts and
environments are read concurrently, one SSH connection per host; a host that cannot be read is
marked ``unreachable`` and the others are still read.

Secret values are sealed as they are read (:class:`~workbench.observed.Sealed`): an HMAC under
``key``, a key the caller makes for one comparison and keeps in its process.

A Swarm environment (``engine: swarm``) is read through its manager instead, services and
tasks in one list each (:mod:`workbench.swarm.observe`), into the same :class:`EnvState`.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .. import envkey, probe, releases
from ..engine import LABEL, blocking
from ..model import Environment, Project
from ..observed import EnvState, HostState, Instance, Value, seal
from ..proxy import CONF_PATH
from ..releases import Release
from ..site import Site

Opener = Callable[[Project, Environment], Any]
"""Opens the reachable hosts of an environment (:func:`workbench.sites.open_reachable`)."""


async def observe(project: Project, env: Environment, opener: Opener, key: bytes, *,
                  with_images: bool = True, with_routes: bool = True,
                  with_secrets: bool = False) -> EnvState:
    """What runs in ``env`` now, on every host (unreachable hosts say why). Without
    ``with_images`` the images' own defaults (env, labels) are not read, without
    ``with_routes`` the live proxy config is not: status needs neither. ``with_secrets``
    reads a Swarm service's secrets (an exec in one of its tasks; a container's come with its
    inspect): only a diff of two environments needs them."""
    return (await observe_keyed(project, env, opener, key, with_images=with_images,
                                with_routes=with_routes, with_secrets=with_secrets))[0]


async def observe_keyed(project: Project, env: Environment, opener: Opener, key: bytes, *,
                        with_images: bool = True, with_routes: bool = True,
                        with_secrets: bool = False) -> tuple[EnvState, bytes | None]:
    """:func:`observe`, and the environment's own secrets key (:mod:`workbench.envkey`, read
    on its first host; None when it has none or cannot be read), for config hashes. A Swarm
    environment (``engine: swarm``) is read through its manager
    (:mod:`workbench.swarm.observe`)."""
    secret_hint = {e.name: frozenset(e.secrets) for e in project.endpoints}
    order = [h.spec for h in env.hosts] if not env.is_local else ["local"]
    if env.engine == "swarm":
        from ..swarm.observe import manager_of, observe_hosts

        first = manager_of(project, env)
        async with opener(project, env) as (sites, failed):
            env_key = asyncio.ensure_future(_read_key([s for s in sites if s.name == first]))
            hosts, nodes = await observe_hosts(project, env, sites, failed, key, secret_hint,
                                               with_secrets=with_secrets,
                                               with_routes=with_routes)
            own_key = await env_key
        return EnvState(env.name, env.engine, tuple(hosts[n] for n in order if n in hosts),
                        nodes), own_key
    async with opener(project, env) as (sites, failed):
        env_key = asyncio.ensure_future(_read_key(sites))
        read = await asyncio.gather(*(_host(project, env, site, key, secret_hint, with_images,
                                            with_routes) for site in sites),
                                    return_exceptions=True)
        own_key = await env_key
    hosts: dict[str, HostState] = {name: HostState(name, unreachable=why)
                                   for name, why in failed.items()}
    for site, state in zip(sites, read, strict=True):
        if isinstance(state, HostState):
            hosts[site.name] = state
        elif isinstance(state, Exception):
            hosts[site.name] = HostState(site.name, unreachable=_line(state))
        else:
            raise state
    return EnvState(env.name, env.engine, tuple(hosts[n] for n in order if n in hosts)), own_key


async def _read_key(sites: Sequence[Site]) -> bytes | None:
    if not sites:
        return None
    try:
        return await envkey.read_key(sites[0].store)
    except Exception:  # a damaged or unreadable key: config drift is then not judged
        return None


async def _host(project: Project, env: Environment, site: Site, key: bytes,
                secret_hint: Mapping[str, frozenset[str]], with_images: bool,
                with_routes: bool) -> HostState:
    names = [e.name for e in project.endpoints]

    async def routes_read() -> dict[str, tuple[str, ...]]:
        return await blocking(lambda: read_routes(site, project.name, env.name)) \
            if with_routes else {}

    listing, records, routes = await asyncio.gather(
        blocking(lambda: list_apps(site, project.name, env.name)),
        asyncio.gather(*(releases.history(site.store, n) for n in names)), routes_read())
    by_endpoint = dict(zip(names, records, strict=True))
    for name in {label_of(c, "endpoint") for c in listing} - set(by_endpoint):
        by_endpoint[name] = await releases.history(site.store, name)  # removed from the repo
    current = {n: r for n, rs in by_endpoint.items()
               if (r := releases.current(rs, site.name)) is not None}
    last = {n: rs[-1] for n, rs in by_endpoint.items() if rs}
    chosen = current_containers(listing, current)
    ports = {e.name: e.port for e in project.endpoints}
    for name, record in current.items():
        ports.setdefault(name, int(record.endpoint_config.get("port") or 0))
    images: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def image(ref: str) -> asyncio.Future[dict[str, Any]]:
        """One inspect per distinct image, shared by the containers that run it."""
        if ref not in images:
            images[ref] = asyncio.ensure_future(blocking(lambda: _inspect_image(site, ref)))
        return images[ref]

    async def one(container: Mapping[str, Any]) -> Instance:
        """Inspect the container (then its image) and probe its health path at once: the
        listing already has what the probe needs (state, labels, address)."""
        endpoint = label_of(container, "endpoint")

        async def inspected() -> tuple[dict[str, Any], dict[str, Any]]:
            data = await blocking(lambda: site.engine.api.inspect_container(container["Id"]))
            ref = str(data.get("Image", ""))
            return data, (await image(ref) if ref and with_images else {})

        (data, found), health = await asyncio.gather(
            inspected(), _health(site, container, ports.get(endpoint, 0)))
        instance = _instance(site.name, data, found, key, secret_hint)
        return replace(instance, health=instance.health or health)

    instances = await asyncio.gather(*(one(c) for c in chosen))
    return HostState(site.name, instances=tuple(instances), routes=routes, releases=current,
                     last=last)


async def _health(site: Site, container: Mapping[str, Any], port: int) -> str:
    """The container's health from its listing: the engine's health state when the image has
    a health check, else GET of its health path through the host's connection (never a
    proxy); "" when it does not run."""
    status = str(container.get("Status", ""))
    for word, health in (("(healthy)", "healthy"), ("(unhealthy)", "unhealthy"),
                         ("(health: starting)", "starting")):
        if word in status:
            return health
    if container.get("State") != "running" or not port:
        return ""
    path = label_of(container, "health") or "/health"
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    address = next((str(n.get("IPAddress")) for n in networks.values() if n.get("IPAddress")), "")
    if not address:
        return "unknown (no address)"
    code = await probe.status(site.connect, address, port, path)
    return "healthy" if code == "200" else f"unhealthy ({code})"


def list_apps(site: Site, project: str, env: str) -> list[dict[str, Any]]:
    filters = {"label": [f"{LABEL}project={project}", f"{LABEL}env={env}", f"{LABEL}role=app"]}
    return list(site.engine.api.containers(all=True, filters=filters))


def current_containers(listing: Sequence[dict[str, Any]],
                        current: Mapping[str, Release]) -> list[dict[str, Any]]:
    """Per endpoint, the container that serves it: the current release's when it exists,
    else the newest running one (stopped ones kept for rollback are history)."""
    by_endpoint: dict[str, list[dict[str, Any]]] = {}
    for container in sorted(listing, key=lambda c: int(c.get("Created") or 0), reverse=True):
        by_endpoint.setdefault(label_of(container, "endpoint"), []).append(container)
    chosen = []
    for endpoint, containers in sorted(by_endpoint.items()):
        release = current.get(endpoint)
        named = [c for c in containers if release is not None and release.container in
                 {n.lstrip("/") for n in c.get("Names") or ()}]
        running = [c for c in containers if c.get("State") == "running"]
        if named or running:
            chosen.append((named or running)[0])
    return chosen


def _inspect_image(site: Site, image: str) -> dict[str, Any]:
    import docker.errors

    try:
        return dict(site.engine.api.inspect_image(image))
    except docker.errors.NotFound:
        return {}


def read_routes(site: Site, project: str, env: str) -> dict[str, tuple[str, ...]]:
    """endpoint -> its prefixes in the live proxy config ({} when there is no proxy)."""
    import docker.errors

    api = site.engine.api
    filters = {"label": [f"{LABEL}project={project}", f"{LABEL}env={env}",
                         f"{LABEL}role=proxy"]}
    found = api.containers(all=True, filters=filters)
    if not found:
        return {}
    try:
        stream, _stat = api.get_archive(found[0]["Id"], CONF_PATH)
    except docker.errors.APIError:
        return {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.getmembers()[0]
        handle = tar.extractfile(member)
        text = handle.read().decode("utf-8", "replace") if handle else ""
    return parse_routes(text)


def parse_routes(config: str) -> dict[str, tuple[str, ...]]:
    """endpoint -> prefixes, from a config :func:`workbench.proxyconf.render` wrote (its
    ``location = /prefix {  # endpoint NAME`` lines)."""
    found: dict[str, set[str]] = {}
    for line in config.splitlines():
        head, _, comment = line.strip().partition("  # endpoint ")
        if head.startswith("location = ") and comment:
            prefix = head.removeprefix("location = ").removesuffix(" {").strip()
            found.setdefault(comment.strip(), set()).add(prefix)
    return {name: tuple(sorted(prefixes)) for name, prefixes in sorted(found.items())}


def _instance(host: str, data: Mapping[str, Any], image: Mapping[str, Any], key: bytes,
              secret_hint: Mapping[str, frozenset[str]]) -> Instance:
    config = data.get("Config") or {}
    labels: dict[str, str] = dict(config.get("Labels") or {})
    state = data.get("State") or {}
    host_config = data.get("HostConfig") or {}
    endpoint = labels.get(f"{LABEL}endpoint", "")
    secret = {n for n in labels.get(f"{LABEL}secrets", "").split(",") if n}
    secret |= secret_hint.get(endpoint, frozenset())
    env: dict[str, Value] = {}
    for item in config.get("Env") or ():
        name, _, value = str(item).partition("=")
        env[name] = seal(key, name, value) if name in secret else value
    image_config = image.get("Config") or {}
    image_env = dict(str(i).partition("=")[::2] for i in image_config.get("Env") or ())
    ports = tuple(sorted(f"{b.get('HostIp', '')}:{b.get('HostPort', '')}->{port}"
                         for port, binds in ((data.get("NetworkSettings") or {}).get("Ports")
                                             or {}).items() for b in binds or ()))
    asked = tuple(sorted(f"{b.get('HostIp', '')}:{b.get('HostPort', '')}->{port}"
                         for port, binds in (host_config.get("PortBindings") or {}).items()
                         for b in binds or ()))
    mounts = tuple(sorted(f"{m.get('Type', '')} {m.get('Name') or m.get('Source', '')} -> "
                          f"{m.get('Destination', '')} ({'rw' if m.get('RW') else 'ro'})"
                          for m in data.get("Mounts") or ()))
    resources = {k: str(v) for k, v in (("memory", host_config.get("Memory")),
                                        ("cpus", (host_config.get("NanoCpus") or 0) / 1e9),
                                        ("pids", host_config.get("PidsLimit"))) if v}
    policy = (host_config.get("RestartPolicy") or {}).get("Name", "")
    return Instance(
        endpoint=endpoint, host=host, container=str(data.get("Name", "")).lstrip("/"),
        container_id=str(data.get("Id", "")), state=str(state.get("Status", "")),
        health=str((state.get("Health") or {}).get("Status", "")),
        started_at=str(state.get("StartedAt", "")), restarts=int(data.get("RestartCount") or 0),
        image=str(config.get("Image", "")), image_id=str(data.get("Image", "")),
        version=labels.get(f"{LABEL}version", ""), git_sha=labels.get(f"{LABEL}git-sha", ""),
        dirty=labels.get(f"{LABEL}dirty") == "true",
        config_hash=labels.get(f"{LABEL}config-hash", ""), env=env, image_env=image_env,
        labels=labels, image_labels=dict(image_config.get("Labels") or {}), ports=ports,
        asked_ports=asked,
        mounts=mounts, resources=resources, restart_policy=str(policy))


def label_of(container: Mapping[str, Any], name: str) -> str:
    return str((container.get("Labels") or {}).get(f"{LABEL}{name}", ""))


def _line(exc: BaseException) -> str:
    line = getattr(exc, "line", None)
    return str(line) if line else (f"{type(exc).__name__}: {exc}".splitlines() or ["?"])[0]
