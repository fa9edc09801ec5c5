"""The batch ``prune`` command: remove what deploys and test runs left behind."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ExitCode, Interrupted
from .args import seconds
from .output import Printer


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``prune`` to the subcommands."""
    prune = sub.add_parser(
        "prune", parents=[common], help="remove old containers, unused images and test "
        "leftovers", description="Removes, on every host of ENV, each endpoint's stopped "
        "containers beyond the newest keep_releases and the images of versions that are not "
        "among its last keep_releases releases and that no container uses; with --env local "
        "also what killed test runs left (containers, volumes, networks whose process is "
        "gone). Data volumes of deployed endpoints are never removed. Exit 0 when everything "
        "listed was removed.")
    prune.add_argument("--env", required=True, metavar="ENV", help="the environment")
    prune.add_argument("--dry-run", action="store_true",
                       help="list what would be removed (and what is kept, and why); change "
                       "nothing")
    prune.add_argument("--confirm", metavar="ENV", help="the environment's name again: "
                       "needed to change a protected environment")
    prune.add_argument("--lock-wait", type=seconds, default=0.0, metavar="SECONDS",
                       help="wait this long for a deploy's lock (default: 0)")
    prune.set_defaults(handler=_prune)


def _prune(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ops.prune import PruneOptions, prune
    from ..sites import open_sites

    project = load_project(find_root(cwd))
    options = PruneOptions(dry_run=args.dry_run, confirm=args.confirm,
                           lock_wait=args.lock_wait)
    try:
        report = asyncio.run(prune(project, args.env, emit, options, open_sites))
    except KeyboardInterrupt:
        raise Interrupted("prune interrupted", "what was removed is gone; run it again for "
                          "the rest") from None
    return ExitCode.OK if report.ok else ExitCode.FAILED
