"""Batch command ``logs``: the container logs of an environment's hosts, merged in time order."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, ExitCode
from .output import Printer

if TYPE_CHECKING:
    from ..ops.logs import LogBatch

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``logs`` to the subcommands."""
    logs = sub.add_parser(
        "logs", parents=[common], help="the logs of an environment's endpoints on every host, "
        "merged in time order",
        description="Reads the log of each endpoint's current container on every host of ENV "
        "(Docker's timestamps), merged in time order; each line is tagged endpoint@host. JSON "
        "lines (as the python template writes them) show level, message and key=value fields. "
        "--follow shows what is there, then keeps reading; a new line is held up to 0.5 s (at "
        "most 50,000 lines) so that lines of several hosts come out in order, and the new "
        "container of a redeploy is followed as it starts. Secret values of "
        "the environment are masked. A host that cannot be read is named (stderr; --json: an "
        "object) and the rest is shown; the exit code is then 3. Ctrl-C stops (exit 130).")
    logs.add_argument("--env", required=True, metavar="ENV", help="the environment")
    logs.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                      metavar="NAME", help="an endpoint (repeatable; default all)")
    logs.add_argument("--since", metavar="DURATION|TIME", help="lines since 10m, 2h, 1d (or "
                      "1h30m) ago, or since an ISO time (2026-11-30T12:00:00Z; without a zone: "
                      "local time)")
    logs.add_argument("--tail", metavar="N", help="the last N lines of each container")
    logs.add_argument("-f", "--follow", action="store_true", help="keep reading new lines "
                      "until Ctrl-C")
    logs.add_argument("--grep", metavar="REGEX", help="only lines matching REGEX (Python "
                      "syntax), in the line as shown or as the app wrote it")
    logs.add_argument("--level", metavar="LEVEL", type=str.lower, help="only lines of at least "
                      "LEVEL: debug, info, warning, error or critical (JSON lines; a line with "
                      "no level is left out)")
    logs.set_defaults(handler=_logs)


def parse_since(text: str, now: datetime | None = None) -> float:
    """``--since``: a duration back from ``now`` or an ISO time, as UNIX seconds."""
    value = text.strip()
    now = now or datetime.now(UTC)
    if value and _DURATION.sub("", value) == "" and _DURATION.match(value):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(value))
        return (now - timedelta(seconds=seconds)).timestamp()
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise BadInput(f"--since {text!r} is neither a duration nor an ISO time",
                       "give e.g. 10m, 2h, 1d, 1h30m or 2026-11-30T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as 'docker logs --since' reads it
    return moment.timestamp()


def parse_tail(text: str) -> int:
    if not text.isdigit():
        raise BadInput(f"--tail {text!r} is not a number of lines", "give e.g. --tail 100")
    return int(text)


def parse_grep(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise BadInput(f"--grep {text!r} is not a valid regex ({exc})",
                       "fix the pattern (Python regex syntax: escape ( [ . * + ? with \\)"
                       ) from None


def parse_level(text: str) -> str:
    from ..logparse import LEVELS, RANKS

    word = LEVELS.get(text.strip().lower(), text.strip().lower())
    if word not in RANKS:
        raise BadInput(f"--level {text!r} is not a log level",
                       f"give one of {', '.join(RANKS)}")
    return word


def _logs(args: argparse.Namespace, cwd: Path, printer: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ops.logs import LogQuery, stream_logs

    query = LogQuery(endpoints=tuple(args.endpoints),
                     since=None if args.since is None else parse_since(args.since),
                     tail=None if args.tail is None else parse_tail(args.tail),
                     follow=args.follow,
                     grep=None if args.grep is None else parse_grep(args.grep),
                     level=None if args.level is None else parse_level(args.level))
    project = load_project(find_root(cwd))
    show = _Show(printer.as_json, args.follow)
    summary = asyncio.run(stream_logs(project, args.env, query, show))
    if summary.late and not printer.as_json:
        print(f"note: {summary.late} lines arrived too late to be put in order",
              file=sys.stderr)
    return ExitCode.UNREACHABLE if summary.unreachable else ExitCode.OK


class _Show:
    """Prints batches: plain lines (problems on stderr) or one JSON object per line."""

    def __init__(self, as_json: bool, flush: bool) -> None:
        self.as_json = as_json
        self.flush = flush
        self.broken = False

    def __call__(self, batch: LogBatch) -> None:
        if self.broken:
            return
        try:
            self._print(batch)
        except BrokenPipeError:  # | head: stop printing, let the stream end
            from .output import silence_stdout

            self.broken = True
            silence_stdout()

    def _print(self, batch: LogBatch) -> None:
        from ..logparse import as_json

        out = sys.stdout
        if self.as_json:
            lines = [json.dumps({"warning": note}) for note in batch.notes]
            lines += [json.dumps({"unreachable": why, "host": host})
                      for host, why in batch.unreachable.items()]
            if batch.dropped:
                lines.append(json.dumps({"dropped": batch.dropped}))
            lines += [json.dumps(as_json(r), ensure_ascii=False, default=str)
                      for r in batch.records]
        else:
            for note in batch.notes:
                print(f"warning: {note}", file=sys.stderr)
            for host, why in batch.unreachable.items():
                print(f"unreachable: {why}" if host in why else f"unreachable: {host}: {why}",
                      file=sys.stderr)
            if batch.dropped:
                print(f"dropped {batch.dropped} lines (the output fell behind)",
                      file=sys.stderr)
            lines = batch.lines.shown()
        if lines:
            out.write("\n".join(lines) + "\n")
            if self.flush:
                out.flush()
