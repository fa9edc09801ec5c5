"""Roll an endpoint back to an earlier release: its image, started anew and health-gated.

The earlier version's image is started as a new container with the configuration and the
secrets that are current now, never by restarting the old container: that one holds the
secrets it was deployed with, and a rotated (perhaps leaked) secret must not come back. From
there a rollback is a deploy of that image (health check, switch, drain, record).

On ``engine: swarm`` the same, as a service update (:mod:`workbench.swarm.rollback`).
"""

from __future__ import annotations

from .. import releases
from ..context import BuildContext
from ..errors import BadInput
from ..events import Emit, Result, Warning
from ..lock import EnvLock
from ..logstream import LogHub
from ..model import Endpoint, Environment, Project
from ..releases import Release
from ..site import Site, SiteOpener
from .deploy import DeployRun
from .inputs import ReleaseInput, current_config
from .rails import require_confirm, require_single_host
from .report import DeployOptions, DeployReport


async def rollback(project: Project, env_name: str, name: str, emit: Emit,
                   options: DeployOptions, open_sites: SiteOpener,
                   to: str | None = None) -> DeployReport:
    """Go back to the release before the current one of endpoint ``name`` (or to version
    ``to``) on every host of the environment."""
    env = project.environment(env_name)
    require_confirm(env, "rollback", options.confirm)
    endpoint = project.endpoint(name)
    if env.engine == "swarm":
        from ..swarm.rollback import rollback as on_swarm

        return await on_swarm(project, env, endpoint, emit, options, open_sites, to)
    require_single_host(env, (endpoint,), "rollback")
    async with open_sites(project, env) as sites, EnvLock(
            sites[0].store, env.name, f"rollback {name}", wait=options.lock_wait,
            warn=lambda m: emit(Warning(m))) as lock, LogHub(emit) as hub:
        run = DeployRun(project, env, emit, options, sites, hub, lock)
        try:
            await run.routing.prepare(project.endpoints)
            record = await target_release(env, sites[0], endpoint, to)
            target = await target_input(project, env, endpoint, record)
            outcome = await run.endpoint(await run.keyed(target))
            await run.routing.settle()
        finally:
            await run.close()
    report = DeployReport(env.name, (outcome,))
    emit(Result(report.ok, report.summary(), {"env": env.name,
                                              "endpoints": [outcome.as_dict()]}))
    return report


async def target_release(env: Environment, site: Site, endpoint: Endpoint,
                         to: str | None) -> Release:
    """The release to go back to: the newest successful one of another version than the
    current (or of version ``to``) that ``site`` (the first host) recorded for this engine;
    bad input when there is none."""
    records = [r for r in await releases.history(site.store, endpoint.name)
               if r.engine == env.engine]
    current = releases.current(records, site.name)
    if current is None:
        raise BadInput(f"'{endpoint.name}' was never deployed to '{env.name}'",
                       "deploy it first")
    candidates = [r for r in reversed(records) if r.outcome == "ok" and r.host == site.name
                  and r.version != current.version and (to is None or r.version == to)]
    if not candidates:
        known = sorted({r.version for r in records if r.outcome == "ok"})
        raise BadInput(f"no earlier release of '{endpoint.name}'"
                       + (f" with version {to}" if to else "")
                       + f" in '{env.name}' (current {current.version})",
                       f"pick one of: {', '.join(known)}" if to else "deploy a change first")
    return candidates[0]


async def target_input(project: Project, env: Environment, endpoint: Endpoint,
                       target: Release) -> ReleaseInput:
    """The rollback's input: ``target``'s version, git state and image, with the current
    configuration and secrets."""
    variables, secrets = await current_config(project, env, endpoint)
    return ReleaseInput(endpoint, BuildContext(endpoint.name, b"", target.version, {}, 0),
                        variables, secrets, "", target.git_sha, target.dirty, kind="rollback",
                        image=target.image)
