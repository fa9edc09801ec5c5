"""Drift between an endpoint's repo and what runs in an environment, as plain data.

:func:`drift` turns an observed :class:`~workbench.observed.EnvState` and the repo's side
(:class:`RepoFacts`: per endpoint what a deploy would run now, its uncommitted changes and
the git log from each deployed sha to HEAD, read by :mod:`workbench.ops.drift`) into a
:class:`Drift`: per endpoint and group of hosts that run the same thing, its flags

- ``commits``: the repo has commits the deployed sha lacks (listed, one line each);
- ``behind``: the deployed sha has commits the repo's HEAD lacks;
- ``sha-unknown``: the deployed sha is not in the repo (or a side has none);
- ``uncommitted``: the repo has uncommitted changes (listed, as ``git status`` has them);
- ``context``: the build context changed though the sha is the same (the version, a hash of
  the build context and args, differs: uncommitted changes, a model or utility, build args);
- ``config``: endpoint.yaml values, variables, secret names or secrets differ from the
  deployed release's (by name and value for plain variables; *differ* only for secrets);
- ``missing``: released, but no container runs it;
- ``never-deployed``: in the repo, not on the hosts; ``removed``: runs, not in the repo.

On Swarm the manager (the first host) holds every service (:mod:`workbench.observed`), so it
is the one host compared; a service that runs another number of replicas than the repo's
endpoint.yaml asks for (a ``scale``) is ``config`` drift, with a note saying both.

A host that could not be read is kept in :attr:`Drift.unreachable`, never silently dropped.
:func:`render_drift` and :func:`drift_json` present it. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .gitlog import GitLog, log_json, log_lines
from .observed import EnvState, HostState
from .releasediff import ConfigDiff, config_diff, config_json, config_lines
from .releases import Release
from .swarm.cells import is_service

_EMPTY: Mapping[str, Any] = MappingProxyType({})
FLAGS = ("never-deployed", "removed", "missing", "commits", "behind", "sha-unknown",
         "uncommitted", "context", "config")
"""Every drift flag, in the order they are listed."""


@dataclass(frozen=True, slots=True)
class RepoEndpoint:
    """What the repo would deploy of one endpoint now, and its git facts."""

    name: str
    version: str
    """The build context's version (a hash of the context and the build args)."""
    git_sha: str = ""
    dirty: bool = False
    changes: tuple[str, ...] = ()
    """``git status --porcelain`` lines (``" M app.py"``)."""
    config_hash: str = ""
    """Under the environment's key ("" when it has none: nothing was deployed there yet)."""
    secrets_generation: str = ""
    variables: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    secret_names: tuple[str, ...] = ()
    endpoint_config: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    """The endpoint.yaml values a deploy would record (:func:`.ops.inputs.deployed_config`)."""
    logs: Mapping[str, GitLog] = field(default_factory=lambda: _EMPTY)
    """deployed git sha -> the log from it to HEAD."""

    def as_release(self) -> Release:
        """The release record a deploy would write now (to compare configurations)."""
        return Release(self.name, self.version, "repo", "", git_sha=self.git_sha,
                       dirty=self.dirty, config_hash=self.config_hash,
                       secrets_generation=self.secrets_generation,
                       variables=dict(self.variables), secret_names=self.secret_names,
                       endpoint_config=dict(self.endpoint_config))


@dataclass(frozen=True, slots=True)
class RepoFacts:
    """The repo's side of every endpoint of the project."""

    endpoints: Mapping[str, RepoEndpoint]
    keyed: bool = True
    """Whether config hashes are under the environment's key (else they are not compared)."""


@dataclass(frozen=True, slots=True)
class Deployed:
    """What runs of one endpoint on a host: its container's labels, else its release's."""

    version: str
    git_sha: str = ""
    dirty: bool = False
    config_hash: str = ""
    state: str = ""
    """The container's state ("" when there is none)."""
    release: Release | None = None
    """The current release record (the last ok one) on the host."""
    replicas: int = 0
    """The replicas a Swarm service wants (0: not a Swarm service)."""

    @property
    def key(self) -> tuple[Any, ...]:
        """What makes two hosts run the same thing."""
        r = self.release
        return (self.version, self.git_sha, self.dirty, self.config_hash, self.state,
                None if r is None else (r.version, r.config_hash, r.secrets_generation),
                self.replicas)


@dataclass(frozen=True, slots=True)
class EndpointDrift:
    """One endpoint on the hosts (``hosts``) where it runs the same thing."""

    endpoint: str
    hosts: tuple[str, ...]
    flags: tuple[str, ...]
    deployed: Deployed | None
    repo: RepoEndpoint | None
    commits: GitLog | None = None
    """From the deployed sha to the repo's HEAD (None when it could not be asked)."""
    config: ConfigDiff | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Drift:
    """``diff ENV --repo``: every endpoint of the repo or of the hosts."""

    env: str
    hosts: tuple[str, ...]
    """Every host of the environment."""
    endpoints: tuple[EndpointDrift, ...]
    unreachable: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """host -> why it could not be read (the rest is still reported)."""

    @property
    def complete(self) -> bool:
        return not self.unreachable

    @property
    def drifted(self) -> bool:
        return any(item.flags for item in self.endpoints)


