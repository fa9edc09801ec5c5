"""``update``: apply the current version of a template to folders made from an older one.

A three-way merge per folder (:mod:`workbench.merge`): base is the old template version rendered
with the folder's answers, theirs the current version rendered with the same answers, ours the
working tree. A plan is computed first (plain data, its diff shown by ``--dry-run`` and by the
TUI), then applied: a clean merge is committed in that repo with a message naming both
versions; a conflict leaves git's markers in the file, is listed, and nothing is committed. The
answers file records the new version either way. A repo with uncommitted changes is refused,
so a failed or conflicting update can always be undone with ``git reset --hard``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .. import answers, gitstate, scaffold
from ..answers import ANSWERS_FILE
from ..errors import BadInput, ExitCode, OperationFailed, WorkbenchError
from ..events import Emit, Result, StepFinished, StepStarted, ignore
from ..merge import FileMerge, diff, merge_folder, write
from ..model import KIND_FOLDERS, ProjectFile
from ..schema import did_you_mean

Status = Literal["updated", "conflict", "current", "would update", "would conflict", "refused",
                 "failed"]
OK_STATUSES = ("updated", "current", "would update")


@dataclass(frozen=True, slots=True)
class Target:
    """A folder made from a template: the project's own, or a child's."""

    kind: str
    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """What updating one folder to its template's current version changes."""

    target: Target
    template: str
    from_version: int
    to_version: int
    changes: tuple[FileMerge, ...]
    head: str
    changelog: tuple[str, ...] = ()

    @property
    def conflicts(self) -> tuple[FileMerge, ...]:
        return tuple(c for c in self.changes if c.action == "conflict")

    def diff(self) -> str:
        return diff(self.changes)

    def message(self) -> str:
        """The commit message: both versions, then what changed between them."""
        t = self.target
        head = (f"Update {t.kind} {t.name} from template {self.template} v{self.from_version} "
                f"to v{self.to_version}")
        return head + ("\n\n" + "\n".join(self.changelog) if self.changelog else "") + "\n"


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """What became of one folder."""

    target: Target
    status: Status
    from_version: int | None = None
    to_version: int | None = None
    commit: str | None = None
    conflicts: tuple[str, ...] = ()
    reason: str = ""
    diff: str = ""
    exit_code: int = ExitCode.OK

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def line(self) -> str:
        t = self.target
        versions = (f" v{self.from_version} -> v{self.to_version}"
                    if self.from_version and self.to_version else "")
        text = f"{t.kind} {t.name}: {self.status}{versions}"
        if self.commit:
            text += f" (commit {self.commit[:12]})"
        return f"{text}: {self.reason}" if self.reason else text

    def as_dict(self) -> dict[str, Any]:
        t = self.target
        return {"kind": t.kind, "name": t.name, "path": str(t.path), "status": self.status,
                "ok": self.ok, "from_version": self.from_version,
                "to_version": self.to_version, "commit": self.commit,
                "conflicts": list(self.conflicts), "reason": self.reason, "diff": self.diff,
                "exit_code": int(self.exit_code)}


