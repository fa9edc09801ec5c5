"""Batch commands between workbench and compose files: export and import (docs/compose.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ExitCode, Interrupted
from .output import Printer


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``export`` and ``import``."""
    export = sub.add_parser(
        "export", parents=[common], help="write a Swarm environment as a compose file",
        description="Writes ENV (engine: swarm) as deployed, its endpoints' current releases "
        "and the proxy, as a Compose Specification file for 'docker stack deploy -c FILE "
        "wb_<project>_<env>'. Images are pinned by id, secrets referenced by name. Endpoints "
        "never deployed there are left out; when none is, nothing is written (exit 2).")
    export.add_argument("--env", required=True, metavar="ENV", help="the environment")
    export.add_argument("--compose", required=True, type=Path, metavar="FILE",
                        help="the file to write (replaced in one step)")
    export.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                        metavar="NAME", help="an endpoint to export (repeatable; default all "
                        "that are deployed)")
    export.set_defaults(handler=_export)

    imported = sub.add_parser(
        "import", parents=[common], help="take routes, replicas and env from a compose file",
        description="Reads the services of a compose file: routes (x-workbench: routes), "
        "replicas (deploy.replicas), variables (environment) and secret names. An existing "
        "endpoint of the same name gets them in its endpoint.yaml; for any other service it "
        "prints the endpoint it would create. With --env, variables that ENV already sets to "
        "the same value stay there.")
    imported.add_argument("--compose", required=True, type=Path, metavar="FILE",
                          help="the compose file to read")
    imported.add_argument("--env", metavar="ENV", help="the environment the file ran as "
                          "(default: the one a workbench export names, if any)")
    imported.add_argument("--dry-run", action="store_true",
                          help="print what would change, write nothing")
    imported.set_defaults(handler=_import)


def _export(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ops.export import export, write
    from ..sites import open_sites

    project = load_project(find_root(cwd))
    target = args.compose if args.compose.is_absolute() else cwd / args.compose
    try:
        done = asyncio.run(export(project, args.env, args.endpoints, open_sites, emit))
    except KeyboardInterrupt:
        raise Interrupted("export interrupted", "nothing was written") from None
    write(target, done.text)
    if not emit.as_json:
        print(f"wrote {target}: deploy it with 'docker stack deploy -c {target} {done.stack}'")
    return ExitCode.OK


def _import(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from ..model import find_root, load_project
    from ..ops.compose_import import apply, plan

    project = load_project(find_root(cwd))
    source = args.compose if args.compose.is_absolute() else cwd / args.compose
    changes = plan(project, source, args.env, emit)
    apply(changes, emit, dry_run=args.dry_run)
    return ExitCode.OK
