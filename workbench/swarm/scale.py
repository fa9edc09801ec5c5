"""Scale a Swarm endpoint: its running service with another replica count, nothing else
changed (docs/swarm.md, "Rollback and scale").

Under the environment's lock: the current release (what runs) and the service (found by its
labels); the data policy checked against what runs (``replicas > 1`` with a local data volume
is refused); the image sent to nodes that lack it (a new task may land on any node); the
service updated with the new count (its task template untouched, so no task restarts); the
tasks waited for, each change shown; a release recorded (``kind: scale``). A new task that
fails makes the scale a failure at once: the count is set back and the release is recorded
failed with the task errors.

A later ``deploy`` applies endpoint.yaml's ``replicas`` again (it says so first): the repo is
the source of truth, and ``diff ENV --repo`` shows a scaled count as drift meanwhile. The
scale changes the service's spec-hash label, so that deploy never takes the service for
unchanged.
"""

from __future__ import annotations

import asyncio
import copy
import getpass
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .. import releases
from ..engine import blocking
from ..errors import BadInput, OperationFailed
from ..events import Emit, LogLines, Result, Steps, Warning
from ..lock import EnvLock
from ..model import Endpoint, Environment, Project
from ..ops.inputs import current_config
from ..ops.report import DeployOptions
from ..ops.runparts import problem
from ..ops.scale import ScaleReport
from ..redact import Redactor
from ..releases import Release
from ..site import Site, SiteOpener
from . import converge, images, services
from .cluster import Cluster, read_cluster
from .deploy import _container_details
from .spec import (
    HEALTH_INTERVAL,
    HEALTH_RETRIES,
    HEALTH_TIMEOUT,
    SPEC_HASH,
    TASK_HASH,
    service_name,
    spec_hash,
)

ENDED = ("failed", "rejected", "orphaned", "complete", "shutdown", "remove")
"""Task states of a task that ended: during a scale up, a failure (crashed, rejected, or
stopped as unhealthy: an app that exits 0 on the stop signal ends ``complete``). During a
scale down, tasks end because of it."""


# -- pure parts -----------------------------------------------------------------------------------
def check_policy(endpoint: str, config: Mapping[str, Any], replicas: int, where: str) -> None:
    """Data is never split across nodes: ``replicas > 1`` of a service with a local data
    volume (``data: true`` and no ``volume_driver`` but ``local``, as ``config`` records it)
    is refused with the fix."""
    if replicas > 1 and config.get("data") and str(config.get("volume_driver") or "") in (
            "", "local"):
        raise BadInput(f"{endpoint} keeps /data on a local volume ({where}: data: true, no "
                       f"volume_driver): {replicas} replicas would give each node its own "
                       "/data", "set volume_driver (a driver every node shares) in its "
                       "endpoint.yaml and deploy, or keep 1 replica (docs/swarm.md)")


def scaled_body(spec: Mapping[str, Any], replicas: int) -> dict[str, Any]:
    """The service's spec (as the manager has it) with ``replicas`` and a new spec-hash label;
    the task template is untouched (no task restarts)."""
    body = copy.deepcopy(dict(spec))
    body["Mode"] = {"Replicated": {"Replicas": replicas}}
    labels = dict(body.get("Labels") or {})
    labels.pop(SPEC_HASH, None)
    body["Labels"] = labels
    labels[SPEC_HASH] = spec_hash(body)
    return body


def deadline(spec: Mapping[str, Any]) -> float:
    """Seconds a scale waits at most: the new tasks start at once, so one start period and
    the time to call a task unhealthy, twice over, and a minute of slack."""
    health = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get(
        "Healthcheck") or {}
    start = float(health.get("StartPeriod") or 0) / 1e9
    unhealthy = (HEALTH_RETRIES + 1) * HEALTH_INTERVAL + HEALTH_TIMEOUT
    return 2 * (start + unhealthy + 30.0) + 60.0


def judge_for(up: bool) -> Callable[..., converge.Verdict | None]:
    """:func:`converge.judge` of a change of replicas alone, and on a scale up a task that
    ended (:data:`ENDED`) is a failure at once."""

    def decide(*, tasks: Sequence[converge.TaskView], replicas: int,
               **_: Any) -> converge.Verdict | None:
        failed = [t for t in tasks if t.state in ENDED] if up else []
        if failed:
            return converge.Verdict(False, "failed", f"task {failed[0].slot} on "
                                    f"{failed[0].node} failed: "
                                    f"{failed[0].error or failed[0].state}")
        return converge.judge(created=False, rolling=False, before="", status=None,
                              tasks=tasks, replicas=replicas)

    return decide


def scaled_release(current: Release, replicas: int, outcome: str, *, user: str, when: str,
                   durations: Mapping[str, float], reason: str = "",
                   last_lines: Sequence[str] = ()) -> Release:
    """The record of a scale: the current release (version, image, config, secrets
    generation) with ``replicas``, ``kind: scale``."""
    config = {**current.endpoint_config, "replicas": replicas}
    return replace(current, outcome=outcome, kind="scale", replicas=replicas,
                   endpoint_config=config, user=user, time=when, durations=dict(durations),
                   reason=reason, last_lines=tuple(last_lines)[-40:])


