"""Batch commands that act on an environment: deploy, plan, rollback, releases and lock."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, ExitCode, Interrupted
from .args import assignments, positive, seconds
from .output import Printer, table

if TYPE_CHECKING:
    from ..model import Project
    from ..ops.deploy import DeployReport


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the environment commands to the subcommands."""
    def env_parser(name: str, help: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help,
                                                         description=description)
        parser.add_argument("--env", required=True, metavar="ENV", help="the environment")
        return parser

    def confirm(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--confirm", metavar="ENV", help="the environment's name again: "
                            "needed to change a protected environment")

    def lock_wait(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--lock-wait", type=seconds, default=0.0, metavar="SECONDS",
                            help="wait this long for another deploy's lock (default: 0)")

    deploy = env_parser("deploy", "build on the servers, health-check, switch the proxy",
                        "Deploys endpoints (all by default) to ENV: built on each host when "
                        "the version is new, started beside the old container, health-checked, "
                        "then the proxy switches to it. Exit 0 when every endpoint is ok.")
    deploy.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                        metavar="NAME", help="an endpoint to deploy (repeatable; default all)")
    deploy.add_argument("--build-arg", dest="build_args", action="append", default=[],
                        metavar="NAME=VALUE", help="docker build arg (repeatable)")
    deploy.add_argument("--health-timeout", type=positive, metavar="SECONDS",
                        help="override each endpoint's health_timeout")
    lock_wait(deploy)
    confirm(deploy)
    deploy.set_defaults(handler=_deploy)

    plan = env_parser("plan", "what a deploy would do, touching nothing",
                      "Prints the phases and steps of a deploy to ENV. Only reads.")
    plan.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                      metavar="NAME", help="an endpoint (repeatable; default all)")
    plan.set_defaults(handler=_plan)

    rollback = env_parser("rollback", "go back to an earlier release, health-gated",
                          "Starts the image of the previous release of an endpoint (or "
                          "--to VERSION) as a new container with the current config and "
                          "secrets, health-checks it and switches the proxy back to it.")
    rollback.add_argument("-e", "--endpoint", dest="endpoint", required=True, metavar="NAME")
    rollback.add_argument("--to", metavar="VERSION", help="the version to go back to")
    lock_wait(rollback)
    confirm(rollback)
    rollback.set_defaults(handler=_rollback)

    scale = env_parser("scale", "run N replicas of an endpoint (engine: swarm)",
                       "Sets the replica count of an endpoint's service in the Swarm "
                       "environment ENV (same image and spec), waits until that many tasks "
                       "run and records a release. The next deploy applies endpoint.yaml's "
                       "replicas again.")
    scale.add_argument("-e", "--endpoint", dest="endpoint", required=True, metavar="NAME")
    scale.add_argument("replicas", type=int, metavar="N", help="how many tasks to run")
    lock_wait(scale)
    confirm(scale)
    scale.set_defaults(handler=_scale)

    history = env_parser("releases", "the release history of an endpoint",
                         "Lists the releases of an endpoint in ENV, oldest first.")
    history.add_argument("-e", "--endpoint", dest="endpoint", required=True, metavar="NAME")
    history.set_defaults(handler=_releases)

    lock = env_parser("lock", "show or release an environment's deploy lock",
                      "lock status shows who holds ENV's lock; lock release removes it when "
                      "its holder is gone or expired, and with --force whoever holds it.")
    lock.add_argument("action", choices=["status", "release"])
    lock.add_argument("--force", action="store_true",
                      help="release a lock whose holder may still be running")
    confirm(lock)
    lock.set_defaults(handler=_lock)



