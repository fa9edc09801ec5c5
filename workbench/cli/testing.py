"""The batch ``test`` command: the local test loop."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import BadInput, ExitCode, Interrupted
from .args import assignments, positive
from .output import Printer


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``test`` to the subcommands."""
    test = sub.add_parser("test", parents=[common], help="build, run and test endpoints in "
                          "throwaway local containers",
                          description="Builds each endpoint's image, runs it on 127.0.0.1 with a "
                          "throwaway /data volume, waits for its health path, runs its test "
                          "command with BASE_URL set, then removes what it started. Exit 0 when "
                          "everything passed, 1 otherwise.")
    test.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                      metavar="NAME", help="an endpoint to test (repeatable)")
    test.add_argument("--all", action="store_true", help="test every endpoint, several at once")
    test.add_argument("--keep", action="store_true", help="keep containers, volumes and "
                      "networks running, and print how to reach and remove them")
    test.add_argument("--jobs", type=positive, metavar="N", default=0,
                      help="endpoints tested at once with --all (default: min(4, CPUs))")
    test.add_argument("--health-timeout", type=positive, metavar="SECONDS",
                      help="override each endpoint's health_timeout")
    test.add_argument("--build-arg", dest="build_args", action="append", default=[],
                      metavar="NAME=VALUE", help="docker build arg (repeatable); wins over "
                      "build_args in endpoint.yaml and workbench.yaml")
    test.set_defaults(handler=_test)


def _test(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio
    from types import MappingProxyType

    from ..model import find_root, load_project
    from ..ops.test import TestOptions, test_endpoints

    project = load_project(find_root(cwd))
    names: list[str] = args.endpoints
    if args.all and names:
        raise BadInput("give -e NAME or --all, not both", "drop one of them")
    if not args.all and not names:
        here = next((e.name for e in project.endpoints if cwd.resolve().is_relative_to(
            e.path.resolve())), None)
        if here is None:
            raise BadInput("which endpoints? none was named",
                           "pass -e NAME (repeatable) or --all, or run it inside an endpoint")
        names = [here]
    options = TestOptions(keep=args.keep, jobs=args.jobs, health_timeout=args.health_timeout,
                          build_args=MappingProxyType(assignments(args.build_args)))
    try:
        report = asyncio.run(test_endpoints(project, [] if args.all else names, emit, options))
    except KeyboardInterrupt:
        raise Interrupted("test interrupted", "its containers, volumes and networks were "
                          "removed") from None
    return ExitCode.OK if report.ok else ExitCode.FAILED

