"""What a deploy to a Swarm environment would do (``workbench --batch plan``): the steps of
:mod:`workbench.swarm.deploy` per endpoint, on the manager, from what it runs now. Reads the
manager (image present, each service's version and replicas); changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from .. import naming
from ..engine import LABEL, blocking
from ..model import Endpoint, Environment, Project
from ..ops.inputs import gather
from ..plan import SKIP, Phase, Plan, Step, phases
from ..site import SiteOpener
from . import services

STEPS = ("build", "image", "service", "rollout", "switch", "record")


async def plan(project: Project, env: Environment, endpoints: Sequence[Endpoint],
               open_sites: SiteOpener) -> Plan:
    inputs = await asyncio.to_thread(gather, project, env, endpoints)
    versions = {name: item.context.version for name, item in inputs.items()}
    async with open_sites(project, env) as sites:
        manager = sites[0]

        def look(endpoint: Endpoint) -> tuple[bool, services.Current | None]:
            tag = naming.image(project.name, endpoint.name, versions[endpoint.name])
            name = naming.service(project.name, env.name, endpoint.name)
            wanted = services.identity(project.name, env.name, "app", endpoint.name)
            return manager.engine.image_exists(tag), services.find(manager.engine, name, wanted)

        found = await asyncio.gather(*(blocking(lambda e=e: look(e)) for e in endpoints))
        host, nodes = manager.name, len(sites) - 1
    return swarm_plan(env, host, endpoints, versions, dict(zip(
        (e.name for e in endpoints), found, strict=True)), nodes)


def swarm_plan(env: Environment, host: str, endpoints: Sequence[Endpoint],
               versions: Mapping[str, str],
               found: Mapping[str, tuple[bool, services.Current | None]], nodes: int) -> Plan:
    """The plan, as data: an endpoint whose service runs its new version with its replicas
    is "skip" (its spec is compared again when it deploys)."""
    result = []
    for number, names in enumerate(phases(endpoints), start=1):
        steps: list[Step] = []
        for name in names:
            endpoint = next(e for e in endpoints if e.name == name)
            version, (cached, current) = versions[name], found[name]
            running = "" if current is None else str(current.labels.get(f"{LABEL}version", ""))
            if current is not None and running == version and \
                    current.replicas == endpoint.replicas:
                steps.append(Step(name, host, SKIP, f"already at {version}"))
                continue
            image = (f"push to {env.registry}" if env.registry else
                     f"stream to the nodes that lack it ({nodes} other host(s))")
            details = {
                "build": f"version {version}" + (", cached" if cached else ""),
                "image": image,
                "service": f"update from {running or '?'}" if current else "create",
                "rollout": f"{endpoint.replicas} task(s), start-first, rolled back on failure",
            }
            steps.extend(Step(name, host, action, details.get(action, "")) for action in STEPS)
        result.append(Phase(number, names, tuple(steps)))
    return Plan(env.name, tuple(result))
