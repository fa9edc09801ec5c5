"""``workbench --batch``: the headless front end, for scripts and CI.

It prints plain lines (``--json``: JSON), subscribes to the operations' event stream like the
TUI does, and exits with :class:`~workbench.errors.ExitCode`. It never imports textual, and
each command imports only what it uses, so start-up stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from . import __version__
from .errors import BadInput, ExitCode, Interrupted, WorkbenchError

if TYPE_CHECKING:
    from .model import Project
    from .ops.deploy import DeployReport

PROG = "workbench"


class _Parser(argparse.ArgumentParser):
    """argparse that raises BadInput (one line, exit 2) instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{message}", f"see '{self.prog} --help'")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("-C", dest="directory", metavar="DIR", default=argparse.SUPPRESS,
                        help="run in DIR instead of the current folder")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of plain lines")
    parser = _Parser(prog=PROG, parents=[common],
                     description="A keyboard-driven workbench for microservices. Without "
                     "--batch it opens the TUI.")
    parser.add_argument("--batch", action="store_true", help="run headless, for scripts and CI")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    new = sub.add_parser("new", parents=[common], help="create a project, endpoint, model or "
                         "utility, each its own git repo",
                         description="new PROJECT creates a project folder; inside a project, "
                         "new -e/-m/-u NAME creates an endpoint, model or utility.")
    new.add_argument("project", nargs="?", metavar="PROJECT", help="name of a new project")
    which = new.add_mutually_exclusive_group()
    which.add_argument("-e", "--endpoint", metavar="NAME", help="a new endpoint")
    which.add_argument("-m", "--model", metavar="NAME", help="a new model")
    which.add_argument("-u", "--utility", metavar="NAME", help="a new utility")
    new.add_argument("--template", help="endpoint template: python (default) or static")
    new.add_argument("--git-remote", metavar="TEMPLATE",
                     help="push every repo to this URL template, e.g. "
                     "git@gitlab.example.com:{group}/{name}.git")
    new.add_argument("--group", help="the {group} of the URL template (default: the project)")
    new.add_argument("--gitlab", metavar="URL", help="create the group and one GitLab project "
                     "per repo through the REST API (token: GITLAB_TOKEN)")
    new.set_defaults(handler=_new)

    lst = sub.add_parser("list", parents=[common], help="endpoints, models, utilities and "
                         "environments, with git state")
    lst.set_defaults(handler=_list)

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
    test.add_argument("--jobs", type=_positive, metavar="N", default=0,
                      help="endpoints tested at once with --all (default: min(4, CPUs))")
    test.add_argument("--health-timeout", type=_positive, metavar="SECONDS",
                      help="override each endpoint's health_timeout")
    test.add_argument("--build-arg", dest="build_args", action="append", default=[],
                      metavar="NAME=VALUE", help="docker build arg (repeatable); wins over "
                      "build_args in endpoint.yaml and workbench.yaml")
    test.set_defaults(handler=_test)

    _deploy_parsers(sub, common)

    projects = sub.add_parser("projects", parents=[common], help="projects in your registry")
    projects.add_argument("--forget", metavar="PATH", help="remove a project from the registry")
    projects.set_defaults(handler=_projects)

    trust = sub.add_parser("trust", parents=[common], help="trust the SSH host keys of an "
                           "environment's hosts (known_hosts)",
                           description="Fetches the host key of every host of ENV and adds it "
                           "to the known_hosts file SSH uses for it (~/.ssh/known_hosts, or "
                           "UserKnownHostsFile in ~/.ssh/config). Check the fingerprints first.")
    trust.add_argument("environment", metavar="ENV", help="an environment with hosts")
    trust.add_argument("--replace", action="store_true", help="replace a different key known "
                       "for a host (after checking the new one with the server's admin)")
    trust.set_defaults(handler=_trust)
    return parser


