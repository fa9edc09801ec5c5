"""Deploy endpoints to an environment (:func:`deploy`), and the run of one deploy or rollback
(:class:`DeployRun`).

Per endpoint and host (docs/architecture.md, "A deploy")::

    build   on the host's engine, only when the version's image is missing
    start   the new container beside the old one (env network, /data volume, env + secrets)
    health  GET <health> on the container through the tunnel
    switch  proxy config rewritten, `nginx -t`, graceful reload        (all hosts, or none)
    drain   the old container finishes its requests, stops, is kept (newest keep_releases)
    record  a release line in releases/<endpoint>.jsonl on the host
    prune   images of versions no longer kept, old stopped containers (ops/prune.py; warns)

Endpoints go in phases (produces/consumes); the endpoints of a phase and the hosts run in
parallel. An endpoint switches only when it is healthy on every host; if a switch fails on one
host, the hosts already switched are switched back. Before the switch, a failure removes the new
container: the proxy never pointed at it, so the old version keeps serving.

Where the time goes, and what overlaps: build contexts are packed while the hosts are
connected; each host's network and proxy are made ready while the images build (a container
starts only once they are); builds run on threads of their own; switches that come while a
proxy reload is in flight share the next reload (:class:`~workbench.switchboard.Switchboard`).
"""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Awaitable, Mapping, Sequence
from secrets import token_hex
from typing import Any

from .. import envkey, naming, releases
from ..engine import LABEL, Stream, blocking, follow
from ..errors import OperationFailed
from ..events import Emit, LogLines, Result, Steps, Warning
from ..health import wait_healthy
from ..lock import EnvLock
from ..logstream import LogHub
from ..model import Endpoint, Environment, Project
from ..plan import phases
from ..probe import status as http_status
from ..redact import MIN_LENGTH, Redactor, short_ones
from ..releases import Release
from ..site import Site, SiteOpener
from ..switchboard import retrieved
from ..volumes import data_volume
from .inputs import ReleaseInput, deployed_config, gather, keyed
from .prune import after_deploy as prune_after_deploy
from .rails import require_confirm, require_single_host
from .report import DeployOptions, DeployReport, Outcome
from .routing import NotReady, Routing
from .runparts import OnHost, finish, fix, packing_error_first, problem
from .selection import select

__all__ = ["DeployOptions", "DeployReport", "DeployRun", "Outcome", "deploy"]

# -- entry points -----------------------------------------------------------------------------
async def deploy(project: Project, env_name: str, names: Sequence[str], emit: Emit,
                 options: DeployOptions, open_sites: SiteOpener) -> DeployReport:
    env = project.environment(env_name)
    require_confirm(env, "deploy", options.confirm)
    endpoints = select(project, names, "deploy")
    if env.engine == "swarm":
        from ..swarm.deploy import deploy as to_swarm

        return await to_swarm(project, env, endpoints, emit, options, open_sites)
    require_single_host(env, endpoints, "deploy")
    order = phases(endpoints)
    # Build contexts are packed while the hosts are connected (they do not touch them).
    packing = asyncio.ensure_future(asyncio.to_thread(gather, project, env, endpoints,
                                                      options.build_args))
    packing.add_done_callback(retrieved)
    outcomes: list[Outcome] = []
    try:
        async with open_sites(project, env) as sites:
            inputs = await packing
            async with EnvLock(sites[0].store, env.name, f"deploy {' '.join(names) or 'all'}",
                               wait=options.lock_wait, warn=lambda m: emit(Warning(m))) as lock, \
                    LogHub(emit) as hub:
                run = DeployRun(project, env, emit, options, sites, hub, lock)
                try:
                    await run.routing.prepare(project.endpoints)
                    inputs = {n: await run.keyed(item) for n, item in inputs.items()}
                    for n, item in inputs.items():
                        for secret in short_ones(item.secrets):
                            emit(Warning(f"secret {secret} of {n} is shorter than {MIN_LENGTH} "
                                         "characters: it is not masked in logs"))
                    failed = False
                    for phase in order:
                        if failed:
                            outcomes += [Outcome(n, False, inputs[n].context.version, False,
                                                 "not started: an earlier phase failed")
                                         for n in phase]
                            continue
                        results = await asyncio.gather(*(run.endpoint(inputs[n])
                                                         for n in phase))
                        outcomes += results
                        failed = not all(o.ok for o in results)
                    await run.routing.settle()
                finally:
                    await run.close()
    except Exception:
        await packing_error_first(packing)
        raise
    report = DeployReport(env.name, tuple(outcomes))
    emit(Result(report.ok, report.summary(), {"env": env.name,
                                              "endpoints": [o.as_dict() for o in outcomes]}))
    return report


