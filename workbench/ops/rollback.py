"""Roll an endpoint back to an earlier release: its image, started anew and health-gated.

The earlier version's image is started as a new container with the configuration and the
secrets that are current now, never by restarting the old container: that one holds the
secrets it was deployed with, and a rotated (perhaps leaked) secret must not come back. From
there a rollback is a deploy of that image (health check, switch, drain, record).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import releases
from ..context import BuildContext
from ..errors import BadInput
from ..events import Emit, Result, Warning
from ..lock import EnvLock
from ..logstream import LogHub
from ..model import Endpoint, Environment, Project
from ..site import Site, SiteOpener
from .deploy import DeployRun
from .inputs import ReleaseInput, current_config
from .rails import require_confirm, require_docker_engine, require_single_host
from .report import DeployOptions, DeployReport


async def rollback(project: Project, env_name: str, name: str, emit: Emit,
                   options: DeployOptions, open_sites: SiteOpener,
                   to: str | None = None) -> DeployReport:
    """Go back to the release before the current one of endpoint ``name`` (or to version
    ``to``) on every host of the environment."""
    env = project.environment(env_name)
    require_confirm(env, "rollback", options.confirm)
    require_docker_engine(env, "rollback")
    endpoint = project.endpoint(name)
    require_single_host(env, (endpoint,), "rollback")
    async with open_sites(project, env) as sites, EnvLock(
            sites[0].store, env.name, f"rollback {name}", wait=options.lock_wait,
            warn=lambda m: emit(Warning(m))) as lock, LogHub(emit) as hub:
        run = DeployRun(project, env, emit, options, sites, hub, lock)
        try:
            await run.routing.prepare(project.endpoints)
            target = await target_input(project, env, sites, endpoint, to)
            outcome = await run.endpoint(await run.keyed(target))
            await run.routing.settle()
        finally:
            await run.close()
    report = DeployReport(env.name, (outcome,))
    emit(Result(report.ok, report.summary(), {"env": env.name,
                                              "endpoints": [outcome.as_dict()]}))
    return report


async def target_input(project: Project, env: Environment, sites: Sequence[Site],
                       endpoint: Endpoint, to: str | None) -> ReleaseInput:
    """The rollback's input: the chosen earlier release's version and git state, with the
    current configuration and secrets (bad input when there is no earlier release)."""
    site = sites[0]
    records = await releases.history(site.store, endpoint.name)
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
    target = candidates[0]
    variables, secrets = await current_config(project, env, endpoint)
    return ReleaseInput(endpoint, BuildContext(endpoint.name, b"", target.version, {}, 0),
                        variables, secrets, "", target.git_sha, target.dirty, kind="rollback",
                        image=target.image)
