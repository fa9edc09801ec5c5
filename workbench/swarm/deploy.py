"""Deploy endpoints to a Swarm environment (``engine: swarm``; docs/swarm.md).

The first host is a manager; the others are nodes reached over SSH (images are streamed to
them). Under the environment's lock (the same as single-host deploys), per endpoint::

    build    on the manager, only when the version's image is missing
    image    to every node that lacks that id (or pushed to ``registry:``); pinned by id
    secrets  one content-named Swarm secret per endpoint (created only when new)
    service  created, or updated to the new spec (start-first, rollback on failure)
    rollout  waited for with a deadline, task by task; a rollback by Swarm is a FAILED release
    switch   the proxy's routes, only when they change (names are resolved per request)
    record   a release record on the first host (engine swarm, replicas, pinned image)
    secrets  the endpoint's secrets no service uses any more are removed

Endpoints go in phases (produces/consumes), those of a phase at once. The network and the
proxy are made ready beside the builds. An endpoint whose spec is unchanged is left alone.
"""

from __future__ import annotations

import asyncio
import getpass
import re
import time
from collections.abc import Sequence
from typing import Any

from .. import envkey, naming, releases
from ..engine import LABEL, Stream, blocking
from ..errors import OperationFailed
from ..events import Emit, LogLines, Result, Steps, Warning
from ..lock import EnvLock
from ..logstream import LogHub
from ..model import Endpoint, Environment, Project
from ..ops.inputs import ReleaseInput, deployed_config, gather, keyed
from ..ops.report import DeployOptions, DeployReport, Outcome
from ..ops.routing import as_deployed
from ..ops.runparts import finish, fix, packing_error_first, problem
from ..plan import phases
from ..redact import MIN_LENGTH, Redactor, short_ones
from ..releases import Release
from ..site import Site, SiteOpener
from . import converge, images, services
from . import secrets as swarm_secrets
from .cluster import Cluster, read_cluster
from .network import ensure_network
from .proxy import SwarmProxy
from .services import explain
from .spec import (
    SPEC_HASH,
    TASK_HASH,
    Health,
    Image,
    check_data_policy,
    health_test,
    rollout_deadline,
    rollouts,
    service_name,
    service_spec,
    to_api,
)


class RolloutFailed(OperationFailed):
    """Swarm did not converge on the new spec (rolled back, paused, failed or too slow)."""

    def __init__(self, problem: str, last_lines: Sequence[str]) -> None:
        super().__init__(problem, "see the task errors in the release record")
        self.last_lines = tuple(last_lines)


def precheck(project: Project, env: Environment, endpoints: Sequence[Endpoint]) -> None:
    """What can be refused before any host is touched: names Swarm takes, the data policy,
    update settings against the health check."""
    for endpoint in endpoints:
        service_name(project.name, env.name, endpoint.name)
        check_data_policy(endpoint)
        health = Health(health_test(endpoint.port, endpoint.health))
        rollouts(endpoint, health, endpoint.path / "endpoint.yaml")


async def deploy(project: Project, env: Environment, endpoints: Sequence[Endpoint], emit: Emit,
                 options: DeployOptions, open_sites: SiteOpener) -> DeployReport:
    """Deploy ``endpoints`` to the Swarm environment ``env`` (rails already checked)."""
    precheck(project, env, endpoints)
    order = phases(endpoints)
    packing = asyncio.ensure_future(asyncio.to_thread(gather, project, env, endpoints,
                                                      options.build_args))
    outcomes: list[Outcome] = []
    try:
        async with open_sites(project, env) as sites:
            cluster = await read_cluster(sites, project.name, env, endpoints)
            inputs = await packing
            names = " ".join(e.name for e in endpoints)
            async with EnvLock(sites[0].store, env.name, f"deploy {names}",
                               wait=options.lock_wait, warn=lambda m: emit(Warning(m))) as lock, \
                    LogHub(emit) as hub:
                run = SwarmRun(project, env, emit, options, cluster, hub, lock)
                await run.start()
                try:
                    keyed_inputs = {n: keyed(item, run.key) for n, item in inputs.items()}
                    for n, item in keyed_inputs.items():
                        for secret in short_ones(item.secrets):
                            emit(Warning(f"secret {secret} of {n} is shorter than "
                                         f"{MIN_LENGTH} characters: it is not masked in logs"))
                    failed = False
                    for phase in order:
                        if failed:
                            outcomes += [Outcome(n, False, keyed_inputs[n].context.version,
                                                 False, "not started: an earlier phase failed")
                                         for n in phase]
                            continue
                        results = await asyncio.gather(*(run.endpoint(keyed_inputs[n])
                                                         for n in phase))
                        outcomes += results
                        failed = not all(o.ok for o in results)
                    await run.settle()
                finally:
                    await run.close()
    except Exception:
        await packing_error_first(packing)
        raise
    report = DeployReport(env.name, tuple(outcomes))
    emit(Result(report.ok, report.summary(), {"env": env.name, "engine": "swarm",
                                              "endpoints": [o.as_dict() for o in outcomes]}))
    return report