def drift(state: EnvState, repo: RepoFacts) -> Drift:
    """The drift of every endpoint between ``repo`` and ``state``, per group of reachable
    hosts that run the same thing."""
    read = [h for h in state.hosts if not h.unreachable]
    if state.engine == "swarm":  # the manager holds every service; the nodes hold none
        read = [h for h in state.hosts[:1] if not h.unreachable]
    items: list[EndpointDrift] = []
    for name in sorted(set(repo.endpoints) | set(state.endpoints)):
        want = repo.endpoints.get(name)
        if not read:
            items.append(EndpointDrift(name, (), ("uncommitted",) if want and want.dirty
                                       else (), None, want,
                                       notes=("no host could be read",)))
            continue
        groups: dict[Any, list[str]] = {}
        found: dict[Any, Deployed | None] = {}
        for host in read:
            deployed = deployed_on(host, name)
            key = None if deployed is None else deployed.key
            groups.setdefault(key, []).append(host.host)
            found[key] = deployed
        for key, hosts in groups.items():
            if found[key] is None and want is None:
                continue
            items.append(endpoint_drift(name, tuple(hosts), found[key], want, repo.keyed))
    return Drift(state.env, tuple(h.host for h in state.hosts), tuple(items),
                 MappingProxyType(dict(state.unreachable)))


def deployed_on(host: HostState, name: str) -> Deployed | None:
    """What runs of ``name`` on ``host`` (None: neither a container nor a release)."""
    instance = next((i for i in host.instances if i.endpoint == name), None)
    release = host.releases.get(name)
    if instance is not None:
        return Deployed(instance.version, instance.git_sha, instance.dirty,
                        instance.config_hash, instance.state or "unknown", release,
                        instance.replicas_desired if is_service(instance) else 0)
    if release is not None:
        return Deployed(release.version, release.git_sha, release.dirty, release.config_hash,
                        "", release)
    return None


def endpoint_drift(name: str, hosts: tuple[str, ...], deployed: Deployed | None,
                   want: RepoEndpoint | None, keyed: bool) -> EndpointDrift:
    """The drift of one endpoint on ``hosts``: ``deployed`` there, ``want`` in the repo."""
    if want is None:
        assert deployed is not None
        gone = ("removed", "missing") if deployed.state != "running" else ("removed",)
        return EndpointDrift(name, hosts, gone, deployed, None)
    if deployed is None:
        return EndpointDrift(name, hosts, ("never-deployed",), None, want)
    flags: list[str] = []
    notes: list[str] = []
    if deployed.state != "running":
        flags.append("missing")
        notes.append("released, but no container runs it" if not deployed.state
                     else f"its container is {deployed.state}")
    log = None
    if deployed.git_sha and want.git_sha:
        log = want.logs.get(deployed.git_sha)
        if log is None and deployed.git_sha == want.git_sha:
            log = GitLog()
    if log is None or log.error:
        flags.append("sha-unknown")
        notes.append(_no_log(deployed, want, log))
    else:
        flags += [f for f, n in (("commits", log.added_count), ("behind", log.removed_count))
                  if n]
    if want.dirty:
        flags.append("uncommitted")
    if deployed.version != want.version and deployed.git_sha == want.git_sha:
        flags.append("context")
        notes.append(_context_note(deployed, want))
    if deployed.dirty:
        notes.append(f"deployed from uncommitted changes on {deployed.git_sha or 'no commit'}")
    config = None
    if deployed.release is not None:
        config = config_diff(deployed.release, want.as_release())
        if not keyed:
            config = _unkeyed(config)
    else:
        notes.append("no release record: its config is not known")
    hash_differs = keyed and bool(deployed.config_hash and want.config_hash) and \
        deployed.config_hash != want.config_hash
    asked = want.endpoint_config.get("replicas")
    scaled = bool(deployed.replicas) and isinstance(asked, int) and asked != deployed.replicas
    if scaled:
        notes.append(f"the service wants {deployed.replicas} replicas; endpoint.yaml asks for "
                     f"{asked}")
    if (config is not None and config.changed) or hash_differs or scaled:
        flags.append("config")
    return EndpointDrift(name, hosts, tuple(f for f in FLAGS if f in flags), deployed, want,
                         log if log is not None and not log.error else None, config,
                         tuple(notes))


def _unkeyed(config: ConfigDiff) -> ConfigDiff:
    """``config`` without its hashes: without the environment's key they cannot match."""
    return replace(config, old_hash="", new_hash="")


def _no_log(deployed: Deployed, want: RepoEndpoint, log: GitLog | None) -> str:
    if not deployed.git_sha:
        return "deployed without a git sha: no commits to compare"
    if not want.git_sha:
        return "the repo has no commit (or is not a git repo): no commits to compare"
    return f"no git log from {deployed.git_sha}: {log.error if log else 'not read'}"


def _context_note(deployed: Deployed, want: RepoEndpoint) -> str:
    causes = (["uncommitted changes"] if want.dirty or deployed.dirty else []) + \
        ["a model or utility it includes", "build args"]
    return (f"same sha {want.git_sha or '(none)'}, other version: deployed {deployed.version},"
            f" the repo builds {want.version} ({', '.join(causes)})")


