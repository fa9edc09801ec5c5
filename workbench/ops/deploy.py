"""Deploy endpoints to an environment, roll them back, and read their history.

Per endpoint and host (DESIGN.md, "On a server")::

    build   on the host's engine, only when the version's image is missing
    start   the new container beside the old one (env network, /data volume, env + secrets)
    health  GET <health> on the container through the tunnel
    switch  proxy config rewritten, `nginx -t`, graceful reload        (all hosts, or none)
    drain   the old container finishes its requests, stops, is kept for rollback (last 5)
    record  a release line in releases/<endpoint>.jsonl on the host

Endpoints go in phases (produces/consumes); the endpoints of a phase and the hosts run in
parallel. An endpoint switches only when it is healthy on every host; if a switch fails on one
host, the hosts already switched are switched back. Before the switch, a failure removes the new
container: the proxy never pointed at it, so the old version keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import json
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex
from types import MappingProxyType
from typing import Any

from .. import proxy, releases
from ..context import BuildContext, build_context
from ..engine import LABEL, Engine, Stream, blocking, follow
from ..errors import BadInput, OperationFailed
from ..events import Emit, LogLines, Result, Steps, Warning
from ..health import wait_healthy
from ..lock import EnvLock
from ..logstream import LogHub
from ..model import Endpoint, Environment, Project
from ..plan import phases
from ..releases import Release
from ..secrets import secrets_for
from ..state import Store
from .test import select

KEEP = 5
"""Stopped containers kept per endpoint and host, for rollback."""

Connect = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass(frozen=True, slots=True)
class DeployOptions:
    lock_wait: float = 0.0
    build_args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    drain: float = 2.0
    """Seconds the old container keeps running after the switch."""
    health_timeout: float | None = None


@dataclass(slots=True)
class Site:
    """One host of the environment: its engine, its state root, and a way to reach containers."""

    name: str
    engine: Engine
    store: Store
    connect: Connect
    proxy_id: str = ""
    current: dict[str, Release] = field(default_factory=dict)
    """endpoint -> its current release on this host (read once, when the run starts)."""
    active: dict[str, tuple[str, Endpoint]] = field(default_factory=dict)
    """endpoint -> (container name, endpoint) the proxy routes to."""
    switching: asyncio.Lock = field(default_factory=asyncio.Lock)


SiteOpener = Callable[[Project, Environment], contextlib.AbstractAsyncContextManager[list[Site]]]


@dataclass(frozen=True, slots=True)
class Outcome:
    endpoint: str
    ok: bool
    version: str
    changed: bool
    reason: str = ""
    reverted: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "ok": self.ok, "version": self.version,
                "changed": self.changed, "reason": self.reason,
                "reverted": list(self.reverted)}


@dataclass(frozen=True, slots=True)
class DeployReport:
    env: str
    outcomes: tuple[Outcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def summary(self) -> str:
        lines = []
        for o in self.outcomes:
            if not o.ok:
                extra = f"; switched back on {', '.join(o.reverted)}" if o.reverted else ""
                lines.append(f"{o.endpoint}  FAILED  {o.reason}{extra}")
            else:
                lines.append(f"{o.endpoint}  {'deployed' if o.changed else 'unchanged'}  "
                             f"{o.version}")
        failed = [o.endpoint for o in self.outcomes if not o.ok]
        lines.append(f"{self.env}: {len(self.outcomes) - len(failed)} ok"
                     + (f", {len(failed)} failed ({', '.join(failed)})" if failed else ""))
        return "\n".join(lines)


# -- entry points -----------------------------------------------------------------------------
async def deploy(project: Project, env_name: str, names: Sequence[str], emit: Emit,
                 options: DeployOptions, open_sites: SiteOpener) -> DeployReport:
    env = project.environment(env_name)
    endpoints = select(project, names)
    order = phases(endpoints)
    inputs = await asyncio.to_thread(_inputs, project, env, endpoints, options)
    outcomes: list[Outcome] = []
    async with open_sites(project, env) as sites, EnvLock(
            sites[0].store, env.name, f"deploy {' '.join(names) or 'all'}",
            wait=options.lock_wait, warn=lambda m: emit(Warning(m))), LogHub(emit) as hub:
        run = _Deploy(project, env, emit, options, sites, hub)
        try:
            await run.prepare(project.endpoints)
            failed = False
            for phase in order:
                if failed:
                    outcomes += [Outcome(n, False, inputs[n].context.version, False,
                                         "not started: an earlier phase failed") for n in phase]
                    continue
                results = await asyncio.gather(*(run.endpoint(inputs[n]) for n in phase))
                outcomes += results
                failed = not all(o.ok for o in results)
        finally:
            await run.close()
    report = DeployReport(env.name, tuple(outcomes))
    emit(Result(report.ok, report.summary(), {"env": env.name,
                                              "endpoints": [o.as_dict() for o in outcomes]}))
    return report


async def rollback(project: Project, env_name: str, name: str, emit: Emit,
                   options: DeployOptions, open_sites: SiteOpener,
                   to: str | None = None) -> DeployReport:
    env = project.environment(env_name)
    endpoint = project.endpoint(name)
    async with open_sites(project, env) as sites, EnvLock(
            sites[0].store, env.name, f"rollback {name}", wait=options.lock_wait,
            warn=lambda m: emit(Warning(m))), LogHub(emit) as hub:
        run = _Deploy(project, env, emit, options, sites, hub)
        try:
            await run.prepare(project.endpoints)
            target = await run.rollback_target(endpoint, to)
            outcome = await run.endpoint(target)
        finally:
            await run.close()
    report = DeployReport(env.name, (outcome,))
    emit(Result(report.ok, report.summary(), {"env": env.name,
                                              "endpoints": [outcome.as_dict()]}))
    return report


async def history(project: Project, env_name: str, name: str,
                  open_sites: SiteOpener) -> list[Release]:
    env = project.environment(env_name)
    project.endpoint(name)
    async with open_sites(project, env) as sites:
        records = await asyncio.gather(*(releases.history(s.store, name) for s in sites))
    return sorted((r for rs in records for r in rs), key=lambda r: (r.time, r.host))


# -- inputs -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Input:
    endpoint: Endpoint
    context: BuildContext
    env: Mapping[str, str]
    secrets: Mapping[str, str]
    config_hash: str
    git_sha: str
    dirty: bool
    kind: str = "deploy"
    container: str | None = None
    """For a rollback: the stopped container to start again."""


def _inputs(project: Project, env: Environment, endpoints: Sequence[Endpoint],
            options: DeployOptions) -> dict[str, _Input]:
    result = {}
    for endpoint in endpoints:
        context = build_context(project, endpoint, options.build_args)
        variables = {**env.variables, **endpoint.env}
        secrets = secrets_for(project.root, env.secrets_file, env.name, endpoint.name,
                              endpoint.secrets)
        sha, dirty = _git(endpoint.path)
        result[endpoint.name] = _Input(endpoint, context, variables, secrets,
                                       config_hash(endpoint, variables, secrets), sha, dirty)
    return result


def config_hash(endpoint: Endpoint, variables: Mapping[str, str],
                secrets: Mapping[str, str]) -> str:
    """A hash of what the container is run with; secret values enter only as their hashes."""
    body = {"port": endpoint.port, "health": endpoint.health, "routes": list(endpoint.routes),
            "data": endpoint.data, "env": dict(sorted(variables.items())),
            "secrets": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in
                        sorted(secrets.items())}}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def _git(path: Path) -> tuple[str, bool]:
    def run(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True,
                              check=False, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else ""

    return run("rev-parse", "--short=12", "HEAD"), bool(run("status", "--porcelain"))


# -- the run ----------------------------------------------------------------------------------
class _Deploy:
    def __init__(self, project: Project, env: Environment, emit: Emit, options: DeployOptions,
                 sites: list[Site], hub: LogHub) -> None:
        self.project, self.env, self.emit, self.options = project, env, emit, options
        self.sites, self.hub = sites, hub
        self.network = proxy.network_name(project.name, env.name)
        self.prefix = self.network  # the environment's objects are named wb-<project>-<env>-...
        self.labels = {f"{LABEL}project": project.name, f"{LABEL}env": env.name}
        self.log_streams: dict[str, Stream] = {}
        """Streams of the new containers' logs, by container name."""
        self.log_tasks: list[asyncio.Future[None]] = []
        self.restarted: set[str] = set()
        """Old containers started again by a rollback: stopped, never removed, on failure."""

    async def close(self) -> None:
        """Stop following logs."""
        for stream in self.log_streams.values():
            stream.close()
        await asyncio.gather(*self.log_tasks, return_exceptions=True)

    async def prepare(self, endpoints: Sequence[Endpoint]) -> None:
        """Proxy and network on every host; what each host's proxy routes to now."""
        async def one(site: Site) -> None:
            site.proxy_id = await blocking(lambda: proxy.ensure_proxy(
                site.engine, self.project.name, self.env.name, self.env.proxy_image,
                self.env.proxy_port, bind=self.env.proxy_bind))
            for endpoint in endpoints:
                records = await releases.history(site.store, endpoint.name)
                current = releases.current(records, site.name)
                if current is not None:
                    site.current[endpoint.name] = current
                    if current.container:
                        site.active[endpoint.name] = (current.container, endpoint)
            await self._restore(site)

        await asyncio.gather(*(one(site) for site in self.sites))

    async def _restore(self, site: Site) -> None:
        """A proxy that does not serve the routes of the current releases (it was just created,
        or someone changed it) gets them back before anything else happens."""
        if not site.active:
            return
        text = self._config(site.active)
        address = await blocking(lambda: _address(site.engine, site.proxy_id, self.network))
        served = await _header(site.connect, address, proxy.LISTEN_PORT, proxy.HEALTH_PATH,
                               proxy.CONFIG_HEADER)
        if served != proxy.config_id(text):
            self.emit(Warning(f"the proxy on {site.name} did not route to the current releases; "
                              "restored its config"))
            await self._apply(site, site.active)

    def _config(self, active: Mapping[str, tuple[str, Endpoint]]) -> str:
        routes = [proxy.Route(prefix, name, container, ep.port)
                  for name, (container, ep) in sorted(active.items()) for prefix in ep.routes]
        return proxy.render(self.project.name, self.env.name, routes)

    async def rollback_target(self, endpoint: Endpoint, to: str | None) -> _Input:
        site = self.sites[0]
        records = await releases.history(site.store, endpoint.name)
        current = releases.current(records, site.name)
        if current is None:
            raise BadInput(f"'{endpoint.name}' was never deployed to '{self.env.name}'",
                           "deploy it first")
        candidates = [r for r in reversed(records) if r.outcome == "ok" and r.host == site.name
                      and r.version != current.version and (to is None or r.version == to)]
        if not candidates:
            known = sorted({r.version for r in records if r.outcome == "ok"})
            raise BadInput(f"no earlier release of '{endpoint.name}'"
                           + (f" with version {to}" if to else "")
                           + f" in '{self.env.name}' (current {current.version})",
                           f"pick one of: {', '.join(known)}" if to else "deploy a change first")
        target = candidates[0]
        context = BuildContext(endpoint.name, b"", target.version, {}, 0)
        variables = {**self.env.variables, **endpoint.env}
        secrets = await asyncio.to_thread(secrets_for, self.project.root, self.env.secrets_file,
                                          self.env.name, endpoint.name, endpoint.secrets)
        return _Input(endpoint, context, variables, secrets, target.config_hash, target.git_sha,
                      target.dirty, kind="rollback", container=target.container or None)

    async def endpoint(self, item: _Input) -> Outcome:
        name, version = item.endpoint.name, item.context.version
        steps = Steps(self.emit)
        fresh: dict[str, str] = {}
        started = time.perf_counter()
        try:
            changed = await self._changed(item)
            if not changed:
                self.emit(LogLines(f"{name}/deploy", (f"{name} is already at {version} with the "
                                                      "same config on every host",)))
                return Outcome(name, True, version, False)
            await asyncio.gather(*(self._up(site, item, steps, fresh) for site in self.sites))
        except BaseException as exc:  # before the switch: the proxy never saw the new one
            await self._discard(fresh)
            await self._record_failure(item, steps, exc, started)
            if not isinstance(exc, Exception):
                raise
            return Outcome(name, False, version, True, _problem(exc))
        switched: list[Site] = []
        try:
            with steps.step(f"{name}/switch", f"{name}: switch the proxy"):
                for site in self.sites:
                    await self._switch(site, item.endpoint, fresh[site.name])
                    switched.append(site)
        except Exception as exc:
            reverted = await self._revert(switched, item.endpoint)
            await self._discard(fresh)
            await self._record_failure(item, steps, exc, started)
            return Outcome(name, False, version, True, _problem(exc), reverted)
        with steps.step(f"{name}/drain", f"{name}: drain and stop the old container"):
            await asyncio.gather(*(self._drain(site, item.endpoint, fresh[site.name])
                                   for site in self.sites))
        with steps.step(f"{name}/record", f"{name}: record the release"):
            records = {site.name: self._release(item, site, "ok", steps, started,
                                                container=fresh[site.name])
                       for site in self.sites}
            await asyncio.gather(*(releases.append(site.store, records[site.name])
                                   for site in self.sites))
            for site in self.sites:
                site.current[name] = records[site.name]
        return Outcome(name, True, version, True)

    async def _changed(self, item: _Input) -> bool:
        if item.kind == "rollback":
            return True
        for site in self.sites:
            current = site.current.get(item.endpoint.name)
            if (current is None or current.version != item.context.version
                    or current.config_hash != item.config_hash
                    or not await blocking(lambda c=current, s=site: _running(s.engine,
                                                                               c.container))):
                return True
        return False

    async def _up(self, site: Site, item: _Input, steps: Steps, fresh: dict[str, str]) -> None:
        name = item.endpoint.name
        where = f" on {site.name}" if len(self.sites) > 1 else ""
        image = f"wb-{self.project.name}-{name}:{item.context.version}"
        with steps.step(f"{name}/build{where}", f"{name}: build{where}"):
            await self._build(site, item, image)
        with steps.step(f"{name}/start{where}", f"{name}: start the new container{where}"):
            fresh[site.name] = await self._start(site, item, image)
        with steps.step(f"{name}/health{where}", f"{name}: health check{where}"):
            await self._health(site, item.endpoint, fresh[site.name])

    async def _build(self, site: Site, item: _Input, image: str) -> None:
        pump = self.hub.pump(f"{item.endpoint.name}/build")
        if item.container and await blocking(lambda: _exists(site.engine, item.container or "")):
            pump.feed([f"rolling back to container {item.container}"])
            return
        if await blocking(lambda: site.engine.image_exists(image)):
            pump.feed([f"{site.name}: image {image} exists: not rebuilt"])
            return
        if not item.context.data:
            raise OperationFailed(f"image {image} is no longer on {site.name}",
                                  "deploy that version again")
        pump.feed([f"{site.name}: building {image}"])
        labels = {**self.labels, f"{LABEL}endpoint": item.endpoint.name,
                  f"{LABEL}version": item.context.version}
        stream = Stream()
        await blocking(lambda: site.engine.build(item.context.data, image,
                                                 item.context.build_args, labels, pump.feed,
                                                 stream), stream)

    async def _start(self, site: Site, item: _Input, image: str) -> str:
        endpoint = item.endpoint
        client = site.engine.client
        if item.container and await blocking(lambda: _exists(site.engine, item.container or "")):
            await blocking(lambda: client.containers.get(item.container).start())
            self.restarted.add(item.container)
            return item.container
        container = f"{self.prefix}-{endpoint.name}-{item.context.version}-{token_hex(2)}"
        labels = {**self.labels, f"{LABEL}endpoint": endpoint.name, f"{LABEL}role": "app",
                  f"{LABEL}version": item.context.version, f"{LABEL}git-sha": item.git_sha,
                  f"{LABEL}config-hash": item.config_hash}
        volumes = {}
        if endpoint.data:
            volume = f"{self.prefix}-{endpoint.name}-data"
            volumes = {volume: {"bind": "/data", "mode": "rw"}}

        def start() -> None:
            if endpoint.data:
                import docker.errors

                try:
                    client.volumes.get(volume)
                except docker.errors.NotFound:
                    client.volumes.create(volume, labels={**self.labels,
                                                          f"{LABEL}endpoint": endpoint.name})
            client.containers.run(image, detach=True, name=container, labels=labels,
                                  network=self.network, volumes=volumes,
                                  environment={**item.env, **item.secrets},
                                  restart_policy={"Name": "unless-stopped"})

        if item.secrets:
            lines = "".join(f"{k}={v}\n" for k, v in sorted(item.secrets.items()))
            await site.store.write(f"secrets/{endpoint.name}.env", lines.encode(), mode=0o600)
        await blocking(start)
        log_stream = self.log_streams[container] = Stream()
        pump = self.hub.pump(f"{endpoint.name}/app")
        self.log_tasks.append(follow(lambda: site.engine.follow_logs(
            container, pump.feed, log_stream), log_stream))
        return container

    async def _health(self, site: Site, endpoint: Endpoint, container: str) -> None:
        address = ""

        async def exited() -> int | None:
            nonlocal address
            code, address = await blocking(lambda: _state(site.engine, container, self.network))
            return code

        async def status() -> str:
            if not address:
                return "no address on the network yet"
            return await _http_status(site.connect, address, endpoint.port, endpoint.health)

        await wait_healthy(endpoint.health, self.options.health_timeout or endpoint.health_timeout,
                           exited=exited, status=status, what="the new container",
                           tail=lambda: blocking(lambda: site.engine.tail(container)),
                           interval=0.25)

    async def _switch(self, site: Site, endpoint: Endpoint, container: str) -> None:
        async with site.switching:
            active = {**site.active, endpoint.name: (container, endpoint)}
            await self._apply(site, active)
            site.active = active

    async def _apply(self, site: Site, active: Mapping[str, tuple[str, Endpoint]]) -> None:
        text = self._config(active)
        await blocking(lambda: proxy.apply(site.engine, site.proxy_id, text))
        await self._switched(site, proxy.config_id(text))

    async def _switched(self, site: Site, wanted: str | None, timeout: float = 15.0) -> None:
        """Wait until nginx's new workers answer: ``nginx -s reload`` returns before they do."""
        if wanted is None:
            return
        address = await blocking(lambda: _address(site.engine, site.proxy_id, self.network))
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            seen = await _header(site.connect, address, proxy.LISTEN_PORT, proxy.HEALTH_PATH,
                                 proxy.CONFIG_HEADER)
            if seen == wanted:
                return
            await asyncio.sleep(0.05)
        raise OperationFailed(f"the proxy on {site.name} still serves config {seen or '?'} "
                              f"{timeout:g}s after its reload to {wanted}",
                              "see the proxy container's log (nginx may have refused the reload)")

    async def _revert(self, switched: list[Site], endpoint: Endpoint) -> tuple[str, ...]:
        reverted = []
        for site in switched:
            async with site.switching:
                current = site.current.get(endpoint.name)
                active = dict(site.active)
                if current is not None and current.container:
                    active[endpoint.name] = (current.container, endpoint)
                else:
                    active.pop(endpoint.name, None)
                with contextlib.suppress(Exception):
                    await self._apply(site, active)
                    site.active = active
                    reverted.append(site.name)
        return tuple(reverted)

    async def _drain(self, site: Site, endpoint: Endpoint, container: str) -> None:
        filters = {"label": [f"{LABEL}project={self.project.name}", f"{LABEL}env={self.env.name}",
                             f"{LABEL}endpoint={endpoint.name}", f"{LABEL}role=app"]}

        def others() -> list[Any]:
            return [c for c in site.engine.client.containers.list(all=True, filters=filters)
                    if c.name != container]

        if any(c.status == "running" for c in await blocking(others)):
            await asyncio.sleep(self.options.drain)  # requests in flight on the old one finish

        def stop_old() -> None:
            old_ones = others()
            for old in old_ones:
                if old.status == "running":
                    old.stop(timeout=10)
            old_ones.sort(key=lambda c: c.attrs.get("Created", ""), reverse=True)
            for old in old_ones[KEEP:]:
                old.remove(force=True)

        await blocking(stop_old)

    async def _discard(self, fresh: Mapping[str, str]) -> None:
        """Remove new containers the proxy does not route to (a rollback's is stopped)."""
        for site in self.sites:
            container = fresh.get(site.name)
            if not container or container in {c for c, _ in site.active.values()}:
                continue
            if container in self.log_streams:
                self.log_streams[container].close()
            if container in self.restarted:
                await blocking(lambda c=container, s=site: _stop(s.engine, c))
            else:
                await blocking(lambda c=container, s=site: _remove(s.engine, c))

    def _release(self, item: _Input, site: Site, outcome: str, steps: Steps, started: float,
                 container: str = "", reason: str = "",
                 last_lines: Sequence[str] = ()) -> Release:
        durations = {e.step.split("/")[1].split(" ")[0]: round(e.duration, 3)
                     for e in steps.finished}
        durations["total"] = round(time.perf_counter() - started, 3)
        return Release(endpoint=item.endpoint.name, version=item.context.version,
                       host=site.name, outcome=outcome, kind=item.kind, container=container,
                       image=f"wb-{self.project.name}-{item.endpoint.name}:"
                       f"{item.context.version}", git_sha=item.git_sha, dirty=item.dirty,
                       config_hash=item.config_hash, user=getpass.getuser(),
                       time=releases.now(), durations=durations, reason=reason,
                       last_lines=tuple(last_lines)[-20:])

    async def _record_failure(self, item: _Input, steps: Steps, exc: BaseException,
                              started: float) -> None:
        lines = getattr(exc, "last_lines", ())
        await asyncio.gather(*(releases.append(site.store, self._release(
            item, site, "failed", steps, started, reason=_problem(exc), last_lines=lines))
            for site in self.sites), return_exceptions=True)


