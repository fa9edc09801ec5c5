"""Batch commands for a team: ``clone`` a project with all its repos, ``sync`` them, and
``update`` generated folders from newer template versions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .args import positive
from .output import Printer, table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``clone``, ``sync`` and ``update`` to the subcommands."""
    clone = sub.add_parser(
        "clone", parents=[common], help="clone a project and every endpoint, model and "
        "utility repo it names",
        description="Clones the project repo at URL into DIR (default: the repo's name), then "
        "every repo its workbench.yaml names, several at once, from its git remote template "
        "(or beside the project repo when it has none), and registers the project. Cloning "
        "again into the same folder fills in what is missing.")
    clone.add_argument("url", metavar="URL", help="the project repo, e.g. "
                       "git@gitlab.example.com:team/shop.git")
    clone.add_argument("folder", nargs="?", metavar="DIR", help="where to put it (default: "
                       "the repo's name, in the current folder or -C)")
    clone.add_argument("--jobs", type=positive, default=8, metavar="N",
                       help="repos cloned at once (default: 8)")
    clone.set_defaults(handler=_clone)

    sync = sub.add_parser(
        "sync", parents=[common], help="fetch every repo, fast-forward the ones behind",
        description="Fetches every repo of the project at once and reports each one's branch, "
        "ahead/behind and dirty state. A repo only behind is fast-forwarded; nothing is ever "
        "merged or rebased (a diverged repo is reported and left alone). Exit 0 when every "
        "repo is in step with its remote.")
    sync.add_argument("--push", action="store_true", help="also push the repos that are ahead")
    sync.add_argument("--jobs", type=positive, default=8, metavar="N",
                      help="repos at once (default: 8)")
    sync.set_defaults(handler=_sync)

    update = sub.add_parser(
        "update", parents=[common], help="apply newer template versions to generated folders",
        description="Merges what changed between the template version a folder was made from "
        "and the current one into it (a three-way merge). A clean merge is committed in that "
        "repo; a conflict leaves git's markers in the file and is not committed; a repo with "
        "uncommitted changes is refused. Inside an endpoint, model or utility, update alone "
        "updates that one.")
    update.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                        metavar="NAME", help="an endpoint (repeatable)")
    update.add_argument("-m", "--model", dest="models", action="append", default=[],
                        metavar="NAME", help="a model (repeatable)")
    update.add_argument("-u", "--utility", dest="utilities", action="append", default=[],
                        metavar="NAME", help="a utility (repeatable)")
    update.add_argument("--project", action="store_true", help="the project's own folder")
    update.add_argument("--all", action="store_true", help="the project and all its children")
    update.add_argument("--dry-run", action="store_true", help="print the diff that would be "
                        "applied, change nothing")
    update.set_defaults(handler=_update)


def _clone(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from ..ops.clone import clone_project

    report = clone_project(args.url, cwd, args.folder, jobs=args.jobs, emit=emit)
    failed = report.failed
    if failed:
        more = f" (and {len(failed) - 1} more repos)" if len(failed) > 1 else ""
        _error(f"{failed[0].reason}{more}")
    return report.exit_code


def _error(line: str) -> None:
    """The one line on stderr of a run that did not fully succeed (the details are above)."""
    print(f"workbench: error: {line}", file=sys.stderr)


def _sync(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from ..events import Result
    from ..model import find_root
    from ..ops.sync import sync_project

    def show(event: Any) -> None:
        if not (isinstance(event, Result) and not emit.as_json):
            emit(event)

    report = sync_project(find_root(cwd), push=args.push, jobs=args.jobs, emit=show)
    if not emit.as_json:
        rows = [("KIND", "NAME", "BRANCH", "AHEAD", "BEHIND", "DIRTY", "RESULT")]
        rows += [(r.kind, r.name, r.branch or "-", str(r.ahead), str(r.behind),
                  "dirty" if r.dirty else "clean", r.line()) for r in report.repos]
        print()
        table(rows)
        print(report.summary())
        if any(r.action == "ahead" for r in report.repos):
            print("push them with 'workbench --batch sync --push'")
    stuck = [r for r in report.repos if not r.ok]
    if stuck:
        more = f" (and {len(stuck) - 1} more repos)" if len(stuck) > 1 else ""
        _error(f"{stuck[0].kind} {stuck[0].name}: {stuck[0].line()}{more}")
    return report.exit_code


def _update(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from ..events import Result, StepFinished
    from ..model import KIND_FOLDERS, PROJECT_FILE, find_root, parse_project_file
    from ..ops.update import select, update
    from ..yamlfile import read

    root = find_root(cwd)
    _, data = read(root / PROJECT_FILE)
    pf = parse_project_file(root / PROJECT_FILE, data)
    names = {"endpoint": args.endpoints, "model": args.models, "utility": args.utilities}
    named = any(names.values()) or args.project
    if args.all and named:
        raise BadInput("give -e/-m/-u NAME, --project or --all, not both", "drop one of them")
    if not args.all and not named:
        here = cwd.resolve()
        for kind, folder in KIND_FOLDERS.items():
            for name in pf.children[kind]:
                if here.is_relative_to((root / folder / name).resolve()):
                    names[kind] = [name]
        if not any(names.values()):
            raise BadInput("which folders? none was named", "pass -e/-m/-u NAME (repeatable), "
                           "--project or --all, or run it inside an endpoint, model or utility")
    targets = select(root, pf, names, every=args.all, project=args.project)

    def show(event: Any) -> None:
        if emit.as_json or not isinstance(event, StepFinished | Result):
            emit(event)

    report = update(targets, dry_run=args.dry_run, emit=show)
    if not emit.as_json:
        for outcome in report.outcomes:
            if args.dry_run and outcome.diff:
                print(outcome.diff, end="" if outcome.diff.endswith("\n") else "\n")
        for outcome in report.outcomes:
            print(outcome.line())
        print(report.summary() + (" (dry run: nothing was changed)" if args.dry_run else ""))
    failed = [o for o in report.outcomes if not o.ok]
    if failed:
        more = f" (and {len(failed) - 1} more folders)" if len(failed) > 1 else ""
        _error(f"{failed[0].line()}{more}")
    return report.exit_code
