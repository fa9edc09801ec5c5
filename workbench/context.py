"""The build context of an endpoint, and its version: a hash of everything the build reads.

The context is the endpoint folder (``.dockerignore`` respected, as ``docker build`` does) plus
the Python package of every model and utility it includes, under ``lib/<package>/``. The tar is
deterministic (sorted, mtime 0, root-owned, modes kept to 644/755), so the same inputs give the
same bytes and the version (sha256 of the tar and the build args) names the content: a
rebuild is needed only when it changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import names, sdk
from .errors import BadInput
from .model import Endpoint, Library, Project
from .yamlfile import read_text

LIB = "lib"


@dataclass(frozen=True, slots=True)
class BuildContext:
    endpoint: str
    data: bytes
    """The uncompressed tar stream sent to the engine."""
    version: str
    """12 hex digits of sha256(tar + build args)."""
    build_args: Mapping[str, str]
    files: int


def build_args(project: Project, endpoint: Endpoint,
               extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Project's build args, overridden by the endpoint's, overridden by ``extra``."""
    return {**project.build_args, **endpoint.build_args, **(extra or {})}


def build_context(project: Project, endpoint: Endpoint,
                  extra_args: Mapping[str, str] | None = None) -> BuildContext:
    """Pack the endpoint's context and compute its version."""
    root = endpoint.path
    if not (root / "Dockerfile").is_file():
        raise BadInput(f"endpoint '{endpoint.name}' has no Dockerfile in {root}",
                       "add one (see 'workbench --batch new -e NAME' for a template)")
    patterns = _dockerignore(root)
    sdk.load()
    from docker.utils.build import PatternMatcher, exclude_paths

    own = sorted(exclude_paths(root, list(patterns)))
    matcher = PatternMatcher(patterns)
    entries: list[tuple[str, Path]] = [(rel, root / rel) for rel in own if not _skipped(rel)]
    taken = {rel for rel, _ in entries}
    for library in _libraries(project, endpoint):
        package = names.package(library.name)
        prefix = f"{LIB}/{package}"
        if prefix in taken:
            raise BadInput(f"endpoint '{endpoint.name}' has its own {prefix} and also includes "
                           f"{library.kind} '{library.name}'",
                           f"remove {root / prefix} (workbench copies the {library.kind} there)")
        source = library.path / package
        if not source.is_dir():
            raise BadInput(f"{library.kind} '{library.name}' has no package folder {source}",
                           f"put its code in {source}/__init__.py")
        if matcher.matches(prefix) or matcher.matches(f"{prefix}/__init__.py"):
            raise BadInput(f"the .dockerignore of endpoint '{endpoint.name}' excludes {prefix}, "
                           f"where workbench puts {library.kind} '{library.name}'",
                           f"remove the pattern matching {prefix} from {root / '.dockerignore'}")
        if LIB not in taken:
            entries.append((LIB, root / LIB if (root / LIB).is_dir() else library.path))
            taken.add(LIB)
        for rel, path in _walk(source, prefix):
            if not matcher.matches(rel):
                entries.append((rel, path))
    data = _tar(sorted(entries))
    args = build_args(project, endpoint, extra_args)
    digest = hashlib.sha256(data)
    digest.update(json.dumps(sorted(args.items())).encode())
    files = sum(1 for _, path in entries if path.is_file())
    return BuildContext(endpoint.name, data, digest.hexdigest()[:12], args, files)


def _libraries(project: Project, endpoint: Endpoint) -> Iterator[Library]:
    for kind, wanted in (("model", endpoint.models), ("utility", endpoint.utilities)):
        have = {lib.name: lib for lib in (project.models if kind == "model" else project.utilities)}
        for name in wanted:
            if name not in have:
                raise BadInput(f"endpoint '{endpoint.name}' includes {kind} '{name}', which is "
                               "not in this project", f"add it with 'workbench --batch new "
                               f"-{kind[0]} {name}' or remove it from endpoint.yaml")
            yield have[name]


def _dockerignore(root: Path) -> list[str]:
    path = root / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in read_text(path, "the .dockerignore file").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _skipped(rel: str) -> bool:
    return rel.endswith(".pyc") or "__pycache__" in rel.split("/")


def _walk(source: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    yield prefix, source
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        here = Path(folder)
        rel_here = here.relative_to(source).as_posix()
        base = prefix if rel_here == "." else f"{prefix}/{rel_here}"
        for name in sorted(dirs):
            yield f"{base}/{name}", here / name
        for name in sorted(files):
            if not name.endswith(".pyc"):
                yield f"{base}/{name}", here / name


def _tar(entries: list[tuple[str, Path]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in entries:
            info = tar.gettarinfo(str(path), arcname=rel)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isdir():
                info.mode = 0o755
                tar.addfile(info)
            elif info.isfile():
                info.mode = 0o755 if info.mode & 0o111 else 0o644
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            elif info.issym():
                tar.addfile(info)
    return out.getvalue()


_LABEL_TEXT = re.compile(r"^[A-Za-z0-9._:/@+=-]*$")


def one_label_step(context: bytes, labels: Mapping[str, str]) -> tuple[bytes, Mapping[str, str]]:
    """``context`` with its Dockerfile ending in one ``LABEL`` instruction for all ``labels``.

    The classic builder (what ``POST /build`` runs) turns each label of the API into a LABEL
    step of its own, and each step is a container plus a commit: 4 labels made a build of a
    small endpoint ~35% slower. One instruction is one step, with the same labels on the
    image. Returns the context to send and the labels still to pass through the API: all of
    them, with ``context`` unchanged, when the Dockerfile is not a plain file at the top of the
    tar, its last instruction continues on a next line, or a label needs quoting.
    """
    if not labels or not all(_LABEL_TEXT.match(f"{k}{v}") for k, v in labels.items()):
        return context, labels
    try:
        with tarfile.open(fileobj=io.BytesIO(context)) as source:
            members = source.getmembers()
            found = [m for m in members if m.name in ("Dockerfile", "./Dockerfile")]
            if len(found) != 1 or not found[0].isfile():
                return context, labels
            handle = source.extractfile(found[0])
            text = handle.read() if handle is not None else b""
            lines = [line.strip() for line in text.splitlines()]
            last = next((line for line in reversed(lines) if line and not line.startswith(b"#")),
                        b"")
            if last.endswith((b"\\", b"`")):  # an instruction going on: the line would join it
                return context, labels
            line = "LABEL " + " ".join(f'"{k}"="{v}"' for k, v in sorted(labels.items()))
            dockerfile = text.rstrip(b"\n") + b"\n" + line.encode() + b"\n"
            out = io.BytesIO()
            with tarfile.open(fileobj=out, mode="w", format=source.format) as target:
                for member in members:
                    if member is found[0]:
                        member.size = len(dockerfile)
                        target.addfile(member, io.BytesIO(dockerfile))
                    else:
                        target.addfile(member, source.extractfile(member)
                                       if member.isfile() else None)
    except (tarfile.TarError, OSError):
        return context, labels
    return out.getvalue(), {}
