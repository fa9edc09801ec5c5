"""Server hygiene: remove what deploys and test runs left behind, never what a rollback needs.

``N`` is the environment's ``keep_releases`` (default 5). Per host (:func:`plan_host`, pure)::

    containers  an endpoint's stopped app containers beyond the newest N (never a running
                one, never the one its current release routes to)
    images      an endpoint's images (found by the labels project, env, endpoint, version)
                whose version is not among the last N versions released ok on that host, and
                that no container on the host uses (running or stopped, any owner) once the
                containers above are gone
    volumes     never: a deployed endpoint's /data survives everything

A rollback starts the earlier version's image anew, so the last N released versions keep their
images. With ``--env local`` the test loop's leftovers go too (:func:`plan_leftovers`): the
containers, volumes and networks of test runs whose owning process is certainly gone
(:mod:`workbench.owner`); a run still going, or started on another machine, keeps them.

The executor (:func:`execute`) only removes what a plan says, containers and images without
force: the engine refuses one that started or was taken up meanwhile, which is then kept.
:func:`prune` takes the environment's lock (a deploy may be about to start a built image);
a deploy calls :func:`after_deploy` once an endpoint's release is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from .. import names, owner, releases
from ..engine import LABEL, Engine, blocking
from ..events import Emit, LogLines, Result, Warning
from ..identity import Here
from ..lock import EnvLock
from ..model import Environment, Project
from ..releases import Release
from ..site import Site, SiteOpener
from .rails import require_confirm, require_docker_engine

PROJECT, ENV, ENDPOINT, VERSION = (f"{LABEL}{k}" for k in ("project", "env", "endpoint",
                                                            "version"))
ROLE, RUN = f"{LABEL}role", f"{LABEL}run"
TEST_ENV = "test"
"""The ``env`` label of the test loop's objects."""
_ORDER = ("container", "volume", "network", "image")
"""Removal order: what uses an object goes before it."""


# -- data -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Seen:
    """A Docker object as observed: plain data read by labels."""

    kind: str
    """``container``, ``image``, ``volume`` or ``network``."""
    id: str
    name: str
    labels: Mapping[str, str]
    created: int = 0
    image: str = ""
    """A container's image id."""
    running: bool = False
    """A container that runs (or restarts, or is paused): never pruned."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the plan does with one object, and why."""

    kind: str
    id: str
    name: str
    remove: bool
    reason: str
    host: str = ""
    endpoint: str = ""
    force: bool = False
    """Remove even while it runs (a test run's container whose owner is gone)."""

    def line(self, verb: str) -> str:
        where = f" on {self.host}" if self.host else ""
        return f"{verb} {self.kind} {self.name}{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Done:
    """A planned removal and how it went: ``removed``, ``would remove`` (a dry run),
    ``refused`` (the engine said it is in use now: kept) or ``failed``."""

    decision: Decision
    status: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PruneOptions:
    dry_run: bool = False
    confirm: str | None = None
    """The environment's name again, to change a protected one (``--confirm ENV``)."""
    lock_wait: float = 0.0


@dataclass(frozen=True, slots=True)
class PruneReport:
    env: str
    dry_run: bool
    done: tuple[Done, ...]
    kept: tuple[Decision, ...]

    @property
    def ok(self) -> bool:
        return all(d.status != "failed" for d in self.done)

    def summary(self) -> str:
        lines = []
        for d in self.done:
            detail = f" ({d.detail})" if d.detail else ""
            verb = {"refused": "kept (in use now)", "failed": "FAILED to remove"}.get(d.status,
                                                                                   d.status)
            lines.append(d.decision.line(verb) + detail)
        lines += [k.line("keep") for k in self.kept]
        gone = [d.decision for d in self.done if d.status in ("removed", "would remove")]
        counts = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind in _ORDER
                           if (n := sum(1 for g in gone if g.kind == kind)))
        verb = "would remove" if self.dry_run else "removed"
        failed = sum(1 for d in self.done if d.status == "failed")
        lines.append(f"{self.env}: " + (f"{verb} {counts}" if counts else "nothing to remove")
                     + (f"; {failed} could not be removed" if failed else ""))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "dry_run": self.dry_run,
                "removals": [{**asdict(d.decision), "status": d.status, "detail": d.detail}
                             for d in self.done],
                "kept": [asdict(k) for k in self.kept]}