# -- output -----------------------------------------------------------------------------------
class Printer:
    """Prints an operation's events: plain lines, or one JSON object per line.

    Output is a side channel: when the reader goes away (``| head``), printing stops quietly
    and the operation still finishes, rather than being aborted half-way.
    """

    def __init__(self, as_json: bool, out: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.broken = False

    def __call__(self, event: Any) -> None:
        if self.broken:
            return
        try:
            self._print(event)
        except BrokenPipeError:
            self.broken = True
            _silence_stdout()

    def _print(self, event: Any) -> None:
        from . import events

        if self.as_json:
            body = {"event": events.kind(event), **_plain(event)}
            print(json.dumps(body, default=str), file=self.out, flush=True)
        elif isinstance(event, events.StepFinished):
            mark = "ok  " if event.ok else "FAIL"
            extra = f"  ({event.detail})" if event.detail and not event.ok else ""
            print(f"{mark} {event.duration:6.2f}s  {event.label}{extra}", file=self.out,
                  flush=True)
        elif isinstance(event, events.Warning):
            print(f"warning: {event.message}", file=self.out, flush=True)
        elif isinstance(event, events.LogLines):
            for line in event.lines:
                print(f"[{event.source}] {line}", file=self.out)
        elif isinstance(event, events.Result):
            print(event.summary, file=self.out, flush=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _plain(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__slots__}


# -- commands ---------------------------------------------------------------------------------
def _new(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from .ops.new import new_child, new_project

    children = {"endpoint": args.endpoint, "model": args.model, "utility": args.utility}
    kind, name = next(((k, v) for k, v in children.items() if v is not None), (None, None))
    if kind is None:
        if args.project is None:
            raise BadInput("new needs a PROJECT name, or -e/-m/-u NAME inside a project",
                           "e.g. 'workbench --batch new shop' or 'new -e orders'")
        if args.template:
            raise BadInput("--template is for endpoints", "use it with -e NAME")
        new_project(cwd, args.project, remote=args.git_remote, group=args.group,
                    gitlab=args.gitlab, emit=emit)
        return ExitCode.OK
    if args.project is not None:
        raise BadInput(f"give either a PROJECT name or -{kind[0]} NAME, not both",
                       f"inside a project run 'new -{kind[0]} {name}'")
    if args.git_remote or args.gitlab or args.group:
        raise BadInput("--git-remote, --group and --gitlab are set once per project",
                       "edit 'git:' in workbench.yaml to change where repos are pushed")
    if args.template and kind != "endpoint":
        raise BadInput(f"--template is for endpoints, not a {kind}", "drop --template")
    new_child(cwd, kind, name, template=args.template, emit=emit)  # type: ignore[arg-type]
    return ExitCode.OK


def _list(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from .model import find_root
    from .ops.listing import as_dict, list_project

    listing = list_project(find_root(cwd))
    if emit.as_json:
        print(json.dumps(as_dict(listing), indent=2))
        return ExitCode.OK
    project = listing.project
    print(f"project {project.name}  {project.root}  {listing.git.summary()}")
    if project.git.remote:
        print(f"remote  {project.git.remote}  (group {project.git.group})")
    rows = [("KIND", "NAME", "TEMPLATE", "GIT")]
    rows += [(r.child.kind, r.child.name, r.child.template or "-", r.git.summary())
             for r in listing.rows]
    print()
    _table(rows) if listing.rows else print("no endpoints, models or utilities yet: "
                                           "'workbench --batch new -e NAME' adds one")
    envs = [("ENVIRONMENT", "ENGINE", "HOSTS", "PROXY", "FLAGS")]
    for env in project.environments:
        hosts = ", ".join(h.spec for h in env.hosts) or "local engine"
        flags = " ".join(f for f, on in (("protected", env.protected),
                                         ("readonly", env.readonly)) if on)
        envs.append((env.name, env.engine, hosts, str(env.proxy_port), flags or "-"))
    print()
    _table(envs)
    return ExitCode.OK


def _test(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio
    from types import MappingProxyType

    from .model import find_root, load_project
    from .ops.test import TestOptions, test_endpoints

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
                          build_args=MappingProxyType(_assignments(args.build_args)))
    try:
        report = asyncio.run(test_endpoints(project, [] if args.all else names, emit, options))
    except KeyboardInterrupt:
        raise Interrupted("test interrupted", "its containers, volumes and networks were "
                          "removed") from None
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _deploy_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    def env_parser(name: str, help: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help,
                                                         description=description)
        parser.add_argument("--env", required=True, metavar="ENV", help="the environment")
        return parser

    def lock_wait(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--lock-wait", type=_seconds, default=0.0, metavar="SECONDS",
                            help="wait this long for another deploy's lock (default: 0)")

    deploy = env_parser("deploy", "build on the servers, health-check, switch the proxy",
                        "Deploys endpoints (all by default) to ENV: built on each host when "
                        "the version is new, started beside the old container, health-checked, "
                        "then the proxy switches to it. Exit 0 when every endpoint is ok.")
    deploy.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                        metavar="NAME", help="an endpoint to deploy (repeatable; default all)")
    deploy.add_argument("--build-arg", dest="build_args", action="append", default=[],
                        metavar="NAME=VALUE", help="docker build arg (repeatable)")
    deploy.add_argument("--health-timeout", type=_positive, metavar="SECONDS",
                        help="override each endpoint's health_timeout")
    lock_wait(deploy)
    deploy.set_defaults(handler=_deploy)

    plan = env_parser("plan", "what a deploy would do, touching nothing",
                      "Prints the phases and steps of a deploy to ENV. Only reads.")
    plan.add_argument("-e", "--endpoint", dest="endpoints", action="append", default=[],
                      metavar="NAME", help="an endpoint (repeatable; default all)")
    plan.set_defaults(handler=_plan)

    rollback = env_parser("rollback", "go back to an earlier release, health-gated",
                          "Starts the previous release of an endpoint (or --to VERSION), "
                          "health-checks it and switches the proxy back to it.")
    rollback.add_argument("-e", "--endpoint", dest="endpoint", required=True, metavar="NAME")
    rollback.add_argument("--to", metavar="VERSION", help="the version to go back to")
    lock_wait(rollback)
    rollback.set_defaults(handler=_rollback)

    history = env_parser("releases", "the release history of an endpoint",
                         "Lists the releases of an endpoint in ENV, oldest first.")
    history.add_argument("-e", "--endpoint", dest="endpoint", required=True, metavar="NAME")
    history.set_defaults(handler=_releases)

    lock = env_parser("lock", "show or release an environment's deploy lock",
                      "lock status shows who holds ENV's lock; lock release removes it (only "
                      "when its holder is gone).")
    lock.add_argument("action", choices=["status", "release"])
    lock.set_defaults(handler=_lock)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0..86400)")
    return value


def _deploy(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from types import MappingProxyType

    from .ops.deploy import DeployOptions, deploy
    from .sites import open_sites

    options = DeployOptions(lock_wait=args.lock_wait, health_timeout=args.health_timeout,
                            build_args=MappingProxyType(_assignments(args.build_args)))
    return _run_release(cwd, lambda project: deploy(project, args.env, args.endpoints, emit,
                                                    options, open_sites),
                        "deploy interrupted", "new containers were removed; endpoints that "
                        "had switched keep their new version")


def _rollback(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from .ops.deploy import DeployOptions, rollback
    from .sites import open_sites

    options = DeployOptions(lock_wait=args.lock_wait)
    return _run_release(cwd, lambda project: rollback(project, args.env, args.endpoint, emit,
                                                      options, open_sites, to=args.to),
                        "rollback interrupted", "the proxy still routes to the version it had")


def _run_release(cwd: Path, run: Callable[[Project], Coroutine[Any, Any, DeployReport]],
                 interrupted: str, fix: str) -> int:
    """Run a deploy or a rollback of the project at ``cwd``: exit OK when every endpoint is,
    FAILED otherwise; Ctrl-C (after its cleanup) is :class:`Interrupted`."""
    import asyncio

    from .model import find_root, load_project

    project = load_project(find_root(cwd))
    try:
        report = asyncio.run(run(project))
    except KeyboardInterrupt:
        raise Interrupted(interrupted, fix) from None
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _releases(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio
    from dataclasses import asdict

    from .model import find_root, load_project
    from .ops.deploy import history
    from .sites import open_sites

    project = load_project(find_root(cwd))
    records = asyncio.run(history(project, args.env, args.endpoint, open_sites))
    if emit.as_json:
        print(json.dumps([asdict(r) for r in records], indent=2))
        return ExitCode.OK
    if not records:
        print(f"no releases of {args.endpoint} in {args.env} yet")
        return ExitCode.OK
    rows = [("TIME", "HOST", "KIND", "VERSION", "GIT", "OUTCOME", "BY", "SECONDS")]
    for r in records:
        git = (r.git_sha or "-") + ("+dirty" if r.dirty else "")
        outcome = r.outcome if r.outcome == "ok" else f"{r.outcome}: {r.reason}"
        rows.append((r.time, r.host, r.kind, r.version, git, outcome, r.user or "-",
                     f"{r.durations.get('total', 0):.1f}"))
    _table(rows)
    return ExitCode.OK


def _plan(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from .model import find_root, load_project
    from .ops.deploy import plan
    from .sites import open_sites

    project = load_project(find_root(cwd))
    lines = asyncio.run(plan(project, args.env, args.endpoints, open_sites))
    if emit.as_json:
        print(json.dumps({"env": args.env, "lines": lines}, indent=2))
    else:
        print("\n".join(lines))
    return ExitCode.OK


def _lock(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from .model import find_root, load_project
    from .ops.deploy import lock_action
    from .sites import open_sites

    project = load_project(find_root(cwd))
    line = asyncio.run(lock_action(project, args.env, args.action, open_sites))
    print(line)
    return ExitCode.OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return value


def _assignments(items: Sequence[str]) -> dict[str, str]:
    import re

    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise BadInput(f"--build-arg {item!r} is not NAME=VALUE",
                           "write e.g. --build-arg BASE_IMAGE=python:3.12-slim")
        result[name] = value
    return result


def _projects(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from . import registry

    if args.forget:
        path = Path(args.forget)
        if not registry.remove(path if path.is_absolute() else cwd / path):
            raise BadInput(f"{args.forget} is not in the registry",
                           "run 'workbench --batch projects' to see the registered paths")
        print(f"forgot {args.forget}")
        return ExitCode.OK
    entries = registry.load()
    if emit.as_json:
        print(json.dumps([{"name": e.name, "path": str(e.path), "exists": e.exists}
                          for e in entries], indent=2))
        return ExitCode.OK
    if not entries:
        print("no projects yet: 'workbench --batch new NAME' creates one")
    rows = [(e.name, str(e.path), "ok" if e.exists else
             "missing: moved or deleted ('projects --forget PATH' removes it)") for e in entries]
    _table([("PROJECT", "PATH", "STATE"), *rows]) if rows else None
    return ExitCode.OK


def _trust(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from .model import find_root, load_project
    from .ssh import trust

    env = load_project(find_root(cwd)).environment(args.environment)
    if env.is_local:
        raise BadInput("'local' is the local Docker engine: it has no SSH hosts to trust",
                       "name an environment with hosts, e.g. 'workbench --batch trust staging'")
    for host in env.hosts:
        done = asyncio.run(trust(host, replace=args.replace, env=env.name))
        if emit.as_json:
            print(json.dumps({"host": host.spec, "status": done.status, "where": done.where,
                              "key_type": done.key.key_type,
                              "fingerprint": done.key.fingerprint,
                              "known_hosts": str(done.known_hosts), "old": list(done.old)}),
                  flush=True)
        else:
            print(done.line, flush=True)
    return ExitCode.OK


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# -- entry ------------------------------------------------------------------------------------
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
        _silence_stdout()
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
