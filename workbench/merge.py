"""Three-way merge of a folder: what applying a new template version to it would change.

base is the old template version rendered with the folder's answers, theirs the new version
rendered with the same answers, ours the folder as it is. Only files the template changed
between the two versions are looked at; each text file is merged by ``git merge-file``, so a
conflict leaves git's standard markers. The result is plain data (:class:`FileMerge`): the
caller shows it as a diff, or writes it.
"""

from __future__ import annotations

import difflib
import os
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import OperationFailed

Action = Literal["add", "modify", "delete", "conflict"]


@dataclass(frozen=True, slots=True)
class FileMerge:
    """One file of the folder after the merge."""

    path: str
    """Relative to the folder, with ``/``."""
    action: Action
    before: bytes | None
    """The folder's file now (None: it does not exist)."""
    after: bytes | None
    """What the file becomes (None: it is deleted)."""
    mode: int | None = None
    """The executable bits to set (``0o755 & 0o111``...; None: keep them)."""
    reason: str = ""
    """For a conflict: what happened and what to do."""

    @property
    def writes(self) -> bool:
        return self.after != self.before or self.mode is not None


def files_of(folder: Path, skip: Iterable[str] = ()) -> dict[str, Path]:
    """Every file under ``folder`` by relative path (``.git`` and ``skip`` left out)."""
    skipped = set(skip)
    found = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if relative.split("/", 1)[0] == ".git" or relative in skipped or not path.is_file():
            continue
        found[relative] = path
    return found


def merge_folder(ours: Path, base: Path, theirs: Path, *, labels: tuple[str, str, str],
                 skip: Iterable[str] = ()) -> list[FileMerge]:
    """What applying the change ``base`` -> ``theirs`` to ``ours`` does, file by file."""
    skip = list(skip)
    base_files, their_files = files_of(base, skip), files_of(theirs, skip)
    changes: list[FileMerge] = []
    for path in sorted(set(base_files) | set(their_files)):
        old, new = base_files.get(path), their_files.get(path)
        old_bytes = old.read_bytes() if old else None
        new_bytes = new.read_bytes() if new else None
        if old_bytes == new_bytes and _mode(old) == _mode(new):
            continue  # the template did not change it: whatever the folder has stays
        here = ours / path
        if here.is_symlink() or (here.exists() and not here.is_file()):
            changes.append(FileMerge(path, "conflict", None, None, reason=(
                f"{labels[2]} changes {path}, which is not a plain file here: left alone")))
            continue
        mine = here.read_bytes() if here.is_file() else None
        change = _merge_one(path, here, mine, old, old_bytes, new, new_bytes, labels)
        if change is not None:
            changes.append(change)
    return changes


def _merge_one(path: str, here: Path, mine: bytes | None, old: Path | None,
               old_bytes: bytes | None, new: Path | None, new_bytes: bytes | None,
               labels: tuple[str, str, str]) -> FileMerge | None:
    template = labels[2]
    if mine is None:
        if new_bytes is None:
            return None  # removed here and in the template
        if old_bytes is None:
            return FileMerge(path, "add", None, new_bytes, _mode(new))
        return FileMerge(path, "conflict", None, new_bytes, _mode(new), reason=(
            f"you deleted it and {template} changed it: it is back as {template} has it; "
            "delete it again if you do not need it"))
    if new_bytes is None:
        if mine == old_bytes:
            return FileMerge(path, "delete", mine, None)
        return FileMerge(path, "conflict", mine, mine, reason=(
            f"{template} removed it, but you changed it: yours was kept; delete it if you "
            "do not need it"))
    mode = _new_mode(here, old, new)
    if mine == new_bytes:
        return FileMerge(path, "modify", mine, mine, mode) if mode is not None else None
    if mine == old_bytes:
        return FileMerge(path, "modify", mine, new_bytes, mode)
    if any(b"\0" in data for data in (mine, old_bytes or b"", new_bytes)):
        return FileMerge(path, "conflict", mine, mine, reason=(
            f"a binary file changed both here and in {template}: yours was kept"))
    assert new is not None  # new_bytes is not None
    merged, conflicts = merge_file(here, old, new, labels)
    if conflicts:
        return FileMerge(path, "conflict", mine, merged, mode, reason=(
            f"{conflicts} conflict(s) between your change and {template}: resolve the "
            "<<<<<<< ======= >>>>>>> markers"))
    if merged != mine or mode is not None:
        return FileMerge(path, "modify", mine, merged, mode)
    return None


def merge_file(ours: Path, base: Path | None, theirs: Path, labels: tuple[str, str, str]
               ) -> tuple[bytes, int]:
    """``git merge-file``: the merged bytes and the number of conflicts (markers in them)."""
    argv = ["git", "merge-file", "-p", "-L", labels[0], "-L", labels[1], "-L", labels[2],
            str(ours), str(base) if base is not None else os.devnull, str(theirs)]
    done = subprocess.run(argv, capture_output=True, check=False)
    if done.returncode < 0 or done.returncode > 127:
        raise OperationFailed(f"git merge-file failed on {ours}: "
                              f"{done.stderr.decode(errors='replace').strip()}",
                              "report this as a bug")
    return done.stdout, done.returncode


def _mode(path: Path | None) -> int | None:
    """The executable bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode) & 0o111 if path is not None else None


def _new_mode(here: Path, old: Path | None, new: Path | None) -> int | None:
    """The template's executable bits, when it changed them and the folder kept the old."""
    old_x, new_x = _mode(old), _mode(new)
    if new is None or old_x == new_x or _mode(here) != old_x:
        return None
    return new_x


def diff(changes: Iterable[FileMerge]) -> str:
    """A unified diff (``a/`` before, ``b/`` after) of what the changes write."""
    out: list[str] = []
    for change in changes:
        if not change.writes:
            if change.action == "conflict":
                out.append(f"# {change.path}: {change.reason}\n")
            continue
        a = f"a/{change.path}" if change.before is not None else "/dev/null"
        b = f"b/{change.path}" if change.after is not None else "/dev/null"
        if change.reason:
            out.append(f"# {change.path}: {change.reason}\n")
        before, after = _text(change.before), _text(change.after)
        if before is None or after is None:
            out.append(f"Binary files {a} and {b} differ\n")
            continue
        lines = list(difflib.unified_diff(before, after, a, b))
        if lines:
            out.extend(line if line.endswith("\n") else line + "\n\\ No newline at end of "
                       "file\n" for line in lines)
        elif change.mode is not None:
            now = "executable" if change.mode else "not executable"
            out.append(f"# {change.path} becomes {now}\n")
    return "".join(out)


def _text(data: bytes | None) -> list[str] | None:
    if data is None:
        return []
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def write(folder: Path, changes: Iterable[FileMerge]) -> None:
    """Write the changes into ``folder``."""
    for change in changes:
        path = folder / change.path
        if change.after is None:
            path.unlink(missing_ok=True)
            continue
        if change.after != change.before:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(change.after)
        if change.mode is not None:
            path.chmod((stat.S_IMODE(path.stat().st_mode) & ~0o111) | change.mode)
