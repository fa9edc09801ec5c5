"""``list``: a project's endpoints, models, utilities and environments, with their git state
and the template version each folder was made from (and whether a newer one is available)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import answers, gitstate
from ..errors import BadInput
from ..model import Endpoint, Environment, Library, Project, load_project


@dataclass(frozen=True, slots=True)
class TemplateState:
    """The template version a folder was made from, and the current one (None: unknown)."""

    name: str | None = None
    version: int | None = None
    latest: int | None = None

    @property
    def update_available(self) -> bool:
        return self.version is not None and self.latest is not None \
            and self.latest > self.version

    def summary(self) -> str:
        """``python``, or ``python 1 → 2 available``."""
        name = self.name or "-"
        return f"{name} {self.version} → {self.latest} available" if self.update_available \
            else name

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "latest": self.latest,
                "update_available": self.update_available}


@dataclass(frozen=True, slots=True)
class Row:
    """One endpoint, model or utility, its git state and its template's."""

    child: Endpoint | Library
    git: gitstate.GitState
    template: TemplateState = TemplateState()


@dataclass(frozen=True, slots=True)
class Listing:
    project: Project
    git: gitstate.GitState
    rows: tuple[Row, ...]
    template: TemplateState = TemplateState()


def list_project(root: Path, project: Project | None = None) -> Listing:
    """Read every repo's git state in parallel (loading the project unless it is given)."""
    project = project if project is not None else load_project(root)
    states = gitstate.read_many([root, *(child.path for child in project.children)])
    latest: dict[tuple[str, str], int | None] = {}
    rows = tuple(Row(child, state, template_state(child.path, child.kind, latest))
                 for child, state in zip(project.children, states[1:], strict=True))
    return Listing(project=project, git=states[0], rows=rows,
                   template=template_state(root, "project", latest))


def template_state(folder: Path, kind: str,
                   latest: dict[tuple[str, str], int | None] | None = None) -> TemplateState:
    """What the answers file of ``folder`` says, and the template's current version
    (``latest`` caches those by kind and template)."""
    from .. import scaffold

    name, version = answers.peek(folder)
    if name is None:
        return TemplateState()
    cache = latest if latest is not None else {}
    if (kind, name) not in cache:
        try:
            cache[kind, name] = scaffold.get(kind, name).version
        except BadInput:  # a template this workbench no longer has
            cache[kind, name] = None
    return TemplateState(name, version, cache[kind, name])


def as_dict(listing: Listing) -> dict[str, Any]:
    """Plain data for ``--json``."""
    project = listing.project
    return {
        "project": project.name,
        "path": str(project.root),
        "git": listing.git.as_dict(),
        "template": listing.template.as_dict(),
        "remote": project.git.remote,
        "children": [_child(row) for row in listing.rows],
        "environments": [_environment(env) for env in project.environments],
    }


def _child(row: Row) -> dict[str, Any]:
    child = row.child
    data: dict[str, Any] = {"kind": child.kind, "name": child.name, "path": str(child.path),
                            "template": child.template, "git": row.git.as_dict(),
                            "template_version": row.template.version,
                            "template_latest": row.template.latest,
                            "update_available": row.template.update_available}
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
