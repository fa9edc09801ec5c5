"""Roll a Swarm endpoint back to an earlier release (docs/swarm.md, "Rollback and scale").

The earlier release's image, pinned to the id (or registry digest) its record holds, becomes a
service update with the configuration and secrets that are current now (as on the docker
engine: a rotated secret never comes back with an old version). From there it is a deploy of
that image (:class:`~.deploy.SwarmRun`): the image streamed to the nodes that lack it, the
update, the rollout waited for and judged the same way (a rollback by Swarm of this rollback is
a FAILED release, recorded with the task errors), the proxy's routes, the record
(``kind: rollback``). Nothing is built: an image that is gone from the manager is refused with
the fix (deploy that version again from its commit).
"""

from __future__ import annotations

from typing import Any

from ..engine import blocking
from ..errors import OperationFailed
from ..events import Emit, Result, Warning
from ..lock import EnvLock
from ..logstream import LogHub
from ..model import Endpoint, Environment, Project
from ..ops.inputs import ReleaseInput, keyed
from ..ops.report import DeployOptions, DeployReport
from ..releases import Release
from ..site import Site, SiteOpener
from . import images
from .cluster import read_cluster
from .deploy import SwarmRun, precheck
from .spec import Image


async def rollback(project: Project, env: Environment, endpoint: Endpoint, emit: Emit,
                   options: DeployOptions, open_sites: SiteOpener,
                   to: str | None = None) -> DeployReport:
    """Roll ``endpoint`` back in the Swarm environment ``env`` (rails already checked)."""
    from ..ops.rollback import target_input, target_release

    precheck(project, env, (endpoint,))
    async with open_sites(project, env) as sites:
        cluster = await read_cluster(sites, project.name, env, (endpoint,))
        async with EnvLock(sites[0].store, env.name, f"rollback {endpoint.name}",
                           wait=options.lock_wait, warn=lambda m: emit(Warning(m))) as lock, \
                LogHub(emit) as hub:
            record = await target_release(env, sites[0], endpoint, to)
            item = await target_input(project, env, endpoint, record)
            run = RollbackRun(project, env, emit, options, cluster, hub, lock, target=record)
            await run.start()
            try:
                outcome = await run.endpoint(keyed(item, run.key))
                await run.settle()
            finally:
                await run.close()
    report = DeployReport(env.name, (outcome,))
    emit(Result(report.ok, report.summary(), {"env": env.name, "engine": "swarm",
                                              "endpoints": [outcome.as_dict()]}))
    return report


class RollbackRun(SwarmRun):
    """A :class:`SwarmRun` whose image is an earlier release's: never built, pinned to the
    id or digest the release recorded."""

    def __init__(self, *args: Any, target: Release) -> None:
        super().__init__(*args)
        self.target = target

    async def _build(self, item: ReleaseInput, tag: str) -> None:
        pump = self.hub.pump(f"{item.endpoint.name}/build")
        source = await blocking(lambda: image_source(self.manager, tag, self.target.image_ref,
                                                     bool(self.env.registry)))
        pump.feed([f"{self.manager.name}: image {source} of {item.context.version} is there: "
                   "nothing is built for a rollback"])

    async def _image(self, item: ReleaseInput, tag: str) -> Image:
        ref = self.target.image_ref
        source = await blocking(lambda: image_source(self.manager, tag, ref,
                                                     bool(self.env.registry)))
        if self.env.registry and ref:
            pinned = ref  # the nodes pull it by its digest
        else:
            nodes = [site for site in self.cluster.sites.values() if site is not self.manager]
            pinned = await images.distribute(self.manager, nodes, source, self.emit)
        config = await blocking(lambda: self.manager.engine.api.inspect_image(source)["Config"])
        return Image(pinned, tag, tuple((config or {}).get("Entrypoint") or ()),
                     tuple((config or {}).get("Cmd") or ()))


def image_source(manager: Site, tag: str, ref: str, registry: bool) -> str:
    """What the rollback runs, as the manager names it: the release's tag when it still has
    the recorded id (or no id was recorded), else the recorded id itself; refused when the
    manager has neither (blocks)."""
    tag_id = _id(manager, tag)
    if tag_id and (not ref or tag_id == ref or registry):
        return tag
    if ref and not registry and _id(manager, ref) == ref:
        return ref
    raise OperationFailed(f"image {tag} of that release is no longer on {manager.name}"
                          + (f" (nor {ref[:19]})" if ref else ""),
                          "deploy that version again from its commit (see 'releases')")


def _id(manager: Site, image: str) -> str:
    import docker.errors

    try:
        return str(manager.engine.api.inspect_image(image)["Id"])
    except docker.errors.ImageNotFound:
        return ""
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot inspect image {image} on {manager.name} ({exc})",
                              f"check that Docker runs on {manager.name}") from None
