"""Render templates from ``scaffolds/`` with one jinja2 environment per template version.

A template is a folder ``scaffolds/<kind>-<template>/`` (``endpoint-python``, ``model``...)
holding ``template.yaml`` (name, kind, version, description, changelog) and ``files/``.
Under ``files/``:

- a file ending ``.j2`` is rendered with jinja2 and written without the suffix;
- any other file is copied byte for byte, with its mode;
- ``{{ name }}``-style expressions in path parts are rendered too;
- a path part starting with ``dot-`` is written with a leading ``.`` (``dot-gitignore``);
  packaging tools drop dotfiles, so templates never hold them directly.

Every rendered folder gets ``.workbench-answers.yaml``: template, version and inputs, so that
a later template version can be applied to it (copier's answers file). ``update`` renders the
old version again as the merge base, so every earlier version stays in the package:
``versions/<N>/`` holds the template folder as it was at version N (its ``files/`` and the
macros they import). Before raising ``version`` in ``template.yaml``, run
``python -m workbench.scaffold freeze <kind>-<template>`` and add a ``changelog`` line.

``WORKBENCH_SCAFFOLDS`` points at another templates folder (for template authors and tests).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import yaml

from . import __version__, answers
from .answers import ANSWERS_FILE as ANSWERS_FILE
from .errors import BadInput, OperationFailed

if TYPE_CHECKING:  # jinja2 is imported when rendering only: listing needs the metadata alone
    import jinja2

TEMPLATE_SUFFIX = ".j2"
KINDS = ("project", "endpoint", "model", "utility")
VERSIONS = "versions"
_EMPTY: MappingProxyType[int, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Template:
    """One template folder under ``scaffolds/``, at its current version or an earlier one."""

    name: str
    kind: str
    version: int
    description: str
    root: Path
    changelog: MappingProxyType[int, str] = field(default_factory=lambda: _EMPTY)
    """What each version changed, by version number."""
    folder: str = ""
    """The template's folder name under ``scaffolds/`` (``endpoint-python``)."""

    @property
    def files(self) -> Path:
        return self.root / "files"

    def changes_since(self, version: int) -> list[str]:
        """The changelog lines of the versions after ``version``, oldest first."""
        return [f"v{v}: {self.changelog[v]}" for v in sorted(self.changelog) if v > version]


def scaffolds_root() -> Path:
    """The templates folder: ``WORKBENCH_SCAFFOLDS``, else the installed ``scaffolds/``."""
    override = os.environ.get("WORKBENCH_SCAFFOLDS")
    if override:
        return Path(override)
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


def get(kind: str, template: str, version: int | None = None) -> Template:
    """Load one template's metadata (``version``: an earlier version of it); BadInput naming the
    choices when it does not exist."""
    folder = _folder(kind, template)
    root = scaffolds_root() / folder
    meta_file = root / "template.yaml"
    if not meta_file.is_file():
        choices = ", ".join(available(kind)) or "none"
        raise BadInput(f"there is no {kind} template '{template}'", f"use one of: {choices}")
    meta = _meta(meta_file)
    current = int(meta.get("version", 1))
    changelog = MappingProxyType({int(k): str(v) for k, v in
                                  (meta.get("changelog") or {}).items()})
    found = Template(name=template, kind=kind, version=current,
                     description=str(meta.get("description", "")), root=root,
                     changelog=changelog, folder=folder)
    if version is None or version == current:
        return found
    old = root / VERSIONS / str(version)
    if version > current or not (old / "files").is_dir():
        raise BadInput(f"{kind} template '{template}' has no version {version} (this workbench "
                       f"has versions up to {current})",
                       "upgrade workbench if the folder was made by a newer one")
    return Template(name=template, kind=kind, version=version, description=found.description,
                    root=old, changelog=changelog, folder=folder)


def _meta(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@cache
def environment(root: Path | None = None, folder: str = "", version_root: Path | None = None
                ) -> jinja2.Environment:
    """The jinja2 environment of one template version: strict about undefined names, no
    autoescape (not HTML). ``"<folder>/..."`` names (imports such as ``model/naming.j2``)
    resolve inside ``version_root``, so an earlier version renders with its own macros."""
    import jinja2

    root = root or scaffolds_root()
    loader: jinja2.BaseLoader = jinja2.FileSystemLoader(str(root))
    if folder and version_root is not None:
        loader = jinja2.ChoiceLoader([
            jinja2.PrefixLoader({folder: jinja2.FileSystemLoader(str(version_root))}), loader])
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


_EXPR = re.compile(r"\{\{.*?\}\}")


def _render_part(env: jinja2.Environment, part: str, context: dict[str, Any]) -> str:
    if _EXPR.search(part):
        part = env.from_string(part).render(context)
    if part.startswith("dot-"):
        part = "." + part[4:]
    return part


def render(template: Template, target: Path, inputs: dict[str, Any], *,
           workbench_version: str | None = None) -> list[Path]:
    """Render ``template`` into the folder ``target`` (created, must not exist).

    Returns the written files, relative to ``target``. Writes the answers file last.
    """
    import jinja2

    context = {"template": template.name, "kind": template.kind, **inputs}
    context["workbench_version"] = workbench_version or inputs.get("workbench_version") \
        or __version__
    written: list[Path] = []
    target.mkdir(parents=True, exist_ok=False)
    folder = template.folder or _folder(template.kind, template.name)
    env = environment(scaffolds_root(), folder, template.root)
    try:
        for source in sorted(template.files.rglob("*")):
            relative = source.relative_to(template.files)
            if source.is_dir() or "__pycache__" in relative.parts or source.suffix == ".pyc":
                continue
            parts = [_render_part(env, p, context) for p in relative.parts]
            if parts[-1].endswith(TEMPLATE_SUFFIX):
                parts[-1] = parts[-1][: -len(TEMPLATE_SUFFIX)]
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.name.endswith(TEMPLATE_SUFFIX):
                name = f"{folder}/{source.relative_to(template.root).as_posix()}"
                destination.write_text(env.get_template(name).render(context), encoding="utf-8")
                shutil.copymode(source, destination)
            else:
                shutil.copy2(source, destination)
            written.append(destination.relative_to(target))
    except jinja2.TemplateError as exc:
        raise OperationFailed(
            f"template {folder} v{template.version} failed to render: {exc}",
            "report this as a bug in the template",
        ) from exc
    answers.write(target, answers.Answers(
        template=template.name, kind=template.kind, template_version=template.version,
        workbench_version=str(context["workbench_version"]),
        inputs=MappingProxyType({k: v for k, v in inputs.items() if k != "workbench_version"})))
    written.append(Path(ANSWERS_FILE))
    return written


def freeze(folder: str) -> Path:
    """Copy the template ``folder`` (``endpoint-python``) as it is now to
    ``versions/<its version>/``, before its version is raised. Returns the copy."""
    root = scaffolds_root() / folder
    version = int(_meta(root / "template.yaml").get("version", 1))
    target = root / VERSIONS / str(version)
    if target.exists():
        raise BadInput(f"{target} already exists", "raise the version in template.yaml first")
    shutil.copytree(root, target, ignore=shutil.ignore_patterns(
        VERSIONS, "__pycache__", "*.pyc"))
    return target


if __name__ == "__main__":  # python -m workbench.scaffold freeze endpoint-python
    if len(sys.argv) != 3 or sys.argv[1] != "freeze":
        sys.exit("usage: python -m workbench.scaffold freeze KIND-TEMPLATE")
    print(f"froze {freeze(sys.argv[2])}")