# -- the plan (pure) --------------------------------------------------------------------------
def kept_versions(records: Sequence[Release], host: str, keep: int) -> tuple[str, ...]:
    """The last ``keep`` versions released ok on ``host``, newest first (a config-only
    redeploy is no new version: the version before it stays a rollback target)."""
    found: list[str] = []
    for record in reversed(records):
        if record.outcome == "ok" and record.host == host and record.version not in found:
            found.append(record.version)
            if len(found) == keep:
                break
    return tuple(found)


def plan_host(host: str, project: str, env: str, keep: int, containers: Sequence[Seen],
              images: Sequence[Seen], history: Mapping[str, Sequence[Release]],
              only: str | None = None) -> tuple[Decision, ...]:
    """What to remove on one host, and what is kept (containers, then images).

    ``containers`` are all the host's containers (any owner: an image any of them uses is
    kept), ``images`` at least the environment's, ``history`` each endpoint's release records
    on the host; ``only`` limits it to one endpoint."""
    def ours(seen: Seen) -> str | None:
        """Its endpoint, when it is this environment's (and the one asked about)."""
        labels = seen.labels
        endpoint = labels.get(ENDPOINT, "")
        if (labels.get(PROJECT) != project or labels.get(ENV) != env
                or names.problem(endpoint) or (only is not None and endpoint != only)):
            return None
        return endpoint

    decisions: list[Decision] = []
    apps: dict[str, list[Seen]] = {}
    for c in containers:
        endpoint = ours(c)
        if endpoint and c.labels.get(ROLE) == "app" and not c.running:
            apps.setdefault(endpoint, []).append(c)
    for endpoint, stopped in sorted(apps.items()):
        current = releases.current(list(history.get(endpoint, ())), host)
        routed = current.container if current else ""
        kept = 0
        for c in sorted(stopped, key=lambda c: (c.created, c.id), reverse=True):
            if c.name == routed:
                decisions.append(_decide(c, host, endpoint, False, "stopped, but its current "
                                         "release routes to it"))
            elif kept < keep:
                kept += 1
                decisions.append(_decide(c, host, endpoint, False,
                                         f"among the newest {keep} stopped (keep_releases)"))
            else:
                decisions.append(_decide(c, host, endpoint, True, f"stopped, older than the "
                                         f"newest {keep} stopped (keep_releases)"))
    removed = {d.id for d in decisions if d.remove}
    in_use = {c.image for c in containers if c.id not in removed}
    for image in sorted(images, key=lambda i: (i.labels.get(ENDPOINT, ""), -i.created, i.id)):
        endpoint = ours(image)
        version = image.labels.get(VERSION, "")
        if not endpoint or not version:
            continue
        versions = kept_versions(history.get(endpoint, ()), host, keep)
        if version in versions:
            why = f"version {version} is among the last {keep} released (keep_releases)"
            decisions.append(_decide(image, host, endpoint, False, why))
        elif image.id in in_use:
            decisions.append(_decide(image, host, endpoint, False,
                                     f"version {version} is used by a container"))
        else:
            decisions.append(_decide(image, host, endpoint, True, f"version {version} is not "
                                     f"among the last {keep} released and no container uses "
                                     "it"))
    return tuple(decisions)


