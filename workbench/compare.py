"""What differs between two environments: :func:`compare`, pure, on two :class:`Normalized`.

Per endpoint (in both, only in A, only in B) and category, per key: ``same``, ``differs``,
``only in A`` or ``only in B``. Secrets are told same or different by their sealed digests
(both sides sealed under one in-process key) and never carry a value: their ``a``/``b`` are
placeholders, ``(secret)``, ``(not secret)`` or ``mixed: h1=(secret 1), h2=(secret 2)``.

:func:`to_json` gives the stable structure below (``--json``, the compare screen);
:func:`render` the text. JSON, ``format`` 1 (also in docs/diff-json.md)::

    {"format": 1,
     "differs": bool,            # some key or endpoint differs (unreachable hosts aside)
     "partial": bool,            # some host of either side could not be read
     "a": SIDE, "b": SIDE,
     "counts": {"same": n, "differs": n, "only_a": n, "only_b": n,   # keys, of endpoints in both
                "endpoints": n, "endpoints_only_a": n, "endpoints_only_b": n},
     "endpoints": [{"name": str, "presence": "both" | "only in A" | "only in B",
                    "differs": bool,
                    "keys": [{"category": "release" | "env" | "network" | "health" | "deploy",
                              "key": str,
                              "status": "same" | "differs" | "only in A" | "only in B",
                              "secret": bool,
                              "a": str | null, "b": str | null}]}],   # null: no such key
     "missing": [str],          # endpoints asked for that neither side has
     "ignored": {RULE_ID: n}}   # both sides together, every rule of normalize.RULES
    SIDE = {"env": str, "engine": str, "hosts": [str], "unreachable": {host: reason},
            "partial": bool, "ignored": {RULE_ID: n}}

Endpoints are sorted by name, keys by category (in the order above) then key. Without
``all_keys``, ``endpoints`` holds only those that differ and ``keys`` only keys that are not
``same`` (an endpoint on one side only lists no keys). New fields may be added within format 1;
a change to any of the above raises it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .normalize import CATEGORIES, RULE_IDS, RULES, Fact, Normalized, is_secret, shown

Status = Literal["same", "differs", "only in A", "only in B"]
Presence = Literal["both", "only in A", "only in B"]
FORMAT = 1


@dataclass(frozen=True, slots=True)
class Side:
    """One environment of the comparison: its hosts, those it could not read, what was ignored."""

    env: str
    engine: str
    hosts: tuple[str, ...]
    unreachable: Mapping[str, str]
    ignored: Mapping[str, int]

    @property
    def partial(self) -> bool:
        return bool(self.unreachable)


@dataclass(frozen=True, slots=True)
class KeyDiff:
    """One key: its status and each side's text (None: no such key; secrets: placeholders)."""

    category: str
    key: str
    status: Status
    a: str | None
    b: str | None
    secret: bool = False


@dataclass(frozen=True, slots=True)
class EndpointDiff:
    name: str
    presence: Presence
    keys: tuple[KeyDiff, ...]

    @property
    def differs(self) -> bool:
        return self.presence != "both" or any(k.status != "same" for k in self.keys)


@dataclass(frozen=True, slots=True)
class Counts:
    """Keys by status (endpoints in both), and endpoints by presence."""

    same: int = 0
    differs: int = 0
    only_a: int = 0
    only_b: int = 0
    endpoints: int = 0
    endpoints_only_a: int = 0
    endpoints_only_b: int = 0


@dataclass(frozen=True, slots=True)
class Comparison:
    a: Side
    b: Side
    endpoints: tuple[EndpointDiff, ...]
    missing: tuple[str, ...] = ()
    """Endpoints asked for that neither side has."""
    counts: Counts = field(default_factory=Counts)

    @property
    def differs(self) -> bool:
        return any(e.differs for e in self.endpoints)

    @property
    def partial(self) -> bool:
        return self.a.partial or self.b.partial

    @property
    def ignored(self) -> dict[str, int]:
        """rule id -> values both sides' normalization dropped."""
        return {r: self.a.ignored.get(r, 0) + self.b.ignored.get(r, 0) for r in RULE_IDS}


def compare(a: Normalized, b: Normalized, endpoints: Sequence[str] | None = None) -> Comparison:
    """What differs between ``a`` and ``b`` (every endpoint, or only ``endpoints``)."""
    names = sorted(set(a.endpoints) | set(b.endpoints))
    missing: tuple[str, ...] = ()
    if endpoints is not None:
        wanted = set(endpoints)
        missing = tuple(sorted(wanted - set(names)))
        names = [n for n in names if n in wanted]
    diffs = tuple(_endpoint(n, a.endpoints.get(n), b.endpoints.get(n)) for n in names)
    return Comparison(_side(a), _side(b), diffs, missing, _count(diffs))


def _side(n: Normalized) -> Side:
    return Side(n.env, n.engine, n.hosts, dict(n.unreachable), dict(n.ignored))


def _endpoint(name: str, a: Mapping[str, Mapping[str, Fact]] | None,
              b: Mapping[str, Mapping[str, Fact]] | None) -> EndpointDiff:
    presence: Presence = "both" if a is not None and b is not None else (
        "only in A" if a is not None else "only in B")
    a, b = a or {}, b or {}
    keys = []
    for category in CATEGORIES:
        left, right = a.get(category, {}), b.get(category, {})
        for key in sorted(set(left) | set(right)):
            keys.append(_key(category, key, left.get(key), right.get(key)))
    return EndpointDiff(name, presence, tuple(keys))