class SwarmRun:
    """One deploy to a Swarm: its manager, nodes, network, proxy and log streams."""

    def __init__(self, project: Project, env: Environment, emit: Emit, options: DeployOptions,
                 cluster: Cluster, hub: LogHub, lock: EnvLock) -> None:
        self.project, self.env, self.emit, self.options = project, env, emit, options
        self.cluster, self.hub, self.lock = cluster, hub, lock
        self.manager = cluster.manager
        self.key = b""
        self.network = ""
        self.proxy: SwarmProxy | None = None
        self.ready: asyncio.Future[None] | None = None
        self.active: dict[str, Endpoint] = {}
        """endpoint -> as deployed: what the proxy routes to."""

    async def start(self) -> None:
        """The key, the current releases (what the proxy routes to), then the network and the
        proxy in the background, beside the builds."""
        self.key = await envkey.env_key(self.manager.store)
        found = await asyncio.gather(*(releases.history(self.manager.store, e.name)
                                       for e in self.project.endpoints))
        for endpoint, records in zip(self.project.endpoints, found, strict=True):
            current = releases.current([r for r in records if r.engine == "swarm"],
                                       self.manager.name)
            if current is not None:
                self.active[endpoint.name] = as_deployed(endpoint, current)
        self.ready = asyncio.ensure_future(self._ready())

    async def _ready(self) -> None:
        engine = self.manager.engine
        network_id, self.network = await blocking(lambda: ensure_network(
            engine, self.project.name, self.env.name))
        self.proxy = SwarmProxy(self.project, self.env, self.manager, self.network, network_id)
        await self.proxy.ensure(self.cluster.pin)
        if self.active and await self.proxy.switch(self.active):
            self.emit(Warning(f"the proxy on {self.manager.name} did not route to the current "
                              "releases; restored its config"))

    async def proxy_ready(self) -> SwarmProxy:
        assert self.ready is not None
        await asyncio.shield(self.ready)
        assert self.proxy is not None
        return self.proxy

    async def settle(self) -> None:
        """Raise why the proxy could not be made ready, if it could not."""
        await self.proxy_ready()

    async def close(self) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.cancel()
            await asyncio.gather(self.ready, return_exceptions=True)

    # -- one endpoint -----------------------------------------------------------------------
    async def endpoint(self, item: ReleaseInput) -> Outcome:
        name, version = item.endpoint.name, item.context.version
        steps = Steps(self.emit)
        started = time.perf_counter()
        made: list[str] = []  # the id of a service this run created (removed if it fails)
        state: dict[str, Any] = {}
        try:
            changed = await self._deploy(item, steps, started, made, state)
        except BaseException as exc:
            if made:  # a new service that did not converge: nothing served it before
                await finish(blocking(lambda: services.remove(self.manager.engine, made[0])))
            reason = problem(exc) if isinstance(exc, Exception) else (
                "interrupted while Swarm was updating; it goes on with the update"
                if state.get("updating") else "interrupted")
            lines = Redactor(item.secrets)(getattr(exc, "last_lines", ()))
            await asyncio.gather(releases.append(self.manager.store, self._release(
                item, "failed", steps, started, state, reason, lines)), return_exceptions=True)
            if not isinstance(exc, Exception):
                raise
            return Outcome(name, False, version, True, reason, fix=fix(exc))
        if not changed:
            return Outcome(name, True, version, False)
        return Outcome(name, True, version, True)

    async def _deploy(self, item: ReleaseInput, steps: Steps, started: float,
                      made: list[str], state: dict[str, Any]) -> bool:
        endpoint, engine = item.endpoint, self.manager.engine
        name, version = endpoint.name, item.context.version
        tag = naming.image(self.project.name, name, version)
        with steps.step(f"{name}/build", f"{name}: build on {self.manager.name}"):
            await self._build(item, tag)
        with steps.step(f"{name}/image", f"{name}: the image on every node"):
            image = await self._image(item, tag)
        state["image_ref"] = image.ref
        refs = []
        if item.secrets:
            with steps.step(f"{name}/secrets", f"{name}: secrets"):
                refs = await swarm_secrets.ensure_secrets(
                    engine, self.project.name, self.env.name, name, item.secrets, self.key)
        proxy = await self.proxy_ready()
        spec = service_spec(self.project.name, self.env, endpoint, image, version=version,
                            network=proxy.network, variables=item.env, secrets=refs,
                            git_sha=item.git_sha, config_hash=item.config_hash,
                            dirty=item.dirty, pin=self.cluster.pin,
                            health_timeout=self.options.health_timeout)
        body = to_api(spec, proxy.network_id)
        current = await blocking(lambda: services.find(
            engine, spec.name, services.identity(self.project.name, self.env.name, "app",
                                                 name)))
        if current is not None and current.spec_hash == body["Labels"][SPEC_HASH] \
                and current.state not in ("updating", "rollback_started"):
            self.emit(LogLines(f"{name}/deploy", (f"{name} is already at {version} with the "
                                                  "same spec",)))
            await self._route(endpoint)
            return False
        if current is not None and current.replicas != spec.replicas:  # a scale: the repo wins
            self.emit(Warning(f"{name} runs {current.replicas} replica(s); endpoint.yaml says "
                              f"{spec.replicas}: this deploy applies {spec.replicas}"))
        data = self.cluster.data_site(endpoint)
        if data is not None and current is None:  # Swarm would mount a volume by its name
            volume = naming.volume(self.project.name, self.env.name, name)
            await blocking(lambda: services.check_volume(data.engine, volume, naming.labels(
                self.project.name, self.env.name, "data", name)))
        await self.lock.verify()  # one read of the lock before the change
        ours = body["TaskTemplate"]["ContainerSpec"]["Labels"][TASK_HASH]
        rolling = current is not None and ours != (((current.spec.get("TaskTemplate") or {})
                                                    .get("ContainerSpec") or {})
                                                   .get("Labels") or {}).get(TASK_HASH)
        with steps.step(f"{name}/service", f"{name}: {'update' if current else 'create'} "
                        f"service {spec.name}"):
            service_id = await blocking(lambda: services.put(engine, body, current))
            if current is None:
                made.append(service_id)
            state["updating"] = True
        with steps.step(f"{name}/rollout", f"{name}: {spec.replicas} task(s) converge"):
            verdict, tasks = await converge.wait(
                engine, service_id, spec.name, ours=ours, created=current is None,
                rolling=rolling,
                before=str((current.update_status or {}).get("StartedAt", "")) if current
                else "", replicas=spec.replicas, deadline=rollout_deadline(spec),
                emit=self.emit, source=f"{name}/tasks", step=f"{name}/rollout")
            if not verdict.ok:
                lines = await converge.task_errors(tasks, spec.name, self._details(item))
                raise RolloutFailed(converge.summary(verdict, lines), lines)
        made.clear()
        state["updating"] = False
        self.lock.ensure()
        with steps.step(f"{name}/switch", f"{name}: the proxy's routes"):
            await self._route(endpoint)
        with steps.step(f"{name}/record", f"{name}: record the release"):
            await releases.append(self.manager.store, self._release(
                item, "ok", steps, started, state))
        if item.secrets or current is not None:
            removed = await swarm_secrets.remove_unused(
                engine, self.project.name, self.env.name, name, [r.name for r in refs])
            if removed:
                self.emit(Warning(f"{name}: removed {len(removed)} secret(s) no service uses"))
        return True

    async def _route(self, endpoint: Endpoint) -> None:
        """The proxy routes to ``endpoint`` as deployed now (a reload only if that changes)."""
        self.active[endpoint.name] = endpoint
        proxy = await self.proxy_ready()
        await proxy.switch(dict(self.active))

    async def _build(self, item: ReleaseInput, tag: str) -> None:
        engine = self.manager.engine
        pump = self.hub.pump(f"{item.endpoint.name}/build")
        if await blocking(lambda: engine.image_exists(tag)):
            pump.feed([f"{self.manager.name}: image {tag} exists: not rebuilt"])
            return
        pump.feed([f"{self.manager.name}: building {tag}"])
        labels = {**naming.labels(self.project.name, self.env.name, "image", item.endpoint.name),
                  f"{LABEL}version": item.context.version}
        labels.pop(f"{LABEL}role")
        stream = Stream()
        await blocking(lambda: engine.build(item.context.data, tag, item.context.build_args,
                                            labels, pump.feed, stream), stream, own_thread=True)

    async def _image(self, item: ReleaseInput, tag: str) -> Image:
        """The image on every node (streamed) or in the registry (pushed), pinned."""
        if self.env.registry:
            ref = await images.push(self.manager, tag, self.env.registry, self.emit)
        else:
            nodes = [site for site in self.cluster.sites.values() if site is not self.manager]
            ref = await images.distribute(self.manager, nodes, tag, self.emit)
        config = await blocking(lambda: _image_config(self.manager, tag))
        return Image(ref, tag, tuple(config.get("Entrypoint") or ()),
                     tuple(config.get("Cmd") or ()))

    def _details(self, item: ReleaseInput) -> Any:
        """What a failed task's node says about it: its last health check, its last lines."""
        mask = Redactor(item.secrets)

        async def details(task: converge.TaskView) -> list[str]:
            site = self.cluster.sites.get(task.node_id)
            if site is None or not task.container:
                return []
            return mask(await blocking(lambda: _container_details(site, task.container)))

        return details

    def _release(self, item: ReleaseInput, outcome: str, steps: Steps, started: float,
                 state: dict[str, Any], reason: str = "",
                 last_lines: Sequence[str] = ()) -> Release:
        endpoint = item.endpoint
        durations = {e.step.split("/")[1]: round(e.duration, 3) for e in steps.finished}
        durations["total"] = round(time.perf_counter() - started, 3)
        config = {**deployed_config(endpoint), "replicas": endpoint.replicas,
                  "placement": list(endpoint.placement), "volume_driver": endpoint.volume_driver,
                  "update": {"parallelism": endpoint.update.parallelism,
                             "delay": endpoint.update.delay, "monitor": endpoint.update.monitor}}
        return Release(endpoint=endpoint.name, version=item.context.version,
                       host=self.manager.name, outcome=outcome, kind=item.kind,
                       container=naming.service(self.project.name, self.env.name, endpoint.name),
                       image=naming.image(self.project.name, endpoint.name,
                                          item.context.version),
                       git_sha=item.git_sha, dirty=item.dirty, config_hash=item.config_hash,
                       secrets_generation=item.secrets_generation,
                       variables=dict(sorted(item.env.items())),
                       secret_names=tuple(sorted(item.secrets)), endpoint_config=config,
                       user=getpass.getuser(), time=releases.now(), durations=durations,
                       reason=reason, last_lines=tuple(last_lines)[-40:], engine="swarm",
                       replicas=endpoint.replicas, image_ref=str(state.get("image_ref", "")))


