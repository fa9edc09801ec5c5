"""Batch commands that read environments: ``status`` (and ``diff``)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode
from .output import Printer, table

if TYPE_CHECKING:
    from ..ops.status import Row


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``status`` to the subcommands."""
    status = sub.add_parser("status", parents=[common], help="what runs where: version, "
                            "health, last release and drift, per endpoint and host",
                            description="Reads every host of the environments (all by "
                            "default) at once. Drift: code (the repo's version is not the one "
                            "running), config (variables, secrets or endpoint.yaml differ), "
                            "missing (released, but no container serves it), removed (runs, "
                            "but no longer in the repo). Exit 3 when a host cannot be read "
                            "(the rest is still shown).")
    status.add_argument("--env", dest="envs", action="append", default=[], metavar="ENV",
                        help="an environment (repeatable; default all)")
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ops.status import status
    from ..sites import open_reachable

    project = load_project(find_root(cwd))
    found = asyncio.run(status(project, args.envs, open_reachable))
    if emit.as_json:
        print(json.dumps({"format": 1, "rows": [_row_json(r) for r in found.rows],
                          "unreachable": found.unreachable}, indent=2))
    else:
        now = datetime.now(UTC)
        rows = [("ENV", "ENDPOINT", "HOST", "VERSION", "GIT", "IMAGE", "HEALTH", "UP",
                 "RESTARTS", "LAST RELEASE", "DRIFT")]
        rows += [_row_text(r, now) for r in found.rows]
        table(rows) if found.rows else print("no environments or endpoints to show")
    return ExitCode.UNREACHABLE if found.unreachable else ExitCode.OK


def _row_text(row: Row, now: datetime) -> tuple[str, ...]:
    if row.unreachable:
        return (row.env, row.endpoint, row.host, f"unreachable: {row.unreachable}", *[""] * 7)
    i, last = row.instance, row.last
    release = "-" if last is None else (f"{_ago(last.time, now)} ago {last.outcome}"
                                        f" by {last.user or '?'}")
    if i is None:
        version = row.release.version if row.release else "-"
        return (row.env, row.endpoint, row.host, version, "-", "-", "not running", "-", "-",
                release, " ".join(row.drift) or "-")
    git = (i.git_sha or "-") + ("+dirty" if i.dirty else "")
    health = i.health or i.state
    up = _ago(i.started_at, now) if i.state == "running" else i.state
    return (row.env, row.endpoint, row.host, i.version or "-", git,
            i.image_id.removeprefix("sha256:")[:12] or "-", health, up, str(i.restarts),
            release, " ".join(row.drift) or "-")


def _row_json(row: Row) -> dict[str, Any]:
    i, last = row.instance, row.last
    return {
        "env": row.env, "endpoint": row.endpoint, "host": row.host,
        "unreachable": row.unreachable or None,
        "running": None if i is None else {
            "container": i.container, "state": i.state, "health": i.health,
            "version": i.version, "git_sha": i.git_sha, "dirty": i.dirty,
            "image": i.image, "image_id": i.image_id, "started_at": i.started_at,
            "restarts": i.restarts, "replicas": i.replicas},
        "last_release": None if last is None else {
            "time": last.time, "outcome": last.outcome, "user": last.user,
            "kind": last.kind, "version": last.version, "reason": last.reason or None},
        "current_release": None if row.release is None else row.release.version,
        "drift": list(row.drift),
    }


def _ago(moment: str, now: datetime) -> str:
    """``3m``, ``2h``, ``5d`` since an ISO time, Docker's nanoseconds included ("?" when it
    cannot be read)."""
    import re

    text = re.sub(r"(\.\d{6})\d+", r"\1", moment.strip()).replace("Z", "+00:00")
    try:
        then = datetime.fromisoformat(text)
    except ValueError:
        return "?"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
