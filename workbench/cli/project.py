"""Batch commands about the project itself: ``new``, ``list`` and ``projects``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import BadInput, ExitCode
from .output import Printer, table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``new``, ``list`` and ``projects`` to the subcommands."""
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

    projects = sub.add_parser("projects", parents=[common], help="projects in your registry")
    projects.add_argument("--forget", metavar="PATH", help="remove a project from the registry")
    projects.set_defaults(handler=_projects)


def _new(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from ..ops.new import new_child, new_project

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
    from ..model import find_root
    from ..ops.listing import as_dict, list_project

    listing = list_project(find_root(cwd))
    if emit.as_json:
        print(json.dumps(as_dict(listing), indent=2))
        return ExitCode.OK
    project = listing.project
    print(f"project {project.name}  {project.root}  {listing.git.summary()}")
    if project.git.remote:
        print(f"remote  {project.git.remote}  (group {project.git.group})")
    rows = [("KIND", "NAME", "TEMPLATE", "GIT")]
    rows += [(r.child.kind, r.child.name, r.template.summary(), r.git.summary())
             for r in listing.rows]
    print()
    table(rows) if listing.rows else print("no endpoints, models or utilities yet: "
                                           "'workbench --batch new -e NAME' adds one")
    envs = [("ENVIRONMENT", "ENGINE", "HOSTS", "PROXY", "FLAGS")]
    for env in project.environments:
        hosts = ", ".join(h.spec for h in env.hosts) or "local engine"
        flags = " ".join(f for f, on in (("protected", env.protected),
                                         ("readonly", env.readonly)) if on)
        envs.append((env.name, env.engine, hosts, str(env.proxy_port), flags or "-"))
    print()
    table(envs)
    return ExitCode.OK




def _projects(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    from .. import registry

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
    table([("PROJECT", "PATH", "STATE"), *rows]) if rows else None
    return ExitCode.OK


