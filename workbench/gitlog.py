"""The commits between two shas of a repo, as plain data (:class:`GitLog`), and its text and
JSON forms. :mod:`workbench.ops.drift` reads it with ``git log``; nothing here does I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GitLog:
    """The commits between two shas of an endpoint's repo (``git log old...new``).

    ``added`` are in ``new`` and not in ``old`` (newest first, ``"abc1234 subject"``),
    ``removed`` the other way round (a rollback, or a repo behind what was deployed). The
    lists may be cut short; the counts are complete. ``error`` says why there is no log."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    added_count: int = 0
    removed_count: int = 0
    error: str = ""


def log_lines(log: GitLog, what: str = "commits", added: str = "added",
              removed: str = "removed") -> list[str]:
    """``WHAT (N ADDED, M REMOVED):`` then ``+ sha subject`` / ``- sha subject`` lines (none
    when there are no commits; one line when there is no log)."""
    if log.error:
        return [f"{what}: unknown ({log.error})"]
    if not log.added_count and not log.removed_count:
        return []
    counts = [f"{n} {label}" for n, label in ((log.added_count, added),
                                              (log.removed_count, removed)) if n]
    lines = [f"{what} ({', '.join(counts)}):"]
    lines += [f"  + {c}" for c in log.added]
    if log.added_count > len(log.added):
        lines.append(f"  + ... {log.added_count - len(log.added)} more")
    lines += [f"  - {c}" for c in log.removed]
    if log.removed_count > len(log.removed):
        lines.append(f"  - ... {log.removed_count - len(log.removed)} more")
    return lines


def log_json(log: GitLog) -> dict[str, Any]:
    """``{"added": [{"sha", "subject"}], "removed": [...], "added_count", "removed_count",
    "error"}``."""
    return {"added": _commits(log.added), "removed": _commits(log.removed),
            "added_count": log.added_count, "removed_count": log.removed_count,
            "error": log.error or None}


def _commits(lines: Iterable[str]) -> list[dict[str, str]]:
    return [{"sha": sha, "subject": subject}
            for sha, _, subject in (line.partition(" ") for line in lines)]