def plan_leftovers(project: str, objects: Sequence[Seen], here: Here) -> tuple[Decision, ...]:
    """The test loop's objects of ``project`` (``env=test``): removed, by run, when the
    process that started the run is certainly gone; kept otherwise."""
    runs: dict[str, list[Seen]] = {}
    for seen in objects:
        if seen.labels.get(PROJECT) == project and seen.labels.get(ENV) == TEST_ENV:
            runs.setdefault(seen.labels.get(RUN, ""), []).append(seen)
    decisions = []
    for run, group in sorted(runs.items()):
        labels = next((s.labels for s in group if owner.OWNER in s.labels), group[0].labels)
        why = owner.gone(labels, here) if run else None
        who = owner.describe(labels)
        if why:
            reason, remove = f"left by test run {run}: {why}", True
        elif who:
            reason, remove = f"test run {run} of {who} may still be running", False
        else:
            reason, remove = ("its owner is not recorded (made by an older workbench, or not "
                              "by a test run): remove it by hand if it is a leftover"), False
        for seen in sorted(group, key=lambda s: (_ORDER.index(s.kind), s.name)):
            decisions.append(_decide(seen, "", seen.labels.get(ENDPOINT, ""), remove, reason,
                                     force=True))
    return tuple(decisions)


def _decide(seen: Seen, host: str, endpoint: str, remove: bool, reason: str,
            force: bool = False) -> Decision:
    return Decision(seen.kind, seen.id, seen.name, remove, reason, host, endpoint, force)


# -- observing and removing (blocking: call in a thread) --------------------------------------
def observe(engine: Engine, project: str, env: str) -> tuple[list[Seen], list[Seen]]:
    """Every container on the host, and the environment's images (one call each)."""
    api = engine.api
    containers = [Seen("container", c["Id"], _name(c.get("Names")), c.get("Labels") or {},
                       int(c.get("Created") or 0), str(c.get("ImageID") or ""),
                       c.get("State") in ("running", "restarting", "paused"))
                  for c in api.containers(all=True)]
    filters = {"label": [f"{PROJECT}={project}", f"{ENV}={env}"]}
    images = [Seen("image", i["Id"], _tag(i), i.get("Labels") or {}, int(i.get("Created") or 0))
              for i in api.images(filters=filters)]
    return containers, images


def observe_leftovers(engine: Engine, project: str) -> list[Seen]:
    """The test loop's containers, volumes and networks of ``project``."""
    api = engine.api
    filters = {"label": [f"{PROJECT}={project}", f"{ENV}={TEST_ENV}"]}
    found = [Seen("container", c["Id"], _name(c.get("Names")), c.get("Labels") or {})
             for c in api.containers(all=True, filters=filters)]
    found += [Seen("volume", v["Name"], v["Name"], v.get("Labels") or {})
              for v in (api.volumes(filters=filters) or {}).get("Volumes") or ()]
    found += [Seen("network", n["Id"], n.get("Name") or n["Id"][:12], n.get("Labels") or {})
              for n in api.networks(filters=filters)]
    return found


def execute(engine: Engine, decisions: Iterable[Decision]) -> list[Done]:
    """Remove what ``decisions`` say, users before what they use. Gone already counts as
    removed; the engine refusing (409: it runs, or a container uses it) as ``refused``."""
    import docker.errors

    api = engine.api
    removing = sorted((d for d in decisions if d.remove), key=lambda d: _ORDER.index(d.kind))
    done = []
    for d in removing:
        try:
            if d.kind == "container":
                api.remove_container(d.id, force=d.force)
            elif d.kind == "volume":
                api.remove_volume(d.id, force=d.force)
            elif d.kind == "network":
                api.remove_network(d.id)
            else:
                api.remove_image(d.id, force=False)
            done.append(Done(d, "removed"))
        except docker.errors.NotFound:
            done.append(Done(d, "removed", "gone already"))
        except docker.errors.APIError as exc:
            message = str(exc.explanation or exc).splitlines()[0][:200]
            done.append(Done(d, "refused" if exc.status_code == 409 else "failed", message))
    return done


def _name(names_: Sequence[str] | None) -> str:
    return (names_ or ["?"])[0].lstrip("/")


def _tag(image: Mapping[str, Any]) -> str:
    tags = [t for t in image.get("RepoTags") or () if t != "<none>:<none>"]
    return tags[0] if tags else str(image["Id"]).removeprefix("sha256:")[:12]