# -- the run ----------------------------------------------------------------------------------
class DeployRun:
    """One deploy or rollback in an environment: its hosts, proxies and log streams."""

    def __init__(self, project: Project, env: Environment, emit: Emit, options: DeployOptions,
                 sites: list[Site], hub: LogHub, lock: EnvLock | None = None) -> None:
        self.project, self.env, self.emit, self.options = project, env, emit, options
        self.sites, self.hub = sites, hub
        self.lock = lock
        """The environment's lock: checked before every change (:meth:`EnvLock.ensure`)."""
        self.labels = {f"{LABEL}project": project.name, f"{LABEL}env": env.name}
        self.log_streams: dict[str, Stream] = {}
        """Streams of the new containers' logs, by container name."""
        self.log_tasks: list[asyncio.Future[None]] = []
        self.key: bytes | None = None
        """The environment's key for secrets (:mod:`workbench.envkey`), read once."""
        self.routing = Routing(project, env, sites, emit, options.drain)

    async def close(self) -> None:
        """Stop following logs and the proxies' work (all done unless interrupted)."""
        for stream in self.log_streams.values():
            stream.close()
        await self.routing.close()
        await asyncio.gather(*self.log_tasks, return_exceptions=True)

    async def keyed(self, item: ReleaseInput) -> ReleaseInput:
        """``item`` with its config hash and secrets generation under the environment's key
        (kept on its first host; made there by the first deploy)."""
        if self.key is None:
            self.key = await envkey.env_key(self.sites[0].store)
        return keyed(item, self.key)

    async def endpoint(self, item: ReleaseInput) -> Outcome:
        """Deploy ``item`` on every host: build, start, health, switch, drain, record."""
        try:
            return await self._endpoint(item)
        finally:
            self.routing.drop(item.endpoint.name)

    async def _endpoint(self, item: ReleaseInput) -> Outcome:
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
            await self._up_everywhere(item, steps, fresh)
        except BaseException as exc:  # before the switch: the proxy never saw the new one
            await self._discard(fresh)
            if isinstance(exc, NotReady) or isinstance(getattr(exc, "cause", None), NotReady):
                # the run fails with the proxy's own error (settle); this endpoint never began
                return Outcome(name, False, version, True, "the proxy could not be made ready")
            reason = self._reason(exc)
            if len(self.sites) > 1:
                reason += "; no host was switched"
            await self._record_failure(item, steps, exc, started, reason)
            if not isinstance(exc, Exception):
                raise
            return Outcome(name, False, version, True, reason, fix=fix(exc))
        try:  # one read of the lock before the switch: a taken lock stops it here
            if self.lock is not None:
                await self.lock.verify()
        except BaseException:
            await self._discard(fresh)
            raise
        switched: list[Site] = []
        # The old containers, listed while the proxy switches (we hold the lock: only this run
        # changes them); the drain needs the list.
        listing = {site.name: asyncio.ensure_future(blocking(
            lambda s=site: self._others(s, item.endpoint, fresh[s.name]))) for site in self.sites}
        try:
            with steps.step(f"{name}/switch", f"{name}: switch the proxy"):
                for site in self.sites:
                    try:
                        await self.routing.switch(site, item.endpoint, fresh[site.name])
                    except Exception as exc:
                        raise OnHost(site.name, exc) from exc
                    switched.append(site)
        except Exception as exc:
            await asyncio.gather(*listing.values(), return_exceptions=True)
            reverted = await self.routing.revert(switched, item.endpoint)
            await self._discard(fresh)
            reason = self._reason(exc)
            await self._record_failure(item, steps, exc, started, reason)
            return Outcome(name, False, version, True, reason, reverted, fix=fix(exc))
        except BaseException:
            await asyncio.gather(*listing.values(), return_exceptions=True)
            raise
        self._ensure_lock()  # it serves now; without the lock the old ones are left running
        with steps.step(f"{name}/drain", f"{name}: drain and stop the old container"):
            await asyncio.gather(*(self._drain(site, item.endpoint, fresh[site.name],
                                               listing[site.name]) for site in self.sites))
        with steps.step(f"{name}/record", f"{name}: record the release"):
            records = {site.name: self._release(item, site, "ok", steps, started,
                                                container=fresh[site.name])
                       for site in self.sites}
            await asyncio.gather(*(releases.append(site.store, records[site.name])
                                   for site in self.sites))
            for site in self.sites:
                site.current[name] = records[site.name]
        await prune_after_deploy(self.project, self.env, self.sites, name, self.emit)
        return Outcome(name, True, version, True)

    async def _changed(self, item: ReleaseInput) -> bool:
        if item.kind == "rollback":
            return True
        for site in self.sites:
            current = site.current.get(item.endpoint.name)
            if (current is None or current.version != item.context.version
                    or current.config_hash != item.config_hash
                    or not await blocking(lambda c=current, s=site: s.engine.running(
                        c.container))):
                return True
        return False

    async def _up_everywhere(self, item: ReleaseInput, steps: Steps, fresh: dict[str, str]) -> None:
        """Build, start and health-check on every host at once. The first failure cancels the
        other hosts' work and is raised as :class:`OnHost`; a cancel waits for all of it."""
        tasks = {asyncio.ensure_future(self._up(site, item, steps, fresh)): site
                 for site in self.sites}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task, site in tasks.items():
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                if not isinstance(exc, Exception):
                    raise exc  # type: ignore[misc]
                raise OnHost(site.name, exc) from exc

    def _ensure_lock(self) -> None:
        """Raise :class:`~workbench.errors.LockLost` when the run no longer holds the lock:
        it stops before its next change."""
        if self.lock is not None:
            self.lock.ensure()

    def _source(self, endpoint: Endpoint, what: str, site: Site) -> str:
        """A log source: ``<endpoint>/<what>``, with ``@<host>`` when there are several."""
        return f"{endpoint.name}/{what}" + (f"@{site.name}" if len(self.sites) > 1 else "")

    def _reason(self, exc: BaseException) -> str:
        """Why it failed; with several hosts, on which one."""
        if isinstance(exc, OnHost):
            return (f"on {exc.host}: {problem(exc.cause)}" if len(self.sites) > 1
                    else problem(exc.cause))
        return problem(exc)

    async def _up(self, site: Site, item: ReleaseInput, steps: Steps,
                  fresh: dict[str, str]) -> None:
        name = item.endpoint.name
        where = f" on {site.name}" if len(self.sites) > 1 else ""
        image = item.image or naming.image(self.project.name, name, item.context.version)
        with steps.step(f"{name}/build{where}", f"{name}: build{where}"):
            await self.routing.when_ready(site, self._build(site, item, image))
        await self.routing.proxy_ready(site)
        board = self.routing.board(site)
        board.expect(name)  # until it switches here (or fails): a reload may wait for it
        try:
            with steps.step(f"{name}/start{where}", f"{name}: start the new container{where}"):
                await self._start(site, item, image, fresh)
            with steps.step(f"{name}/health{where}", f"{name}: health check{where}"):
                await self._health(site, item, fresh[site.name])
        except BaseException:
            board.drop(name)
            raise

    async def _build(self, site: Site, item: ReleaseInput, image: str) -> None:
        pump = self.hub.pump(self._source(item.endpoint, "build", site))
        if await blocking(lambda: site.engine.image_exists(image)):
            pump.feed([f"{site.name}: image {image} exists: not rebuilt"])
            return
        if not item.context.data:  # a rollback: the image is all there is
            raise OperationFailed(f"image {image} is no longer on {site.name}",
                                  f"deploy version {item.context.version} again from its "
                                  f"commit ({item.git_sha or 'see releases'})")
        pump.feed([f"{site.name}: building {image}"])
        labels = {**self.labels, f"{LABEL}endpoint": item.endpoint.name,
                  f"{LABEL}version": item.context.version}
        stream = Stream()
        await blocking(lambda: site.engine.build(item.context.data, image,
                                                 item.context.build_args, labels, pump.feed,
                                                 stream), stream, own_thread=True)

    async def _start(self, site: Site, item: ReleaseInput, image: str,
                     fresh: dict[str, str]) -> None:
        """Start the new container and put its name in ``fresh`` (before it exists: a cancel
        waits for the start to finish, so nothing unnamed is left behind)."""
        endpoint, project, env = item.endpoint, self.project.name, self.env.name
        client = site.engine.client
        self._ensure_lock()
        token = token_hex(2)
        container = naming.container(project, env, endpoint.name, item.context.version, token)
        alias = naming.alias(endpoint.name, item.context.version, token)
        labels = {**self.labels, f"{LABEL}endpoint": endpoint.name, f"{LABEL}role": "app",
                  f"{LABEL}version": item.context.version, f"{LABEL}git-sha": item.git_sha,
                  f"{LABEL}config-hash": item.config_hash,
                  f"{LABEL}dirty": "true" if item.dirty else "false",
                  f"{LABEL}secrets": ",".join(sorted(item.secrets)),
                  f"{LABEL}health": endpoint.health}

        def start() -> None:
            volumes = {}
            if endpoint.data:
                volume = data_volume(site.engine, project, env, endpoint.name)
                volumes = {volume: {"bind": "/data", "mode": "rw"}}
            client.containers.run(
                image, detach=True, name=container, labels=labels, network=site.network,
                networking_config={site.network: client.api.create_endpoint_config(
                    aliases=[alias])},
                volumes=volumes, environment={**item.env, **item.secrets},
                restart_policy={"Name": "unless-stopped"})

        if item.secrets:
            lines = "".join(f"{k}={v}\n" for k, v in sorted(item.secrets.items()))
            await site.store.write(f"secrets/{endpoint.name}.env", lines.encode(), mode=0o600)
        fresh[site.name] = container
        await finish(blocking(start))
        log_stream = self.log_streams[container] = Stream()
        pump = self.hub.pump(self._source(endpoint, "app", site))
        feed = Redactor(item.secrets).feed(pump.feed)  # an app may print its environment
        self.log_tasks.append(follow(lambda: site.engine.follow_logs(
            container, feed, log_stream), log_stream))

    async def _health(self, site: Site, item: ReleaseInput, container: str) -> None:
        endpoint, address, mask = item.endpoint, "", Redactor(item.secrets)

        async def exited() -> int | None:
            nonlocal address
            code, address = await blocking(lambda: site.engine.state(container, site.network))
            return code

        async def status() -> str:
            if not address:
                return "no address on the network yet"
            return await http_status(site.connect, address, endpoint.port, endpoint.health)

        await wait_healthy(endpoint.health, self.options.health_timeout or endpoint.health_timeout,
                           exited=exited, status=status, what="the new container",
                           tail=lambda: blocking(lambda: mask(site.engine.tail(container))),
                           interval=0.25)

    def _others(self, site: Site, endpoint: Endpoint, container: str) -> list[dict[str, Any]]:
        """The endpoint's containers on ``site`` other than ``container``, newest first (one
        list call, no inspects; blocks)."""
        filters = {"label": [f"{LABEL}project={self.project.name}", f"{LABEL}env={self.env.name}",
                             f"{LABEL}endpoint={endpoint.name}", f"{LABEL}role=app"]}
        found = site.engine.api.containers(all=True, filters=filters)
        return sorted((c for c in found if f"/{container}" not in (c.get("Names") or ())),
                      key=lambda c: int(c.get("Created") or 0), reverse=True)

    async def _drain(self, site: Site, endpoint: Endpoint, container: str,
                     listing: Awaitable[list[dict[str, Any]]]) -> None:
        """Let the old containers (``listing``) finish their requests, stop them, keep the
        newest ``keep_releases`` of them and remove the rest."""
        api = site.engine.api
        old_ones = await listing
        if any(c.get("State") == "running" for c in old_ones):
            await self.routing.old_workers_gone(site)
        elif len(old_ones) <= self.env.keep_releases:
            return  # nothing runs, nothing to remove

        def stop_old() -> None:
            old_ones = self._others(site, endpoint, container)
            for old in old_ones:
                if old.get("State") == "running":
                    api.stop(old["Id"], timeout=10)
            for old in old_ones[self.env.keep_releases:]:
                api.remove_container(old["Id"], force=True)

        await blocking(stop_old)

    async def _discard(self, fresh: Mapping[str, str]) -> None:
        """Remove new containers the proxy does not route to."""
        for site in self.sites:
            container = fresh.get(site.name)
            if not container or container in {c for c, _ in site.active.values()}:
                continue
            if container in self.log_streams:
                self.log_streams[container].close()
            await blocking(lambda c=container, s=site: s.engine.remove(c))

    def _release(self, item: ReleaseInput, site: Site, outcome: str, steps: Steps,
                 started: float, container: str = "", reason: str = "",
                 last_lines: Sequence[str] = ()) -> Release:
        durations = {e.step.split("/")[1].split(" ")[0]: round(e.duration, 3)
                     for e in steps.finished}
        durations["total"] = round(time.perf_counter() - started, 3)
        return Release(endpoint=item.endpoint.name, version=item.context.version,
                       host=site.name, outcome=outcome, kind=item.kind, container=container,
                       image=item.image or naming.image(self.project.name, item.endpoint.name,
                                                        item.context.version),
                       git_sha=item.git_sha, dirty=item.dirty,
                       config_hash=item.config_hash,
                       secrets_generation=item.secrets_generation,
                       variables=dict(sorted(item.env.items())),
                       secret_names=tuple(sorted(item.secrets)),
                       endpoint_config=deployed_config(item.endpoint), user=getpass.getuser(),
                       time=releases.now(), durations=durations, reason=reason,
                       last_lines=tuple(last_lines)[-20:])

    async def _record_failure(self, item: ReleaseInput, steps: Steps, exc: BaseException,
                              started: float, reason: str) -> None:
        cause = exc.cause if isinstance(exc, OnHost) else exc
        lines = Redactor(item.secrets)(getattr(cause, "last_lines", ()))
        await asyncio.gather(*(releases.append(site.store, self._release(
            item, site, "failed", steps, started, reason=reason, last_lines=lines))
            for site in self.sites), return_exceptions=True)
