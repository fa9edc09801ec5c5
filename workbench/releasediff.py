"""What changed between two releases of an endpoint, as plain data, and its text and JSON.

:func:`release_diff` compares two :class:`~workbench.releases.Release` records: version, git
sha, the plain variables, the endpoint.yaml values and secret names they ran with, and their
secrets generation (only *same* or *differs*: records hold no secret values, and neither does
anything here), plus the git log between their shas when the repo has them
(:class:`~workbench.gitlog.GitLog`, read by :mod:`workbench.ops.drift`). :func:`config_diff`
is the config part alone; drift (:mod:`workbench.drift`) uses it to say what differs between
a release and the repo.

:func:`pick` chooses the two records to compare on one host (``--previous``: the current
release and the one before it; ``--since V``: the release of version ``V``, or a unique prefix
of it, and the current one), :func:`collect` gathers the endpoints and hosts into one
:class:`ReleaseChanges`, and :func:`render_release_changes` / :func:`release_changes_json`
present it. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import BadInput
from .gitlog import GitLog, log_json, log_lines
from .releases import Release

SAME, DIFFERS, UNKNOWN = "same", "differs", "unknown"
"""A secrets comparison: equal generations, different ones, or one side not recorded."""


@dataclass(frozen=True, slots=True)
class Change:
    """One key that differs: added (``old`` None), removed (``new`` None) or changed."""

    key: str
    old: Any = None
    new: Any = None

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        return "added" if self.old is None else "removed" if self.new is None else "changed"


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    """How two configurations of an endpoint differ (never a secret's value)."""

    variables: tuple[Change, ...] = ()
    """Plain variables (values shown: records hold plain ones only)."""
    endpoint_config: tuple[Change, ...] = ()
    """endpoint.yaml values the container runs with (port, health, routes, data, ...)."""
    secret_names: tuple[Change, ...] = ()
    """Secret names added or removed (no values, ever)."""
    secrets: str = SAME
    """:data:`SAME`, :data:`DIFFERS`, or :data:`UNKNOWN` when a side did not record it."""
    old_hash: str = ""
    new_hash: str = ""
    recorded: bool = True
    """False when a side does not record its values (a record older than these fields):
    then only the config hashes say whether they differ."""

    @property
    def hash_differs(self) -> bool:
        return bool(self.old_hash and self.new_hash and self.old_hash != self.new_hash)

    @property
    def changed(self) -> bool:
        """Whether anything differs that this can tell."""
        return bool(self.variables or self.endpoint_config or self.secret_names
                    or self.secrets == DIFFERS or self.hash_differs)


@dataclass(frozen=True, slots=True)
class Side:
    """One release as a diff shows it."""

    version: str
    git_sha: str = ""
    dirty: bool = False
    config_hash: str = ""
    kind: str = "deploy"
    time: str = ""
    user: str = ""

    @classmethod
    def of(cls, release: Release) -> Side:
        return cls(release.version, release.git_sha, release.dirty, release.config_hash,
                   release.kind, release.time, release.user)


@dataclass(frozen=True, slots=True)
class ReleaseDiff:
    """What changed from release ``old`` to release ``new`` of one endpoint."""

    endpoint: str
    old: Side
    new: Side
    config: ConfigDiff
    git_log: GitLog | None = None
    """None when no log was asked for (same sha, or no shas)."""

    @property
    def version_changed(self) -> bool:
        return self.old.version != self.new.version

    @property
    def sha_changed(self) -> bool:
        return (self.old.git_sha, self.old.dirty) != (self.new.git_sha, self.new.dirty)

    @property
    def changed(self) -> bool:
        return self.version_changed or self.sha_changed or self.config.changed


@dataclass(frozen=True, slots=True)
class Pick:
    """The two records to compare on one host, or why there are not two (``note``)."""

    old: Release | None = None
    new: Release | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """One endpoint's release diff, on the hosts where it is the same (or why there is none)."""

    endpoint: str
    hosts: tuple[str, ...]
    diff: ReleaseDiff | None
    note: str = ""
    """Why there is no diff: never released, the first release, no release matching."""


@dataclass(frozen=True, slots=True)
class ReleaseChanges:
    """``diff ENV --since/--previous``: every endpoint asked for, from its release records."""

    env: str
    since: str | None
    """The release asked for, or None for ``--previous``."""
    items: tuple[EndpointChanges, ...]
    unreachable: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """host -> why it could not be read (the rest is still reported)."""

    @property
    def complete(self) -> bool:
        return not self.unreachable

    @property
    def changed(self) -> bool:
        """Whether some endpoint's two releases differ (for ``--exit-code``)."""
        return any(item.diff is not None and item.diff.changed for item in self.items)


# -- comparing ----------------------------------------------------------------------------
def release_diff(old: Release, new: Release, git_log: GitLog | None = None) -> ReleaseDiff:
    """What changed from ``old`` to ``new`` (two releases of one endpoint)."""
    return ReleaseDiff(new.endpoint, Side.of(old), Side.of(new), config_diff(old, new), git_log)


def config_diff(old: Release, new: Release) -> ConfigDiff:
    """How the configurations ``old`` and ``new`` ran with differ: variables, endpoint.yaml
    values, secret names, and whether the secrets are the same (by their generations)."""
    recorded = bool(old.endpoint_config) and bool(new.endpoint_config)
    return ConfigDiff(
        variables=changes(old.variables, new.variables) if recorded else (),
        endpoint_config=changes(old.endpoint_config, new.endpoint_config) if recorded else (),
        secret_names=_names(old.secret_names, new.secret_names) if recorded else (),
        secrets=secrets_compared(old, new), old_hash=old.config_hash,
        new_hash=new.config_hash, recorded=recorded)


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Change, ...]:
    """The keys added, removed or changed from ``old`` to ``new``, sorted."""
    return tuple(Change(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                 if old.get(k) != new.get(k))


def _names(old: Iterable[str], new: Iterable[str]) -> tuple[Change, ...]:
    """Names added (``old`` None) or removed (``new`` None): the name itself, no value."""
    before, after = set(old), set(new)
    return tuple(Change(k, k if k in before else None, k if k in after else None)
                 for k in sorted(before ^ after))


def secrets_compared(old: Release, new: Release) -> str:
    """:data:`SAME`, :data:`DIFFERS` or :data:`UNKNOWN` (a side has secrets but no recorded
    generation). Generations are HMACs under the environment's key: equal when the values
    are; a new key (``secrets/hmac.key`` removed) makes them differ once."""
    if old.secrets_generation == new.secrets_generation:
        return SAME
    if any(not r.secrets_generation and (r.secret_names or not r.endpoint_config)
           for r in (old, new)):
        return UNKNOWN
    return DIFFERS


# -- choosing the two releases ------------------------------------------------------------
def pick(records: Sequence[Release], host: str, since: str | None) -> Pick:
    """The two successful releases on ``host`` to compare: ``since`` None, the current one
    and the one before it; else the latest release of the version ``since`` names (the
    version or a unique prefix; the current one itself when it is the only one) and the
    current one. Raises BadInput when ``since`` names several versions."""
    ok = [r for r in records if r.outcome == "ok" and r.host == host]
    if not ok:
        failed = sum(1 for r in records if r.host == host)
        return Pick(note="never released" + (f" ({failed} failed)" if failed else ""))
    new = ok[-1]
    if since is None:
        return Pick(ok[-2], new) if len(ok) > 1 else Pick(new=new, note="first release: "
                                                          "nothing before it")
    wanted = since.strip().lower()
    versions = sorted({r.version for r in ok if r.version.startswith(wanted)})
    if len(versions) > 1:
        raise BadInput(f"release '{since}' of '{new.endpoint}' is ambiguous: it starts "
                       f"{', '.join(versions)}", "give more characters of the version")
    if not versions:
        return Pick(new=new, note=f"no release '{since}'")
    earlier = [r for r in ok[:-1] if r.version == versions[0]]
    return Pick(earlier[-1] if earlier else new, new)


def collect(env: str, since: str | None, endpoints: Sequence[str],
            picks: Mapping[tuple[str, str], Pick],
            logs: Mapping[tuple[str, str, str], GitLog],
            unreachable: Mapping[str, str]) -> ReleaseChanges:
    """One :class:`ReleaseChanges` from the picks per (host, endpoint) and the git logs per
    (endpoint, old sha, new sha). Hosts whose diff of an endpoint is the same are one item."""
    hosts = list(dict.fromkeys(host for host, _ in picks))
    items: list[EndpointChanges] = []
    for name in endpoints:
        groups: dict[tuple[Any, ...], list[str]] = {}
        made: dict[tuple[Any, ...], EndpointChanges] = {}
        for host in hosts:
            chosen = picks.get((host, name))
            if chosen is None:
                continue
            diff = None
            if chosen.old is not None and chosen.new is not None:
                key = (name, chosen.old.git_sha, chosen.new.git_sha)
                diff = release_diff(chosen.old, chosen.new, logs.get(key))
            item = EndpointChanges(name, (), diff, chosen.note)
            identity = _identity(item, chosen)
            groups.setdefault(identity, []).append(host)
            made.setdefault(identity, item)
        items += [EndpointChanges(made[k].endpoint, tuple(v), made[k].diff, made[k].note)
                  for k, v in groups.items()]
    return ReleaseChanges(env, since, tuple(items), MappingProxyType(dict(unreachable)))


def _identity(item: EndpointChanges, chosen: Pick) -> tuple[Any, ...]:
    """What makes two hosts' items one: the same records compared (their time aside)."""

    def of(r: Release | None) -> tuple[Any, ...]:
        return () if r is None else (r.version, r.git_sha, r.dirty, r.config_hash,
                                     r.secrets_generation, r.kind)

    return (item.note, of(chosen.old), of(chosen.new), item.diff is None)


# -- presenting ---------------------------------------------------------------------------
def render_release_changes(changes: ReleaseChanges) -> list[str]:
    """Plain lines: per endpoint a header ``NAME: OLD -> NEW`` (version, git sha, time and
    user of each release; ``on HOSTS`` when hosts differ), then one line per change (version,
    git, each commit ``+``/``-``, each variable, endpoint.yaml value, secret name, and
    ``secrets: same|differ|unknown``), or ``no changes``. A host that could not be read is
    one ``unreachable: HOST: reason`` line first, and the report says it is partial."""
    lines = [f"unreachable: {host}: {why}" for host, why in changes.unreachable.items()]
    if changes.unreachable:
        lines.append("partial: the hosts above were not read; the rest follows")
    multi = len({h for item in changes.items for h in item.hosts}) > 1
    for item in changes.items:
        where = f" on {', '.join(item.hosts)}" if multi else ""
        if item.diff is None:
            lines.append(f"{item.endpoint}{where}: {item.note}")
            continue
        d = item.diff
        lines.append(f"{item.endpoint}{where}: {_side(d.old)} -> {_side(d.new)}")
        if d.old == d.new and not d.changed:
            lines.append("  the same release")
            continue
        lines += ["  " + line for line in diff_lines(d)] or ["  no changes"]
    if not changes.items and not changes.unreachable:
        lines.append("no endpoints")
    return lines


def diff_lines(d: ReleaseDiff) -> list[str]:
    """The change lines of one release diff (empty when nothing changed)."""
    lines = []
    if d.version_changed:
        lines.append(f"version: {d.old.version} -> {d.new.version}")
    if d.sha_changed:
        lines.append(f"git: {_sha(d.old.git_sha, d.old.dirty)} -> "
                     f"{_sha(d.new.git_sha, d.new.dirty)}")
    if d.git_log is not None:
        lines += log_lines(d.git_log, "commits")
    lines += config_lines(d.config)
    return lines


def config_lines(c: ConfigDiff) -> list[str]:
    """One line per changed variable, endpoint.yaml value and secret name, and the secrets
    (no value of a secret, ever)."""
    lines = [f"variable {ch.key}: {_change(ch)}" for ch in c.variables]
    lines += [f"endpoint.yaml {ch.key}: {_change(ch)}" for ch in c.endpoint_config]
    lines += [f"secret {ch.key}: {ch.kind}" for ch in c.secret_names]
    if not c.recorded and c.hash_differs:
        lines.append(f"config: differs (hash {c.old_hash} -> {c.new_hash}; a record does "
                     "not say what)")
    if c.secrets == DIFFERS:
        lines.append("secrets: differ")
    elif c.secrets == UNKNOWN:
        lines.append("secrets: unknown (a side does not record them)")
    return lines


def release_changes_json(changes: ReleaseChanges) -> dict[str, Any]:
    """``{"format": 1, "env", "mode": "previous"|"since", "since", "complete", "unreachable":
    {host: reason}, "endpoints": [{"endpoint", "hosts", "note", "old", "new", "changed",
    "version_changed", "sha_changed", "config", "git_log"}]}``. ``old``/``new`` are
    ``{"version", "git_sha", "dirty", "config_hash", "kind", "time", "user"}``; ``config`` is
    :func:`config_json`, ``git_log`` :func:`log_json` (null when not read). No secret values."""
    return {
        "format": 1, "env": changes.env,
        "mode": "previous" if changes.since is None else "since", "since": changes.since,
        "complete": changes.complete, "unreachable": dict(changes.unreachable),
        "endpoints": [_item_json(item) for item in changes.items],
    }


def _item_json(item: EndpointChanges) -> dict[str, Any]:
    d = item.diff
    return {
        "endpoint": item.endpoint, "hosts": list(item.hosts), "note": item.note or None,
        "old": None if d is None else side_json(d.old),
        "new": None if d is None else side_json(d.new),
        "changed": False if d is None else d.changed,
        "version_changed": False if d is None else d.version_changed,
        "sha_changed": False if d is None else d.sha_changed,
        "config": None if d is None else config_json(d.config),
        "git_log": None if d is None or d.git_log is None else log_json(d.git_log),
    }


def side_json(side: Side) -> dict[str, Any]:
    return {"version": side.version, "git_sha": side.git_sha, "dirty": side.dirty,
            "config_hash": side.config_hash, "kind": side.kind, "time": side.time,
            "user": side.user}


def config_json(c: ConfigDiff) -> dict[str, Any]:
    """``{"changed", "recorded", "config_hash": {"old", "new"}, "variables": [{"key", "kind",
    "old", "new"}], "endpoint_config": [...], "secret_names": [{"key", "kind"}], "secrets":
    "same"|"differs"|"unknown"}``."""
    return {
        "changed": c.changed, "recorded": c.recorded,
        "config_hash": {"old": c.old_hash, "new": c.new_hash},
        "variables": [_change_json(ch) for ch in c.variables],
        "endpoint_config": [_change_json(ch) for ch in c.endpoint_config],
        "secret_names": [{"key": ch.key, "kind": ch.kind} for ch in c.secret_names],
        "secrets": c.secrets,
    }


def _change_json(ch: Change) -> dict[str, Any]:
    return {"key": ch.key, "kind": ch.kind, "old": ch.old, "new": ch.new}


def _change(ch: Change) -> str:
    if ch.kind == "added":
        return f"added ({_value(ch.new)})"
    if ch.kind == "removed":
        return f"removed (was {_value(ch.old)})"
    return f"{_value(ch.old)} -> {_value(ch.new)}"


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return '""'
    return str(value)


def _sha(sha: str, dirty: bool) -> str:
    return (sha or "-") + ("+dirty" if dirty else "")


def _side(side: Side) -> str:
    when = f", {side.time}" if side.time else ""
    who = f" by {side.user}" if side.user else ""
    kind = " (rollback)" if side.kind == "rollback" else ""
    return f"{side.version} (git {_sha(side.git_sha, side.dirty)}{when}{who}){kind}"
