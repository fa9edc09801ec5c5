"""``workbench --batch``: the headless front end, for scripts and CI.

It prints plain lines (``--json``: JSON), subscribes to the operations' event stream like the
TUI does, and exits with :class:`~workbench.errors.ExitCode`. It never imports textual, and
each command imports only what it uses, so start-up stays fast.

Each area of commands is a module with a ``register(sub, common)`` function that adds its
subcommands; a handler is called as ``handler(args, cwd, printer)`` and returns the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__
from ..errors import BadInput, ExitCode, Interrupted, WorkbenchError
from . import compose, deploy, hosts, inspect, logs, project, prune, team, testing
from .args import Parser
from .output import Printer, silence_stdout

PROG = "workbench"
#: The command modules, in the order their commands appear in ``--help``.
AREAS = (project, team, testing, deploy, inspect, logs, prune, hosts, compose)


def build_parser() -> argparse.ArgumentParser:
    """The batch command line: global options and every area's subcommands."""
    common = Parser(add_help=False)
    common.add_argument("-C", dest="directory", metavar="DIR", default=argparse.SUPPRESS,
                        help="run in DIR instead of the current folder")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of plain lines")
    parser = Parser(prog=PROG, parents=[common],
                    description="A keyboard-driven workbench for microservices. Without "
                    "--batch it opens the TUI.")
    parser.add_argument("--batch", action="store_true", help="run headless, for scripts and CI")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for area in AREAS:
        area.register(sub, common)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Run one batch command; returns the exit code. Errors print one line to stderr."""
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise BadInput("no command given", "try 'workbench --batch list' or "
                           "'workbench --batch new NAME' (see --help)")
        cwd = Path(getattr(args, "directory", None) or os.getcwd())
        if not cwd.is_dir():
            raise BadInput(f"folder {cwd} does not exist", "pass an existing folder to -C")
        handler: Callable[[argparse.Namespace, Path, Printer], int] = args.handler
        return handler(args, cwd, Printer(getattr(args, "json", False)))
    except WorkbenchError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return _fail(Interrupted("interrupted", "nothing was left half-made"))
    except BrokenPipeError:  # the reader of a listing went away (| head): not an error
        silence_stdout()
        return ExitCode.OK
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(WorkbenchError(f"{exc.strerror or exc}{where}",
                                    "check the path, its permissions and free disk space"))
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        return _fail(WorkbenchError(f"internal error: {type(exc).__name__}: {exc}",
                                    "rerun with WORKBENCH_DEBUG=1 and report the traceback"))


def _fail(exc: WorkbenchError) -> int:
    print(f"{PROG}: error: {exc.line}", file=sys.stderr)
    return int(exc.exit_code)