@dataclass(frozen=True, slots=True)
class UpdateReport:
    outcomes: tuple[UpdateOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        codes = {o.exit_code for o in self.outcomes if not o.ok}
        return int(codes.pop()) if len(codes) == 1 else (ExitCode.OK if not codes
                                                          else ExitCode.FAILED)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return "update: " + ", ".join(f"{n} {status}" for status, n in counts.items())


# -- choosing folders -------------------------------------------------------------------------
def select(root: Path, pf: ProjectFile, names: dict[str, list[str]], *, every: bool = False,
           project: bool = False) -> list[Target]:
    """The folders named by kind (``{"endpoint": [...], ...}``); ``every``: the project and
    all its children; ``project``: the project's own folder."""
    targets: list[Target] = []
    if every or project:
        targets.append(Target("project", pf.name, root))
    for kind, folder in KIND_FOLDERS.items():
        listed = pf.children[kind]
        wanted = listed if every else names.get(kind, [])
        for name in wanted:
            if name not in listed:
                hint = did_you_mean(name, list(listed))
                raise BadInput(f"project '{pf.name}' has no {kind} '{name}'",
                               hint or "run 'workbench --batch list' to see its children")
            target = Target(kind, name, root / folder / name)
            if target not in targets:
                targets.append(target)
    return targets


# -- planning ---------------------------------------------------------------------------------
def plan_update(target: Target) -> UpdatePlan | None:
    """The plan for one folder, or None when it already has the current template version.
    BadInput when it cannot be updated: not there, not a repo, dirty, answers missing or
    edited, a template that no longer exists or is newer than this workbench's."""
    what = f"{target.kind} {target.name}"
    if not target.path.is_dir():
        raise BadInput(f"{what} is missing: {target.path} does not exist",
                       "clone it first ('workbench --batch clone' fills in missing repos)")
    state = gitstate.read(target.path)
    if not state.repo:
        raise BadInput(f"{what} is not a git repo ({state.error or target.path})",
                       "update commits its change: it needs the folder's repo")
    if state.dirty:
        raise BadInput(f"{what} has uncommitted changes",
                       f"commit or stash them first (git -C {target.path} status), so that "
                       "the update can be told apart from your work and undone")
    found = answers.read(target.path, target.kind, target.name)
    try:
        current = scaffold.get(target.kind, found.template)
    except BadInput:
        choices = ", ".join(scaffold.available(target.kind)) or "none"
        raise BadInput(f"{what} was made from the {target.kind} template '{found.template}', "
                       "which this workbench no longer has",
                       f"its {target.kind} templates are: {choices}; the folder still works, "
                       "it just cannot take template updates") from None
    if found.template_version == current.version:
        return None
    if found.template_version > current.version:
        raise BadInput(f"{what} was made from template {found.template} "
                       f"v{found.template_version}, newer than this workbench's "
                       f"v{current.version}", "upgrade workbench")
    old = scaffold.get(target.kind, found.template, found.template_version)
    scratch = Path(tempfile.mkdtemp(prefix="wb-update-"))
    try:
        inputs = dict(found.inputs)
        scaffold.render(old, scratch / "base", inputs,
                        workbench_version=found.workbench_version or None)
        scaffold.render(current, scratch / "theirs", inputs)
        labels = ("yours", f"template {found.template} v{old.version}",
                  f"template {found.template} v{current.version}")
        changes = merge_folder(target.path, scratch / "base", scratch / "theirs",
                               labels=labels, skip=[ANSWERS_FILE])
        new_answers = (scratch / "theirs" / ANSWERS_FILE).read_bytes()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    old_answers = (target.path / ANSWERS_FILE).read_bytes()
    changes.append(FileMerge(ANSWERS_FILE, "modify", old_answers, new_answers))
    return UpdatePlan(target, found.template, found.template_version, current.version,
                      tuple(changes), _head(target.path),
                      tuple(current.changes_since(found.template_version)))


def _head(path: Path) -> str:
    import subprocess

    done = subprocess.run(["git", "-C", str(path), "rev-parse", "--verify", "-q", "HEAD"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip()


# -- applying ---------------------------------------------------------------------------------
def apply_update(plan: UpdatePlan) -> UpdateOutcome:
    """Write the plan into its folder; commit it when it merged cleanly."""
    from .. import gitrepo

    target = plan.target
    state = gitstate.read(target.path)
    if state.dirty or _head(target.path) != plan.head:
        raise BadInput(f"{target.kind} {target.name} changed since the update was planned",
                       "run the update again")
    try:
        write(target.path, plan.changes)
        if plan.conflicts:
            return _conflicted(plan)
        repo = gitrepo.open_repo(target.path)
        if repo is None:
            raise OperationFailed(f"{target.path} is no longer a git repo", "check it")
        sha = gitrepo.commit_all(repo, plan.message(), [c.path for c in plan.changes])
    except WorkbenchError:
        _restore(target.path, plan.changes)
        raise
    except Exception as exc:  # git or the file system: this folder's failure, undone
        _restore(target.path, plan.changes)
        reason = getattr(exc, "strerror", None) or \
            (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise OperationFailed(f"cannot update {target.kind} {target.name}: {reason}",
                              "it was put back as it was; check the folder and its repo"
                              ) from None
    except BaseException:
        _restore(target.path, plan.changes)
        raise
    return UpdateOutcome(target, "updated", plan.from_version, plan.to_version, commit=sha,
                         diff=plan.diff())


def _conflicted(plan: UpdatePlan) -> UpdateOutcome:
    path = plan.target.path
    names = tuple(c.path for c in plan.conflicts)
    reason = (f"resolve {', '.join(names)} ({plan.conflicts[0].reason}), then commit; nothing "
              f"was committed; to undo: git -C {path} reset --hard && git -C {path} clean -fd")
    return UpdateOutcome(plan.target, "conflict", plan.from_version, plan.to_version,
                         conflicts=names, reason=reason, diff=plan.diff(),
                         exit_code=ExitCode.FAILED)


def _restore(folder: Path, changes: tuple[FileMerge, ...]) -> None:
    """Put every file the plan touched, and the index, back as they were (the repo was clean
    before)."""
    import subprocess

    subprocess.run(["git", "-C", str(folder), "reset", "-q"], capture_output=True, check=False)
    for change in changes:
        path = folder / change.path
        try:
            if change.before is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(change.before)
        except OSError:
            continue


# -- the command ------------------------------------------------------------------------------
def update(targets: list[Target], *, dry_run: bool = False, emit: Emit = ignore
           ) -> UpdateReport:
    """Plan and (unless ``dry_run``) apply the update of each folder; one folder's refusal
    or conflict never stops the others."""
    import time

    outcomes: list[UpdateOutcome] = []
    for target in targets:
        step, label = f"update:{target.name}", f"update {target.kind} {target.name}"
        emit(StepStarted(step, label))
        started = time.perf_counter()
        outcome = _one(target, dry_run)
        emit(StepFinished(step, label, outcome.ok, time.perf_counter() - started,
                          outcome.line()))
        outcomes.append(outcome)
    report = UpdateReport(tuple(outcomes))
    emit(Result(report.ok, report.summary(), {"dry_run": dry_run,
                                              "folders": [o.as_dict() for o in outcomes]}))
    return report


def _one(target: Target, dry_run: bool) -> UpdateOutcome:
    try:
        plan = plan_update(target)
        if plan is None:
            return UpdateOutcome(target, "current", reason="already at the template's "
                                 "current version")
        if dry_run:
            status: Status = "would conflict" if plan.conflicts else "would update"
            return UpdateOutcome(
                target, status, plan.from_version, plan.to_version,
                conflicts=tuple(c.path for c in plan.conflicts), diff=plan.diff(),
                exit_code=ExitCode.FAILED if plan.conflicts else ExitCode.OK)
        return apply_update(plan)
    except WorkbenchError as exc:
        return UpdateOutcome(target, "refused" if isinstance(exc, BadInput) else "failed",
                             reason=exc.line, exit_code=exc.exit_code)