def _problem(exc: BaseException) -> str:
    return getattr(exc, "problem", "") or f"{type(exc).__name__}: {exc}"


def _exists(engine: Engine, container: str) -> bool:
    import docker.errors

    try:
        engine.client.containers.get(container)
    except docker.errors.NotFound:
        return False
    return True


def _running(engine: Engine, container: str) -> bool:
    import docker.errors

    try:
        return engine.client.containers.get(container).status == "running"
    except docker.errors.NotFound:
        return False


def _stop(engine: Engine, container: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        engine.client.containers.get(container).stop(timeout=10)


def _remove(engine: Engine, container: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        engine.client.containers.get(container).remove(force=True)


def _state(engine: Engine, container: str, network: str) -> tuple[int | None, str]:
    """The container's exit code (None while it runs) and its address on ``network``."""
    found = engine.container(container)
    exited = engine.exited(found)
    return (exited.code if exited else None), _ip(found.attrs, network)


def _address(engine: Engine, container: str, network: str) -> str:
    return _ip(engine.container(container).attrs, network)


def _ip(attrs: Mapping[str, Any], network: str) -> str:
    networks = attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    return str((networks.get(network) or {}).get("IPAddress", ""))


async def _get(connect: Connect, address: str, port: int, path: str) -> tuple[str, str]:
    """GET ``path`` from ``address:port`` through ``connect``: (status code or why there is
    none, the response head)."""
    try:
        reader, writer = await asyncio.wait_for(connect(address, port), 3)
    except Exception as exc:  # OSError, a timeout, or an asyncssh channel error
        return f"cannot connect: {exc}".splitlines()[0], ""
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 16384:  # the whole head
            chunk = await asyncio.wait_for(reader.read(4096), 3)
            if not chunk:
                break
            data += chunk if isinstance(chunk, bytes) else str(chunk).encode("latin-1")
        head = data.decode("latin-1")
        parts = head.split("\r\n", 1)[0].split()
        return (parts[1] if len(parts) >= 2 else "no HTTP answer"), head
    except (TimeoutError, OSError):
        return "no HTTP answer", ""
    finally:
        writer.close()


async def _http_status(connect: Connect, address: str, port: int, path: str) -> str:
    return (await _get(connect, address, port, path))[0]


async def _header(connect: Connect, address: str, port: int, path: str, name: str) -> str:
    """The value of header ``name`` in the answer to GET ``path`` ("" when there is none)."""
    _status, head = await _get(connect, address, port, path)
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


async def plan(project: Project, env_name: str, names: Sequence[str],
               open_sites: SiteOpener) -> list[str]:
    """The phases and steps a deploy would run; reads the hosts, changes nothing."""
    from ..plan import deploy_plan, format_plan

    env = project.environment(env_name)
    endpoints = select(project, names)
    inputs = await asyncio.to_thread(_inputs, project, env, endpoints, DeployOptions())
    versions = {name: item.context.version for name, item in inputs.items()}
    cached: dict[tuple[str, str], bool] = {}
    current: dict[tuple[str, str], str | None] = {}
    async with open_sites(project, env) as sites:
        for site in sites:
            for name, item in inputs.items():
                image = f"wb-{project.name}-{name}:{item.context.version}"
                cached[(name, site.name)] = await blocking(
                    lambda s=site, i=image: s.engine.image_exists(i))
                record = releases.current(await releases.history(site.store, name), site.name)
                same_config = record is not None and record.config_hash == item.config_hash
                current[(name, site.name)] = record.version if record and same_config else (
                    f"{record.version} (other config)" if record else None)
        hosts = [site.name for site in sites]
    return format_plan(deploy_plan(env.name, hosts, endpoints, versions, cached, current))


async def lock_action(project: Project, env_name: str, action: str,
                      open_sites: SiteOpener) -> str:
    """``status``: who holds the environment's lock; ``release``: remove it."""
    from ..lock import force_release, status

    env = project.environment(env_name)
    async with open_sites(project, env) as sites:
        store = sites[0].store
        if action == "status":
            held = await status(store)
            if held is None:
                return f"environment '{env.name}' is not locked"
            stale = held.stale()
            return (f"environment '{env.name}' is locked by {held.describe()}"
                    + (f"; stale ({stale}): the next deploy takes it over" if stale else ""))
        held = await force_release(store)
        if held is None:
            return f"environment '{env.name}' was not locked"
        return f"released the lock of environment '{env.name}' held by {held.describe()}"