def _deploy(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from types import MappingProxyType

    from ..ops.deploy import DeployOptions, deploy
    from ..sites import open_sites

    options = DeployOptions(lock_wait=args.lock_wait, health_timeout=args.health_timeout,
                            confirm=args.confirm,
                            build_args=MappingProxyType(assignments(args.build_args)))
    return _run_release(cwd, lambda project: deploy(project, args.env, args.endpoints, emit,
                                                    options, open_sites),
                        "deploy interrupted", "new containers were removed; endpoints that "
                        "had switched keep their new version")


def _rollback(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from ..ops.report import DeployOptions
    from ..ops.rollback import rollback
    from ..sites import open_sites

    options = DeployOptions(lock_wait=args.lock_wait, confirm=args.confirm)
    return _run_release(cwd, lambda project: rollback(project, args.env, args.endpoint, emit,
                                                      options, open_sites, to=args.to),
                        "rollback interrupted", "the proxy still routes to the version it had")


def _scale(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ops.report import DeployOptions
    from ..ops.scale import scale
    from ..sites import open_sites

    project = load_project(find_root(cwd))
    options = DeployOptions(lock_wait=args.lock_wait, confirm=args.confirm)
    try:
        report = asyncio.run(scale(project, args.env, args.endpoint, args.replicas, emit,
                                   options, open_sites))
    except KeyboardInterrupt:
        raise Interrupted("scale interrupted", "Swarm goes on with the new count; see "
                          f"'workbench --batch releases --env {args.env} -e "
                          f"{args.endpoint}'") from None
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _run_release(cwd: Path, run: Callable[[Project], Coroutine[Any, Any, DeployReport]],
                 interrupted: str, fix: str) -> int:
    """Run a deploy or a rollback of the project at ``cwd``: exit OK when every endpoint is,
    FAILED otherwise; Ctrl-C (after its cleanup) is :class:`Interrupted`."""
    import asyncio

    from ..model import find_root, load_project

    project = load_project(find_root(cwd))
    try:
        report = asyncio.run(run(project))
    except KeyboardInterrupt:
        raise Interrupted(interrupted, fix) from None
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _releases(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio
    from dataclasses import asdict

    from ..model import find_root, load_project
    from ..ops.environment import history
    from ..sites import open_sites

    project = load_project(find_root(cwd))
    records = asyncio.run(history(project, args.env, args.endpoint, open_sites))
    if emit.as_json:
        print(json.dumps([asdict(r) for r in records], indent=2))
        return ExitCode.OK
    if not records:
        print(f"no releases of {args.endpoint} in {args.env} yet")
        return ExitCode.OK
    swarm = any(r.engine == "swarm" for r in records)
    rows = [("TIME", "HOST", "KIND", "VERSION", "GIT", *(("ENGINE", "REPLICAS") if swarm else ()),
             "OUTCOME", "BY", "SECONDS")]
    for r in records:
        git = (r.git_sha or "-") + ("+dirty" if r.dirty else "")
        outcome = r.outcome if r.outcome == "ok" else f"{r.outcome}: {r.reason}"
        engine = (r.engine, str(r.replicas) if r.engine == "swarm" else "-") if swarm else ()
        rows.append((r.time, r.host, r.kind, r.version, git, *engine, outcome, r.user or "-",
                     f"{r.durations.get('total', 0):.1f}"))
    table(rows)
    return ExitCode.OK


def _plan(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ops.environment import plan
    from ..plan import format_plan
    from ..sites import open_sites

    project = load_project(find_root(cwd))
    lines = format_plan(asyncio.run(plan(project, args.env, args.endpoints, open_sites)))
    if emit.as_json:
        print(json.dumps({"env": args.env, "lines": lines}, indent=2))
    else:
        print("\n".join(lines))
    return ExitCode.OK


def _lock(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ops.environment import lock_release, lock_status
    from ..sites import open_sites

    project = load_project(find_root(cwd))
    if args.force and args.action != "release":
        raise BadInput("--force goes with 'lock release'", "drop --force")
    if args.action == "release":
        held = asyncio.run(lock_release(project, args.env, open_sites, force=args.force,
                                        confirm=args.confirm))
        print(f"environment '{args.env}' was not locked" if held is None else
              f"released the lock of environment '{args.env}' held by {held.describe()}")
        return ExitCode.OK
    held = asyncio.run(lock_status(project, args.env, open_sites))
    if held is None:
        print(f"environment '{args.env}' is not locked")
        return ExitCode.OK
    stale = held.stale()
    print(f"environment '{args.env}' is locked by {held.describe()}"
          + (f"; stale ({stale}): the next deploy takes it over" if stale else ""))
    return ExitCode.OK



