"""The rows of the compare screen, as plain data, from the core's JSON.

:func:`rows` turns the ``compare`` JSON (``workbench.compare.to_json(c, all_keys=True)``, see
docs/diff-json.md) into the screen's rows: per endpoint a heading, then its keys, differences
only or every key, narrowed by a filter text. :func:`from_drift` turns ``drift_json`` (an
environment against the repo) into the same structure, so both show in one layout.

A secret's row never carries a value: only ``same`` or ``differs`` (the core gives
placeholders only; :func:`rows` does not even show those).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REPO = "@repo"
"""The picker's id for "the repo" (no environment name can start with ``@``)."""

NOTE = "note"
"""A drift row that explains (shown in both modes, never a jump target)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the compare table: an endpoint's heading (``key`` empty) or a key."""

    endpoint: str
    heading: str = ""
    """For a heading: what to say after the name (``only in A (staging)``, drift flags)."""
    category: str = ""
    key: str = ""
    status: str = ""
    """``same``, ``differs``, ``only in A``, ``only in B`` or :data:`NOTE` (a key row)."""
    secret: bool = False
    a: str | None = None
    b: str | None = None

    @property
    def is_key(self) -> bool:
        return bool(self.status)

    @property
    def differs(self) -> bool:
        """A key whose sides are not the same: what ``n``/``p`` jump to."""
        return self.status not in ("", "same", NOTE)

    def shown(self, side: str) -> str:
        """The text of side ``a`` or ``b``: a secret shows only same/differs, never a value."""
        value = self.a if side == "a" else self.b
        if value is None:
            return "(none)"
        if self.secret:
            return "secret, " + ("same" if self.status == "same" else "differs")
        return flat(value)


def flat(text: str) -> str:
    """One line: control characters escaped, an empty value as ``""``."""
    if text == "":
        return '""'
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def rows(data: Mapping[str, Any], all_keys: bool, text: str = "") -> list[Row]:
    """The rows to show of ``data`` (compare JSON made with every key): keys that are not
    ``same`` of endpoints in both (every key with ``all_keys``), under a heading per endpoint
    (as ``diff`` does); ``text`` keeps the
    endpoints whose name holds it and, of the others, the keys whose category or key holds
    it (case-insensitive)."""
    wanted = text.strip().lower()
    a_env, b_env = data["a"]["env"], data["b"]["env"]
    found: list[Row] = []
    for endpoint in data["endpoints"]:
        name, presence = endpoint["name"], endpoint["presence"]
        if not (all_keys or endpoint["differs"]):
            continue
        keys = [k for k in endpoint["keys"]  # one side only: its keys with every key only
                if all_keys or (presence == "both" and k["status"] != "same")]
        named = not wanted or wanted in name.lower()
        if not named:
            keys = [k for k in keys if wanted in k["category"].lower()
                    or wanted in k["key"].lower()]
            if not keys:
                continue
        if presence == "both":
            heading = endpoint.get("note", "")
        else:
            here = a_env if presence == "only in A" else b_env
            heading = f"{presence} ({here})"
            extra = endpoint.get("note", "")
            heading += f"; {extra}" if extra else ""
        found.append(Row(name, heading))
        found += [Row(name, "", k["category"], k["key"], k["status"], bool(k["secret"]),
                      k["a"], k["b"]) for k in keys]
    return found


def differing(data: Mapping[str, Any]) -> int:
    """How many keys differ (notes aside), over every endpoint."""
    return sum(1 for e in data["endpoints"] for k in e["keys"]
               if k["status"] not in ("same", NOTE))


# -- an environment against the repo ------------------------------------------------------
def from_drift(drift: Mapping[str, Any], root: str) -> dict[str, Any]:
    """``drift_json`` as the compare structure: A is the environment, B the repo at
    ``root``; per endpoint (and group of hosts) release, git and config keys, and notes."""
    endpoints = []
    several = len(drift["hosts"]) > 1
    for item in drift["endpoints"]:
        name = item["endpoint"]
        if several and item["hosts"]:
            name += f" on {', '.join(item['hosts'])}"
        flags = item["flags"]
        presence = ("only in B" if "never-deployed" in flags else
                    "only in A" if "removed" in flags else "both")
        keys = list(_drift_keys(item))
        note = ", ".join(f for f in flags if f not in ("never-deployed", "removed"))
        endpoints.append({"name": name, "presence": presence,
                          "differs": bool(flags) or any(k["status"] != "same" for k in keys),
                          "note": note or ("in sync" if presence == "both" else ""),
                          "keys": keys})
    side_a = {"env": drift["env"], "engine": "", "hosts": list(drift["hosts"]),
              "unreachable": dict(drift["unreachable"]),
              "partial": bool(drift["unreachable"]), "ignored": {}}
    side_b = {"env": "repo", "engine": "", "hosts": [root], "unreachable": {},
              "partial": False, "ignored": {}}
    return {"format": 1, "differs": bool(drift["drifted"]),
            "partial": not drift["complete"], "a": side_a, "b": side_b,
            "endpoints": endpoints, "missing": [], "ignored": {}, "drift": True}


def _key(category: str, key: str, a: Any, b: Any, secret: bool = False) -> dict[str, Any]:
    a = None if a is None else _text(a)
    b = None if b is None else _text(b)
    status = ("only in B" if a is None else "only in A" if b is None
              else "same" if a == b else "differs")
    return {"category": category, "key": key, "status": status, "secret": secret,
            "a": "(secret)" if secret and a is not None else a,
            "b": "(secret)" if secret and b is not None else b}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def _sha(side: Mapping[str, Any]) -> str:
    return (side["git_sha"] or "-") + (" (dirty)" if side["dirty"] else "")


def _drift_keys(item: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    dep, repo = item["deployed"], item["repo"]
    if dep is not None or repo is not None:
        yield _key("release", "version", dep and dep["version"], repo and repo["version"])
        yield _key("release", "git sha", dep and _sha(dep), repo and _sha(repo))
    log = item["commits"]
    if log is not None:
        for commit in log["added"]:
            yield _key("git", f"commit {commit['sha']}", None, commit["subject"])
        for commit in log["removed"]:
            yield _key("git", f"commit {commit['sha']}", commit["subject"], None)
        more = (log["added_count"] - len(log["added"])) + \
            (log["removed_count"] - len(log["removed"]))
        if more > 0:
            yield {"category": "git", "key": "commits", "status": NOTE, "secret": False,
                   "a": f"{more} more not listed", "b": None}
    for change in item["uncommitted"]:
        yield _key("git", "uncommitted", None, change.strip())
    config = item["config"]
    if config is not None:
        for ch in config["variables"]:
            yield _key("env", ch["key"], ch["old"], ch["new"])
        for ch in config["endpoint_config"]:
            yield _key("deploy", f"endpoint.yaml {ch['key']}", ch["old"], ch["new"])
        for ch in config["secret_names"]:
            added = ch["kind"] == "added"
            yield _key("env", ch["key"], None if added else "", "" if added else None,
                       secret=True)
        if config["secrets"] != "same":
            yield {"category": "env", "key": "secrets", "status": "differs", "secret": True,
                   "a": "(secret)", "b": "(secret)"} if config["secrets"] == "differs" else \
                {"category": "env", "key": "secrets", "status": NOTE, "secret": False,
                 "a": "not recorded: cannot tell", "b": None}
    for note in item["notes"]:
        yield {"category": NOTE, "key": "", "status": NOTE, "secret": False, "a": note,
               "b": None}
