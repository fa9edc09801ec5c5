"""Render templates from ``scaffolds/`` with one jinja2 environment.

A template is a folder ``scaffolds/<kind>-<template>/`` (``endpoint-python``, ``model``...)
holding ``template.yaml`` (name, kind, version, description) and ``files/``. Under ``files/``:

- a file ending ``.j2`` is rendered with jinja2 and written without the suffix;
- any other file is copied byte for byte, with its mode;
- ``{{ name }}``-style expressions in path parts are rendered too;
- a path part starting with ``dot-`` is written with a leading ``.`` (``dot-gitignore``);
  packaging tools drop dotfiles, so templates never hold them directly.

Every rendered folder gets ``.workbench-answers.yaml``: template, version and inputs, so that
a later template version can be applied to it (copier's answers file).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml

from . import __version__
from .errors import BadInput, OperationFailed

ANSWERS_FILE = ".workbench-answers.yaml"
TEMPLATE_SUFFIX = ".j2"
KINDS = ("project", "endpoint", "model", "utility")


@dataclass(frozen=True, slots=True)
class Template:
    """One template folder under ``scaffolds/``."""

    name: str
    kind: str
    version: int
    description: str
    root: Path

    @property
    def files(self) -> Path:
        return self.root / "files"


def scaffolds_root() -> Path:
    """The installed ``scaffolds/`` folder."""
    return Path(str(resources.files("scaffolds")))


def _folder(kind: str, template: str) -> str:
    return kind if template == kind else f"{kind}-{template}"


def available(kind: str) -> list[str]:
    """Template names offered for one kind, sorted."""
    names = []
    for path in sorted(scaffolds_root().iterdir()):
        if path.name == kind:
            names.append(kind)
        elif path.name.startswith(kind + "-") and (path / "template.yaml").is_file():
            names.append(path.name[len(kind) + 1 :])
    return names


def get(kind: str, template: str) -> Template:
    """Load one template's metadata; BadInput naming the choices when it does not exist."""
    root = scaffolds_root() / _folder(kind, template)
    meta_file = root / "template.yaml"
    if not meta_file.is_file():
        choices = ", ".join(available(kind)) or "none"
        raise BadInput(f"there is no {kind} template '{template}'", f"use one of: {choices}")
    meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
    return Template(
        name=template,
        kind=kind,
        version=int(meta.get("version", 1)),
        description=str(meta.get("description", "")),
        root=root,
    )


@cache
def environment() -> jinja2.Environment:
    """The one jinja2 environment: strict about undefined names, no autoescape (not HTML)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(scaffolds_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


_EXPR = re.compile(r"\{\{.*?\}\}")


def _render_part(part: str, context: dict[str, Any]) -> str:
    if _EXPR.search(part):
        part = environment().from_string(part).render(context)
    if part.startswith("dot-"):
        part = "." + part[4:]
    return part


def render(template: Template, target: Path, inputs: dict[str, Any]) -> list[Path]:
    """Render ``template`` into the folder ``target`` (created, must not exist).

    Returns the written files, relative to ``target``. Writes the answers file last.
    """
    context = {"template": template.name, "kind": template.kind, **inputs}
    context.setdefault("workbench_version", __version__)
    written: list[Path] = []
    target.mkdir(parents=True, exist_ok=False)
    env = environment()
    try:
        for source in sorted(template.files.rglob("*")):
            relative = source.relative_to(template.files)
            if source.is_dir() or "__pycache__" in relative.parts or source.suffix == ".pyc":
                continue
            parts = [_render_part(p, context) for p in relative.parts]
            if parts[-1].endswith(TEMPLATE_SUFFIX):
                parts[-1] = parts[-1][: -len(TEMPLATE_SUFFIX)]
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.name.endswith(TEMPLATE_SUFFIX):
                name = source.relative_to(scaffolds_root()).as_posix()
                destination.write_text(env.get_template(name).render(context), encoding="utf-8")
                shutil.copymode(source, destination)
            else:
                shutil.copy2(source, destination)
            written.append(destination.relative_to(target))
    except jinja2.TemplateError as exc:
        raise OperationFailed(
            f"template {template.kind}-{template.name} failed to render: {exc}",
            "report this as a bug in the template",
        ) from exc
    answers = {
        "template": template.name,
        "kind": template.kind,
        "template_version": template.version,
        "workbench_version": context["workbench_version"],
        "inputs": {k: v for k, v in inputs.items() if k != "workbench_version"},
    }
    (target / ANSWERS_FILE).write_text(
        "# Written by workbench: the template and inputs this folder was made from.\n"
        + yaml.safe_dump(answers, sort_keys=True),
        encoding="utf-8",
    )
    written.append(Path(ANSWERS_FILE))
    return written