# -- presenting ---------------------------------------------------------------------------
def render_drift(d: Drift) -> list[str]:
    """Plain lines. ``unreachable: HOST: reason`` lines (and ``partial: ...``) first; then
    per endpoint ``NAME[ on HOSTS]: FLAGS`` (or ``in sync``, ``never deployed``, ``removed
    from the repo``), then indented: ``deployed: version V, git SHA[+dirty]`` and ``repo: ...``,
    the commits since the deployed sha (``+ sha subject``; ``- sha subject`` for deployed
    commits the repo lacks), ``uncommitted changes:`` (``git status --porcelain`` lines),
    the config changes (``variable NAME: old -> new``, ``endpoint.yaml KEY: ...``, ``secret
    NAME: added|removed``, ``secrets: differ``; never a secret's value) and notes."""
    lines = [f"unreachable: {host}: {why}" for host, why in d.unreachable.items()]
    if d.unreachable:
        read = len(d.hosts) - len(d.unreachable)
        lines.append(f"partial: {read} of {len(d.hosts)} hosts read; the rest follows")
    for item in d.endpoints:
        where = f" on {', '.join(item.hosts)}" if len(d.hosts) > 1 and item.hosts else ""
        lines.append(f"{item.endpoint}{where}: {_headline(item)}")
        lines += ["  " + line for line in _detail(item)]
    if not d.endpoints:
        lines.append("no endpoints in the repo or on the hosts")
    return lines


def _headline(item: EndpointDrift) -> str:
    if "never-deployed" in item.flags:
        return "never deployed"
    if "removed" in item.flags:
        return "removed from the repo, still deployed" + (
            " (not running)" if "missing" in item.flags else "")
    if not item.hosts:
        return f"{', '.join(item.flags)} (no host read)" if item.flags else "no host read"
    return ", ".join(item.flags) or "in sync"


def _detail(item: EndpointDrift) -> list[str]:
    lines: list[str] = []
    dep, want = item.deployed, item.repo
    if dep is not None:
        lines.append(f"deployed: version {dep.version}, git {_sha(dep.git_sha, dep.dirty)}")
    if want is not None and dep is not None:
        lines.append(f"repo:     version {want.version}, git {_sha(want.git_sha, want.dirty)}")
    if item.commits is not None:
        lines += log_lines(item.commits, "commits", "since the deployed sha",
                           "deployed, not in the repo")
    if want is not None and want.changes and "never-deployed" not in item.flags:
        lines.append(f"uncommitted changes ({len(want.changes)}):")
        lines += [f"  {change}" for change in want.changes]
    if item.config is not None and "config" in item.flags:
        lines.append("config changed since the deploy:")
        lines += ["  " + line for line in config_lines(item.config)] or \
            [f"  config hash {item.config.old_hash or '-'} -> {item.config.new_hash or '-'}"]
    lines += [f"note: {note}" for note in item.notes]
    return lines


def drift_json(d: Drift) -> dict[str, Any]:
    """``{"format": 1, "env", "hosts", "complete", "unreachable": {host: reason}, "drifted",
    "endpoints": [{"endpoint", "hosts", "flags", "deployed", "repo", "commits",
    "uncommitted", "config", "notes"}]}``. ``deployed`` is ``{"version", "git_sha", "dirty",
    "config_hash", "state", "release": {"version", "time", "user", "kind"}|null}``, ``repo``
    ``{"version", "git_sha", "dirty", "config_hash"}``, ``commits`` a git log
    (:func:`.releasediff.log_json`; ``added`` are the commits since the deployed sha),
    ``config`` :func:`.releasediff.config_json`. Null where a side has nothing. No secret
    values."""
    return {"format": 1, "env": d.env, "hosts": list(d.hosts), "complete": d.complete,
            "unreachable": dict(d.unreachable), "drifted": d.drifted,
            "endpoints": [_item_json(item) for item in d.endpoints]}


def _item_json(item: EndpointDrift) -> dict[str, Any]:
    dep, want = item.deployed, item.repo
    return {
        "endpoint": item.endpoint, "hosts": list(item.hosts), "flags": list(item.flags),
        "deployed": None if dep is None else {
            "version": dep.version, "git_sha": dep.git_sha, "dirty": dep.dirty,
            "config_hash": dep.config_hash, "state": dep.state or None,
            "release": None if dep.release is None else {
                "version": dep.release.version, "time": dep.release.time,
                "user": dep.release.user, "kind": dep.release.kind}},
        "repo": None if want is None else {
            "version": want.version, "git_sha": want.git_sha, "dirty": want.dirty,
            "config_hash": want.config_hash or None},
        "commits": None if item.commits is None else log_json(item.commits),
        "uncommitted": list(want.changes) if want is not None else [],
        "config": None if item.config is None else config_json(item.config),
        "notes": list(item.notes),
    }


def _sha(sha: str, dirty: bool) -> str:
    return (sha or "-") + ("+dirty" if dirty else "")