def _image_config(site: Site, tag: str) -> dict[str, Any]:
    """The image's ``Config`` on the manager (its entrypoint and command; blocks)."""
    import docker.errors

    try:
        return dict(site.engine.api.inspect_image(tag).get("Config") or {})
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot inspect image {tag} on {site.name}: {explain(exc)}",
                              "check the Docker Engine there") from None


_STATUS = re.compile(r"answered [1-5][0-9][0-9]\b")
"""A health check's output that names the HTTP status it got (``HEALTH_SCRIPT``, ``PROBE_PY``)."""


def _container_details(site: Site, container: str) -> list[str]:
    """The last health check's output and the last log lines of a task's container (blocks)."""
    import docker.errors

    try:
        found = site.engine.api.inspect_container(container)
    except docker.errors.NotFound:
        return [f"(its container is gone from {site.name})"]
    log = ((found.get("State") or {}).get("Health") or {}).get("Log") or []
    said = [e for e in log if str(e.get("Output", "")).strip()]  # not one killed by the stop
    failing = [e for e in said if e.get("ExitCode") not in (0, None)]
    # one that got an HTTP status says more than one refused while the task was being stopped
    answered = [e for e in failing if _STATUS.search(str(e.get("Output", "")))]
    lines = []
    if log:
        last = (answered or failing or said or log)[-1]
        output = " ".join(str(last.get("Output", "")).split())[:300]
        lines.append(f"last health check (exit {last.get('ExitCode')}): {output}")
    tail = site.engine.tail(container, 10)
    if tail:
        lines += ["last lines:", *tail]
    return lines
