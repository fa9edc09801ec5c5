"""Batch commands that read environments: ``status`` and ``diff``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode
from .output import Printer

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
                            "but no longer in the repo), replicas (a Swarm service runs another "
                            "count than endpoint.yaml's). A Swarm environment shows one row "
                            "per service, with its replicas running/desired, its last update "
                            "and its tasks per node. Exit 3 when a host cannot be read (the "
                            "rest is still shown).")
    status.add_argument("--env", dest="envs", action="append", default=[], metavar="ENV",
                        help="an environment (repeatable; default all)")
    status.set_defaults(handler=_status)

    diff = sub.add_parser(
        "diff", parents=[common], help="what differs: two environments, an environment and "
        "the repo, or two releases",
        description="diff ENV_A ENV_B compares what runs in two environments, endpoint by "
        "endpoint: release, variables (secrets only as same or differs), ports, mounts, routes, "
        "health and deploy settings; only the differences unless --all, and a last line "
        "counting what normalization ignored. diff ENV --repo shows what the repo has that "
        "ENV does not run. diff ENV --previous (or --since RELEASE) shows what the last "
        "deploy changed. Exit 3 when a host cannot be read (the rest is still shown).")
    diff.add_argument("envs", nargs="+", metavar="ENV", help="one or two environments")
    diff.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                      metavar="NAME", help="an endpoint (repeatable; default all)")
    diff.add_argument("--all", action="store_true", help="show every key, not only those "
                      "that differ")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when there are "
                      "differences, 0 when there are none (as git diff --exit-code)")
    mode = diff.add_mutually_exclusive_group()
    mode.add_argument("--repo", action="store_true", help="ENV against the repo: commits, "
                      "edits and config since the deploy")
    mode.add_argument("--previous", action="store_true", help="what the last release of "
                      "each endpoint changed")
    mode.add_argument("--since", metavar="RELEASE", help="what changed since that release "
                      "(a version, or the start of one)")
    diff.set_defaults(handler=_diff)


def _status(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ops.status import status
    from ..sites import open_reachable

    project = load_project(find_root(cwd))
    found = asyncio.run(status(project, args.envs, open_reachable))
    if emit.as_json:
        print(json.dumps({"format": 1, "rows": [_row_json(r) for r in found.rows],
                          "unreachable": found.unreachable, "notes": dict(found.notes)},
                         indent=2))
    else:
        now = datetime.now(UTC)
        swarm = any(s.engine == "swarm" for s in found.states)
        head = ("ENV", "ENDPOINT", "HOST", "VERSION", "GIT", "IMAGE", "HEALTH", "UP",
                "RESTARTS", *(("REPLICAS",) if swarm else ()), "LAST RELEASE", "DRIFT")
        rows = [(head, [])] + [(_row_text(r, now, swarm), _row_lines(r)) for r in found.rows]
        _table(rows) if found.rows else print("no environments or endpoints to show")
        for env, note in found.notes.items():
            print(f"note: {env}: {note}")
    return ExitCode.UNREACHABLE if found.unreachable else ExitCode.OK


def _table(rows: list[tuple[tuple[str, ...], list[str]]]) -> None:
    """Left-aligned columns, two spaces apart; each row's extra lines below it, indented."""
    widths = [max(len(cells[i]) for cells, _ in rows) for i in range(len(rows[0][0]))]
    for cells, lines in rows:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        for line in lines:
            print(f"    {line}")


def _row_lines(row: Row) -> list[str]:
    """A Swarm service's last update and tasks per node, under its row."""
    from ..swarm.cells import is_service, task_lines

    return task_lines(row.instance) if row.instance is not None and \
        is_service(row.instance) else []