def _key(category: str, key: str, a: Fact | None, b: Fact | None) -> KeyDiff:
    status: Status = ("only in B" if a is None else "only in A" if b is None
                      else "same" if a == b else "differs")
    secret = is_secret(a) or is_secret(b)
    return KeyDiff(category, key, status, _text(a, secret), _text(b, secret), secret)


def _text(fact: Fact | None, secret: bool) -> str | None:
    """What a side shows: secrets (and plain values where the other side is secret) as
    placeholders only."""
    if fact is None:
        return None
    if secret and isinstance(fact, str):
        return "(not secret)"
    return shown(fact)


def _count(diffs: tuple[EndpointDiff, ...]) -> Counts:
    keys = [k.status for e in diffs if e.presence == "both" for k in e.keys]
    presence = [e.presence for e in diffs]
    return Counts(same=keys.count("same"), differs=keys.count("differs"),
                  only_a=keys.count("only in A"), only_b=keys.count("only in B"),
                  endpoints=presence.count("both"),
                  endpoints_only_a=presence.count("only in A"),
                  endpoints_only_b=presence.count("only in B"))


def to_json(comparison: Comparison, all_keys: bool) -> dict[str, Any]:
    """The stable structure of the module docstring (``format`` 1)."""
    def side(s: Side) -> dict[str, Any]:
        return {"env": s.env, "engine": s.engine, "hosts": list(s.hosts),
                "unreachable": dict(s.unreachable), "partial": s.partial,
                "ignored": {r: s.ignored.get(r, 0) for r in RULE_IDS}}

    endpoints = []
    for e in comparison.endpoints:
        if not (all_keys or e.differs):
            continue
        keys = [k for k in e.keys if all_keys or (e.presence == "both" and k.status != "same")]
        endpoints.append({"name": e.name, "presence": e.presence, "differs": e.differs,
                          "keys": [{"category": k.category, "key": k.key, "status": k.status,
                                    "secret": k.secret, "a": k.a, "b": k.b} for k in keys]})
    c = comparison.counts
    return {"format": FORMAT, "differs": comparison.differs, "partial": comparison.partial,
            "a": side(comparison.a), "b": side(comparison.b),
            "counts": {"same": c.same, "differs": c.differs, "only_a": c.only_a,
                       "only_b": c.only_b, "endpoints": c.endpoints,
                       "endpoints_only_a": c.endpoints_only_a,
                       "endpoints_only_b": c.endpoints_only_b},
            "endpoints": endpoints, "missing": list(comparison.missing),
            "ignored": comparison.ignored}


MARKS: Mapping[str, str] = {"same": " ", "differs": "~", "only in A": "-", "only in B": "+"}
"""The first column of a key's line: ``~`` differs, ``-`` only in A, ``+`` only in B."""


def render(comparison: Comparison, all_keys: bool, width: int = 100) -> list[str]:
    """The text of a comparison: a header, then per endpoint the keys that differ (every key
    with ``all_keys``) in two aligned columns, A then B, cut to ``width``; the last line is
    what normalization ignored."""
    a, b = comparison.a, comparison.b
    lines = [_cut(f"A {a.env}: {', '.join(a.hosts) or '(no hosts)'}", width),
             _cut(f"B {b.env}: {', '.join(b.hosts) or '(no hosts)'}", width)]
    for mark, s in (("A", a), ("B", b)):
        lines += [_cut(f"  {mark} {host} unreachable: {why}", width)
                  for host, why in sorted(s.unreachable.items())]
    shown_endpoints = [e for e in comparison.endpoints if all_keys or e.differs]
    rows = [(e, [k for k in e.keys if all_keys or (e.presence == "both" and k.status != "same")])
            for e in shown_endpoints]
    key_width = min(max([len(k.key) for _, ks in rows for k in ks] + [8]), max(8, width // 4))
    lead = 4 + 9 + key_width + 2   # "  ~ ", category, key
    column = max(8, (width - lead - 2) // 2)
    if rows:
        lines.append(" " * lead + _pad(f"A {a.env}", column) + "  " + _cut(f"B {b.env}", column))
    for e, keys in rows:
        if e.presence == "both":
            lines.append(_cut(e.name, width))
        else:
            here, there = (a, b) if e.presence == "only in A" else (b, a)
            note = f"; {there.env} has unreachable hosts" if there.partial else ""
            lines.append(_cut(f"{e.name}: {e.presence} ({here.env}){note}", width))
        for k in keys:
            left = _pad(_flat("(none)" if k.a is None else k.a), column)
            right = _cut(_flat("(none)" if k.b is None else k.b), column)
            line = f"  {MARKS[k.status]} {k.category:<7}  {_pad(_flat(k.key), key_width)}  {left}"
            lines.append((line + "  " + right).rstrip())
    if comparison.missing:
        lines.append(_cut("not found in either environment: " + ", ".join(comparison.missing),
                          width))
    if not comparison.differs:
        note = " (unreachable hosts not compared)" if comparison.partial else ""
        count = comparison.counts.endpoints
        lines.append(_cut(f"no differences between {a.env} and {b.env}: {count} endpoint"
                          f"{'' if count == 1 else 's'} compared{note}", width))
    lines.append(ignored_line(comparison.ignored))
    return lines


def ignored_line(ignored: Mapping[str, int]) -> str:
    """``ignored by normalization: 4 container ids, 2 ephemeral ports`` (table order)."""
    parts = [f"{n} {rule.one if n == 1 else rule.what}" for rule in RULES
             if (n := ignored.get(rule.id, 0))]
    return "ignored by normalization: " + (", ".join(parts) or "nothing")


def _flat(text: str) -> str:
    """One line: control characters escaped (a value never breaks the columns)."""
    if text == "":
        return '""'
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def _pad(text: str, width: int) -> str:
    return _cut(text, width).ljust(width)
