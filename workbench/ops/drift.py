"""``diff ENV --repo`` and ``diff ENV --since/--previous``: gather the facts, then compare.

:func:`repo_drift` observes the environment (:func:`.observe.observe_keyed`) while it reads
the repo's side at once: each endpoint's build context version, variables, secrets and git
state (:func:`.inputs.gather`, in a thread), and ``git status --porcelain`` of every endpoint
repo. Then, with the environment's key, the config hashes a deploy would record, and per
deployed sha ``git log`` from it to HEAD, all at once. The comparison is
:func:`workbench.drift.drift` (pure).

:func:`release_changes` reads the release records of the endpoints on every reachable host,
picks the two releases to compare (:func:`workbench.releasediff.pick`) and the git log between
their shas when the endpoint's repo has them, and returns
:class:`~workbench.releasediff.ReleaseChanges`.

A host that cannot be read is named in the result's ``unreachable`` (the rest is still read);
on Swarm only the manager (the first host) holds release records, so only it counts. git runs
locally, one process per repo at once, and never prompts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import releases
from ..drift import Drift, RepoEndpoint, RepoFacts, drift
from ..errors import BadInput
from ..gitlog import GitLog
from ..model import Project
from ..observed import EnvState
from ..releasediff import Pick, ReleaseChanges, collect, pick
from ..releases import Release
from ..site import Site
from .inputs import deployed_config, gather, keyed
from .observe import Opener, observe_keyed

LOG_LIMIT = 50
"""Commits listed per side of a git log (the counts are always complete)."""


async def repo_drift(project: Project, env_name: str, opener: Opener) -> Drift:
    """Drift between the project's repos and what runs in ``env_name`` (see
    :mod:`workbench.drift`); ``opener`` is :func:`workbench.sites.open_reachable`."""
    env = project.environment(env_name)
    key = secrets.token_bytes(32)  # seals observed secrets for this process only
    endpoints = list(project.endpoints)
    observing = asyncio.ensure_future(observe_keyed(project, env, opener, key))
    reading = asyncio.ensure_future(asyncio.gather(
        asyncio.to_thread(gather, project, env, endpoints),
        asyncio.gather(*(porcelain(e.path) for e in endpoints))))
    try:
        (state, env_key), (inputs, changes) = await asyncio.gather(observing, reading)
    except BaseException:  # bad input on one side (a missing secret): stop the other
        for task in (observing, reading):
            task.cancel()
        await asyncio.gather(observing, reading, return_exceptions=True)
        raise
    wanted = {n: keyed(i, env_key) if env_key else i for n, i in inputs.items()}
    pairs = sorted({(name, sha) for name, sha in deployed_shas(state)
                    if name in wanted and wanted[name].git_sha
                    and sha != wanted[name].git_sha})
    logs = await asyncio.gather(*(git_log(wanted[n].endpoint.path, sha, wanted[n].git_sha)
                                  for n, sha in pairs))
    by_endpoint: dict[str, dict[str, GitLog]] = {}
    for (name, sha), log in zip(pairs, logs, strict=True):
        by_endpoint.setdefault(name, {})[sha] = log
    facts = {}
    recorded = deployed_config
    if env.engine == "swarm":  # a Swarm release records its settings too
        from ..swarm.recorded import recorded_config as recorded
    for endpoint, lines in zip(endpoints, changes, strict=True):
        item = wanted[endpoint.name]
        facts[endpoint.name] = RepoEndpoint(
            endpoint.name, item.context.version, item.git_sha, item.dirty, lines,
            item.config_hash, item.secrets_generation, dict(sorted(item.env.items())),
            tuple(sorted(item.secrets)), recorded(endpoint),
            by_endpoint.get(endpoint.name, {}))
    return drift(state, RepoFacts(facts, keyed=env_key is not None))


def deployed_shas(state: EnvState) -> set[tuple[str, str]]:
    """(endpoint, git sha) of every container and current release on the hosts read."""
    found = set()
    for host in state.hosts:
        found |= {(i.endpoint, i.git_sha) for i in host.instances if i.git_sha}
        found |= {(n, r.git_sha) for n, r in host.releases.items() if r.git_sha}
    return found


async def release_changes(project: Project, env_name: str, endpoints: Sequence[str],
                          since: str | None, opener: Opener) -> ReleaseChanges:
    """What changed between two releases of each endpoint (``endpoints``, default all) in
    ``env_name``: ``since`` None, the current release and the one before it; else the
    release of that version (or a unique prefix of it) and the current one. BadInput for an
    unknown environment or endpoint, an ambiguous prefix, or a ``since`` that no endpoint
    has on any host (when every host was read)."""
    env = project.environment(env_name)
    chosen = [project.endpoint(n) for n in dict.fromkeys(endpoints)] or list(project.endpoints)
    if since is not None and not since.strip():
        raise BadInput("--since needs a release", "give its version, or a unique prefix of "
                       f"one (see 'workbench --batch releases --env {env.name} -e NAME')")
    names = [e.name for e in chosen]
    async with opener(project, env) as (sites, failed):
        read = await asyncio.gather(*(_histories(site, names) for site in sites),
                                    return_exceptions=True)
    unreachable = dict(failed)
    records: dict[str, dict[str, list[Release]]] = {}
    for site, got in zip(sites, read, strict=True):
        if isinstance(got, dict):
            records[site.name] = got
        elif isinstance(got, Exception):
            unreachable[site.name] = _line(got)
        else:
            raise got
    order = ["local"] if env.is_local else [h.spec for h in env.hosts]
    if env.engine == "swarm":  # its release records are on the manager (the first host)
        order = order[:1]
        unreachable = {h: why for h, why in unreachable.items() if h in order}
    picks: dict[tuple[str, str], Pick] = {
        (host, name): pick(records[host][name], host, since)
        for host in order if host in records for name in names}
    if since is not None and picks and not unreachable and \
            all(p.old is None for p in picks.values()):
        raise BadInput(f"no release '{since}' of {', '.join(names)} in '{env.name}'",
                       f"see 'workbench --batch releases --env {env.name} -e NAME'")
    paths = {e.name: e.path for e in chosen}
    wanted = sorted({(name, p.old.git_sha, p.new.git_sha) for (_h, name), p in picks.items()
                     if p.old is not None and p.new is not None and p.old.git_sha
                     and p.new.git_sha and p.old.git_sha != p.new.git_sha})
    logs = await asyncio.gather(*(git_log(paths[n], old, new) for n, old, new in wanted))
    return collect(env.name, since, names, picks, dict(zip(wanted, logs, strict=True)),
                   unreachable)


async def _histories(site: Site, names: Sequence[str]) -> dict[str, list[Release]]:
    found = await asyncio.gather(*(releases.history(site.store, n) for n in names))
    return dict(zip(names, found, strict=True))


# -- git ------------------------------------------------------------------------------------
async def git_log(repo: Path, old: str, new: str, limit: int = LOG_LIMIT) -> GitLog:
    """The commits from ``old`` to ``new`` in ``repo`` (``added``: in new, not in old;
    ``removed``: the other way), or why there is no log."""
    if not (repo / ".git").exists():
        return GitLog(error=f"{repo} is not a git repo")
    code, out, err = await _git(repo, "rev-list", "--left-right", "--count", f"{old}...{new}")
    if code != 0:
        found = await asyncio.gather(*(_git(repo, "cat-file", "-e", f"{sha}^{{commit}}")
                                       for sha in (old, new)))
        missing = [sha for sha, (c, _o, _e) in zip((old, new), found, strict=True) if c]
        if missing:
            return GitLog(error=f"the repo has no commit {', '.join(missing)} (fetch, or "
                          "it was made in another clone)")
        return GitLog(error=_first(err) or f"git rev-list failed (exit {code})")
    removed_count, added_count = (int(n) for n in out.split())

    async def commits(range_: str, count: int) -> tuple[str, ...]:
        if not count:
            return ()
        c, text, _e = await _git(repo, "log", f"--max-count={limit}", "--format=%h %s",
                                 range_)
        return tuple(text.splitlines()) if c == 0 else ()

    added, removed = await asyncio.gather(commits(f"{old}..{new}", added_count),
                                          commits(f"{new}..{old}", removed_count))
    return GitLog(added, removed, added_count, removed_count)


async def porcelain(repo: Path) -> tuple[str, ...]:
    """``git status --porcelain`` lines of ``repo`` (none when it is not a git repo)."""
    if not (repo / ".git").exists():
        return ()
    code, out, _err = await _git(repo, "status", "--porcelain")
    return tuple(line for line in out.splitlines() if line.strip()) if code == 0 else ()


async def _git(repo: Path, *args: str) -> tuple[int, str, str]:
    env: Mapping[str, str] = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C",
                              "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = await asyncio.create_subprocess_exec(
            "git", *args, cwd=repo, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        return 127, "", f"cannot run git ({exc.strerror})"
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def _first(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:300]


def _line(exc: BaseException) -> str:
    line = getattr(exc, "line", None)
    return str(line) if line else (f"{type(exc).__name__}: {exc}".splitlines() or ["?"])[0]