def _row_text(row: Row, now: datetime, replicas: bool = False) -> tuple[str, ...]:
    if row.unreachable:
        return (row.env, row.endpoint, row.host, f"unreachable: {row.unreachable}",
                *[""] * (8 if replicas else 7))
    i, last = row.instance, row.last
    release = "-" if last is None else (f"{_ago(last.time, now)} ago {last.outcome}"
                                        f" by {last.user or '?'}")
    if i is None:
        version = row.release.version if row.release else "-"
        return (row.env, row.endpoint, row.host, version, "-", "-", "not running", "-", "-",
                *(("-",) if replicas else ()), release, " ".join(row.drift) or "-")
    git = (i.git_sha or "-") + ("+dirty" if i.dirty else "")
    health = i.health or i.state
    up = _ago(i.started_at, now) if i.state == "running" else i.state
    return (row.env, row.endpoint, row.host, i.version or "-", git,
            i.image_id.removeprefix("sha256:")[:12] or "-", health, up, str(i.restarts),
            *((i.replicas,) if replicas else ()), release, " ".join(row.drift) or "-")


def _row_json(row: Row) -> dict[str, Any]:
    i, last = row.instance, row.last
    return {
        "env": row.env, "endpoint": row.endpoint, "host": row.host,
        "unreachable": row.unreachable or None,
        "running": None if i is None else {
            "container": i.container, "state": i.state, "health": i.health,
            "version": i.version, "git_sha": i.git_sha, "dirty": i.dirty,
            "image": i.image, "image_id": i.image_id, "started_at": i.started_at,
            "restarts": i.restarts, "replicas": i.replicas,
            "replicas_desired": i.replicas_desired, "replicas_running": i.replicas_running,
            "update": {"state": i.update_state, "message": i.update_message}
            if i.update_state else None,
            "placement": list(i.placement), "endpoint_mode": i.endpoint_mode or None,
            "tasks": [{"node": t.node, "node_id": t.node_id, "slot": t.slot, "id": t.id,
                       "state": t.state, "desired": t.desired, "error": t.error or None,
                       "container_id": t.container_id, "health": t.health, "since": t.since}
                      for t in i.tasks]},
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


def _diff(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..errors import BadInput
    from ..model import find_root, load_project
    from ..sites import open_reachable

    one = args.repo or args.previous or args.since is not None
    if len(args.envs) > 2 or (one and len(args.envs) != 1) or (not one and len(args.envs) != 2):
        raise BadInput("diff takes ENV_A ENV_B, or one ENV with --repo, --previous or --since",
                       "e.g. 'workbench --batch diff staging prod' or 'diff staging --repo'")
    project = load_project(find_root(cwd))
    if args.repo:
        from ..drift import drift_json, render_drift
        from ..ops.drift import repo_drift

        if args.endpoints:
            raise BadInput("--repo compares every endpoint", "drop -e")
        found = asyncio.run(repo_drift(project, args.envs[0], open_reachable))
        _show(emit, drift_json(found), render_drift(found))
        return _code(not found.complete, args.exit_code and found.drifted)
    if args.previous or args.since is not None:
        from ..ops.drift import release_changes
        from ..releasediff import release_changes_json, render_release_changes

        changes = asyncio.run(release_changes(project, args.envs[0], args.endpoints,
                                              args.since, open_reachable))
        _show(emit, release_changes_json(changes), render_release_changes(changes))
        return _code(not changes.complete, args.exit_code and changes.changed)
    from ..compare import render, to_json
    from ..ops.diff import diff_envs

    compared = asyncio.run(diff_envs(project, args.envs[0], args.envs[1], args.endpoints,
                                     open_reachable))
    _show(emit, to_json(compared, args.all), render(compared, args.all))
    return _code(compared.partial, args.exit_code and compared.differs)


def _show(emit: Printer, body: dict[str, Any], lines: list[str]) -> None:
    print(json.dumps(body, indent=2) if emit.as_json else "\n".join(lines))


def _code(partial: bool, differs: bool) -> int:
    """3 when a side could not be read wholly; else 1 for differences under --exit-code."""
    if partial:
        return ExitCode.UNREACHABLE
    return ExitCode.FAILED if differs else ExitCode.OK