# -- the run ----------------------------------------------------------------------------------
async def scale(project: Project, env: Environment, endpoint: Endpoint, replicas: int,
                emit: Emit, options: DeployOptions, open_sites: SiteOpener) -> ScaleReport:
    """Scale ``endpoint`` to ``replicas`` in the Swarm environment ``env`` (rails checked)."""
    name = endpoint.name
    async with open_sites(project, env) as sites:
        cluster = await read_cluster(sites, project.name, env, ())
        manager = cluster.manager
        async with EnvLock(manager.store, env.name, f"scale {name} to {replicas}",
                           wait=options.lock_wait, warn=lambda m: emit(Warning(m))) as lock:
            records = [r for r in await releases.history(manager.store, name)
                       if r.engine == "swarm"]
            current = releases.current(records, manager.name)
            if current is None:
                raise BadInput(f"'{name}' was never deployed to '{env.name}'",
                               "deploy it first")
            check_policy(name, current.endpoint_config, replicas,
                         f"its release {current.version}")
            service = await blocking(lambda: services.find(
                manager.engine, service_name(project.name, env.name, name), services.identity(
                    project.name, env.name, "app", name)))
            if service is None:
                raise OperationFailed(f"the service of {name} is not on the Swarm of "
                                      f"'{env.name}' (removed by hand?)", "deploy it again")
            if service.state in ("updating", "rollback_started"):
                raise OperationFailed(f"{service.name} is being updated by Swarm "
                                      f"({service.state})", "wait for it, then scale")
            report = ScaleReport(env.name, name, True, current.version, service.replicas,
                                 replicas, False)
            if service.replicas == replicas and current.replicas == replicas:
                emit(LogLines(f"{name}/scale", (f"{service.name} already runs {replicas} "
                                                "replica(s)",)))
            else:
                await lock.verify()
                _variables, secrets = await current_config(project, env, endpoint)
                report = await _scale(cluster, service, current, replicas, emit, report,
                                      Redactor(secrets))
    emit(Result(report.ok, report.summary(), report.as_dict()))
    return report


async def _scale(cluster: Cluster, service: services.Current, current: Release,
                 replicas: int, emit: Emit, report: ScaleReport, mask: Redactor) -> ScaleReport:
    manager, name = cluster.manager, current.endpoint
    steps = Steps(emit)
    started = time.perf_counter()
    up = replicas > service.replicas
    engine = manager.engine
    try:
        if up and service.spec:
            with steps.step(f"{name}/image", f"{name}: the image on every node"):
                await _images(cluster, service, current, emit)
        body = scaled_body(service.spec, replicas)
        with steps.step(f"{name}/service", f"{name}: {service.replicas} -> {replicas} "
                        f"replica(s) of {service.name}"):
            await blocking(lambda: services.put(engine, body, service))
        ours = str((((service.spec.get("TaskTemplate") or {}).get("ContainerSpec") or {})
                    .get("Labels") or {}).get(TASK_HASH, ""))
        with steps.step(f"{name}/rollout", f"{name}: {replicas} task(s) run"):
            verdict, tasks = await converge.wait(
                engine, service.id, service.name, ours=ours, created=False, rolling=False,
                before=str((service.update_status or {}).get("StartedAt", "")),
                replicas=replicas, deadline=deadline(service.spec), emit=emit,
                source=f"{name}/tasks", step=f"{name}/rollout", decide=judge_for(up))
            if not verdict.ok:
                lines = mask(await converge.task_errors(tasks, service.name,
                                                        _details(cluster)))
                back = await _set_back(manager, service)
                raise _Failed(converge.summary(verdict, lines) + back, lines)
    except BaseException as exc:
        reason = problem(exc) if isinstance(exc, Exception) else (
            "interrupted; Swarm goes on with the new count")
        record = scaled_release(current, replicas, "failed", user=getpass.getuser(),
                                when=releases.now(), durations=_durations(steps, started),
                                reason=reason,
                                last_lines=mask(getattr(exc, "last_lines", ())))
        await asyncio.gather(releases.append(manager.store, record), return_exceptions=True)
        if not isinstance(exc, Exception):
            raise
        return replace(report, ok=False, changed=True, reason=reason)
    with steps.step(f"{name}/record", f"{name}: record the release"):
        await releases.append(manager.store, scaled_release(
            current, replicas, "ok", user=getpass.getuser(), when=releases.now(),
            durations=_durations(steps, started)))
    return replace(report, changed=True)


class _Failed(OperationFailed):
    def __init__(self, problem: str, last_lines: Sequence[str]) -> None:
        super().__init__(problem, "see the task errors in the release record")
        self.last_lines = tuple(last_lines)


async def _images(cluster: Cluster, service: services.Current, current: Release,
                  emit: Emit) -> None:
    """The service's image on every node that lacks it (pulled by digest from a registry:
    nothing to send)."""
    ref = str(((service.spec.get("TaskTemplate") or {}).get("ContainerSpec") or {})
              .get("Image", ""))
    if not ref.startswith("sha256:"):
        return
    from .rollback import image_source

    manager = cluster.manager
    source = await blocking(lambda: image_source(manager, current.image, ref, False))
    nodes = [site for site in cluster.sites.values() if site is not manager]
    await images.distribute(manager, nodes, source, emit)


async def _set_back(manager: Site, service: services.Current) -> str:
    """The service's count set back to what it was; what to add to the reason."""
    try:
        fresh = await blocking(lambda: services.inspect(manager.engine, service.id))
        body = scaled_body(fresh.spec, service.replicas)
        body["Labels"] = dict(service.labels)  # as it was
        await blocking(lambda: services.put(manager.engine, body, fresh))
    except OperationFailed as exc:
        return f"; setting it back to {service.replicas} failed: {exc.problem}"
    return f"; set back to {service.replicas} replica(s)"


def _details(cluster: Cluster) -> Callable[[converge.TaskView], Any]:
    async def details(task: converge.TaskView) -> list[str]:
        site = cluster.sites.get(task.node_id)
        if site is None or not task.container:
            return []
        return await blocking(lambda: _container_details(site, task.container))

    return details


def _durations(steps: Steps, started: float) -> dict[str, float]:
    found = {e.step.split("/")[1]: round(e.duration, 3) for e in steps.finished}
    found["total"] = round(time.perf_counter() - started, 3)
    return found