# -- the operations ---------------------------------------------------------------------------
async def plan_site(project: Project, env: Environment, site: Site,
                    only: str | None = None) -> tuple[Decision, ...]:
    """Observe one host and plan it (:func:`plan_host`)."""
    containers, images = await blocking(lambda: observe(site.engine, project.name, env.name))
    wanted = {e.name for e in project.endpoints} | {s.labels.get(ENDPOINT, "") for s in
                                                     (*containers, *images)
                                                     if s.labels.get(PROJECT) == project.name
                                                     and s.labels.get(ENV) == env.name}
    wanted = {n for n in wanted if not names.problem(n) and (only is None or n == only)}
    records = await asyncio.gather(*(releases.history(site.store, n) for n in sorted(wanted)))
    history = dict(zip(sorted(wanted), records, strict=True))
    return plan_host(site.name, project.name, env.name, env.keep_releases, containers, images,
                     history, only)


async def after_deploy(project: Project, env: Environment, sites: Sequence[Site],
                       endpoint: str, emit: Emit) -> None:
    """Once ``endpoint``'s release is recorded: prune its old containers and images on every
    host at once. Never fails the deploy: a failure is a warning."""
    async def one(site: Site) -> None:
        where = f" on {site.name}" if len(sites) > 1 else ""
        try:
            plan = await plan_site(project, env, site, only=endpoint)
            done = await blocking(lambda: execute(site.engine, plan))
        except Exception as exc:
            emit(Warning(f"could not prune {endpoint}'s old images{where}: "
                         f"{getattr(exc, 'problem', '') or exc}"))
            return
        lines = [f"removed {d.decision.kind} {d.decision.name}{where}: {d.decision.reason}"
                 for d in done if d.status == "removed"]
        if lines:
            emit(LogLines(f"{endpoint}/deploy", tuple(lines)))
        for d in done:
            if d.status == "failed":
                emit(Warning(f"could not remove {d.decision.kind} {d.decision.name}{where}: "
                             f"{d.detail}"))

    await asyncio.gather(*(one(site) for site in sites))


async def prune(project: Project, env_name: str, emit: Emit, options: PruneOptions,
                open_sites: SiteOpener) -> PruneReport:
    """Remove (``dry_run``: list) what the environment's hosts no longer need; with ``local``
    also the test loop's leftovers. See the module docstring."""
    env = project.environment(env_name)
    require_docker_engine(env, "prune")
    if not options.dry_run:
        require_confirm(env, "prune", options.confirm)
    async with open_sites(project, env) as sites, contextlib.AsyncExitStack() as stack:
        lock = None if options.dry_run else await stack.enter_async_context(EnvLock(
            sites[0].store, env.name, "prune", wait=options.lock_wait,
            warn=lambda m: emit(Warning(m))))
        plans = list(await asyncio.gather(*(plan_site(project, env, site) for site in sites)))
        if env.is_local:
            found = await blocking(lambda: observe_leftovers(sites[0].engine, project.name))
            plans = [without_hosts(plans[0]), plan_leftovers(project.name, found, Here.this())]
            sites = [sites[0], sites[0]]
        if options.dry_run:
            done = [Done(d, "would remove") for plan in plans for d in plan if d.remove]
        else:
            assert lock is not None
            await lock.verify()  # still ours: no deploy started meanwhile (else LockLost)
            done = [d for part in await asyncio.gather(*(
                blocking(lambda s=site, p=plan: execute(s.engine, p))
                for site, plan in zip(sites, plans, strict=True))) for d in part]
    kept = tuple(d for plan in plans for d in plan if not d.remove)
    report = PruneReport(env.name, options.dry_run, tuple(done), kept)
    emit(Result(report.ok, report.summary(), report.as_dict()))
    return report


def without_hosts(decisions: Sequence[Decision]) -> tuple[Decision, ...]:
    """``decisions`` with no host named (the local engine: it goes without saying)."""
    return tuple(replace(d, host="") for d in decisions)
