"""``list``: a project's endpoints, models, utilities and environments, with their git state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import gitstate
from ..model import Endpoint, Environment, Library, Project, load_project


@dataclass(frozen=True, slots=True)
class Row:
    """One endpoint, model or utility and its git state."""

    child: Endpoint | Library
    git: gitstate.GitState


@dataclass(frozen=True, slots=True)
class Listing:
    project: Project
    git: gitstate.GitState
    rows: tuple[Row, ...]


def list_project(root: Path, project: Project | None = None) -> Listing:
    """Read every repo's git state in parallel (loading the project unless it is given)."""
    project = project if project is not None else load_project(root)
    states = gitstate.read_many([root, *(child.path for child in project.children)])
    rows = tuple(Row(child, state) for child, state in zip(project.children, states[1:],
                                                           strict=True))
    return Listing(project=project, git=states[0], rows=rows)


def as_dict(listing: Listing) -> dict[str, Any]:
    """Plain data for ``--json``."""
    project = listing.project
    return {
        "project": project.name,
        "path": str(project.root),
        "git": listing.git.as_dict(),
        "remote": project.git.remote,
        "children": [_child(row) for row in listing.rows],
        "environments": [_environment(env) for env in project.environments],
    }


def _child(row: Row) -> dict[str, Any]:
    child = row.child
    data: dict[str, Any] = {"kind": child.kind, "name": child.name, "path": str(child.path),
                            "template": child.template, "git": row.git.as_dict()}
    if isinstance(child, Endpoint):
        data.update(port=child.port, health=child.health, routes=list(child.routes),
                    data=child.data, produces=list(child.produces),
                    consumes=list(child.consumes), models=list(child.models),
                    utilities=list(child.utilities), test=child.test,
                    secrets=list(child.secrets))
    return data


def _environment(env: Environment) -> dict[str, Any]:
    return {
        "name": env.name, "engine": env.engine, "local": env.is_local,
        "hosts": [{"spec": h.spec, "user": h.user, "host": h.host, "port": h.port,
                   "docker_socket": h.docker_socket} for h in env.hosts],
        "proxy_port": env.proxy_port, "variables": dict(env.variables),
        "secrets_file": env.secrets_file, "protected": env.protected, "readonly": env.readonly,
    }
