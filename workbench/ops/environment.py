"""Read-only and admin operations on an environment: release history, the deploy plan, and
the deploy lock. They return data; the front ends present it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from .. import envkey, naming, releases
from ..engine import blocking
from ..lock import LockInfo
from ..model import Project
from ..plan import Plan, deploy_plan
from ..releases import Release
from ..site import SiteOpener
from .inputs import gather, keyed
from .rails import require_confirm
from .selection import select


async def history(project: Project, env_name: str, name: str,
                  open_sites: SiteOpener) -> list[Release]:
    """Every release record of endpoint ``name`` in the environment, from all its hosts,
    oldest first."""
    env = project.environment(env_name)
    project.endpoint(name)
    async with open_sites(project, env) as sites:
        records = await asyncio.gather(*(releases.history(s.store, name) for s in sites))
    return sorted((r for rs in records for r in rs), key=lambda r: (r.time, r.host))


async def release_records(project: Project, env_name: str, names: Sequence[str],
                          open_sites: SiteOpener) -> dict[str, list[Release]]:
    """Every release record of the endpoints ``names`` in the environment, from all its
    hosts, read at once. ``local`` reads its state root directly (no Docker needed)."""
    env = project.environment(env_name)
    result: dict[str, list[Release]] = {name: [] for name in names}
    if env.is_local:
        from ..state import LocalStore, local_root

        stores = [LocalStore(local_root(project.name, env.name))]
        found = await asyncio.gather(*(releases.history(stores[0], n) for n in names))
    else:
        async with open_sites(project, env) as sites:
            pairs = [(site, name) for site in sites for name in names]
            found = await asyncio.gather(*(releases.history(site.store, name)
                                           for site, name in pairs))
            names = [name for _site, name in pairs]
    for name, records in zip(names, found, strict=True):
        result[name] += records
    return result


async def plan(project: Project, env_name: str, names: Sequence[str],
               open_sites: SiteOpener) -> Plan:
    """The phases and steps a deploy would run; reads the hosts, changes nothing."""
    env = project.environment(env_name)
    endpoints = select(project, names, "deploy")
    if env.engine == "swarm":
        from ..swarm.plan import plan as swarm_plan

        return await swarm_plan(project, env, endpoints, open_sites)
    inputs = await asyncio.to_thread(gather, project, env, endpoints)
    versions = {name: item.context.version for name, item in inputs.items()}
    cached: dict[tuple[str, str], bool] = {}
    current: dict[tuple[str, str], str | None] = {}
    async with open_sites(project, env) as sites:
        key = await envkey.read_key(sites[0].store) or b""
        inputs = {name: keyed(item, key) for name, item in inputs.items()}

        async def look(site_index: int, name: str) -> None:
            site, item = sites[site_index], inputs[name]
            image = naming.image(project.name, name, item.context.version)
            exists, records = await asyncio.gather(
                blocking(lambda: site.engine.image_exists(image)),
                releases.history(site.store, name))
            cached[(name, site.name)] = exists
            record = releases.current(records, site.name)
            same_config = record is not None and record.config_hash == item.config_hash
            current[(name, site.name)] = record.version if record and same_config else (
                f"{record.version} (other config)" if record else None)

        await asyncio.gather(*(look(i, name) for i in range(len(sites)) for name in inputs))
        hosts = [site.name for site in sites]
    return deploy_plan(env.name, hosts, endpoints, versions, cached, current)


async def lock_status(project: Project, env_name: str,
                      open_sites: SiteOpener) -> LockInfo | None:
    """Who holds the environment's deploy lock (None: nobody)."""
    from ..lock import status

    env = project.environment(env_name)
    async with open_sites(project, env) as sites:
        return await status(sites[0].store)


async def lock_release(project: Project, env_name: str, open_sites: SiteOpener, *,
                       force: bool = False, confirm: str | None = None) -> LockInfo | None:
    """Remove the environment's deploy lock when its holder is gone or expired; returns what
    it said (None: it was not locked). A holder that may still run keeps it unless ``force``,
    which on a protected environment needs ``confirm`` (its name) and on a readonly one is
    refused (:func:`~.rails.require_confirm`)."""
    from ..lock import release_lock

    env = project.environment(env_name)
    if force:
        require_confirm(env, "lock release --force", confirm)
    async with open_sites(project, env) as sites:
        return await release_lock(sites[0].store, env.name, force=force)
