"""``clone``: a project repo, then every endpoint, model and utility repo it names, at once.

The project repo comes first (its ``workbench.yaml`` names the children and the git remote
template they live at), then the children are cloned in parallel, each into a hidden staging
folder beside its place and moved there when complete, so a failed or interrupted clone leaves
no half-made folder. A child that cannot be cloned is reported with the reason; the others still
arrive, and running ``clone`` again into the same folder fills in what is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .. import registry
from ..errors import BadInput, ConfigError, ExitCode, Interrupted, OperationFailed, WorkbenchError
from ..events import Emit, Event, Progress, Result, Steps, Warning, ignore
from ..gitcmd import DEFAULT_JOBS, GitSession, error_for, is_missing, ssh_host
from ..model import ENDPOINT_FILE, KIND_FOLDERS, PROJECT_FILE, ProjectFile, load_project
from ..remotes import check_url, render, repo_name, same_repo, sibling
from .new import clean_stale_staging, staging

Status = Literal["cloned", "present", "failed"]
STAGING = ".wb-clone-"


@dataclass(frozen=True, slots=True)
class RepoClone:
    """What became of one repo of the project."""

    kind: str
    name: str
    path: Path
    url: str
    status: Status
    reason: str = ""
    exit_code: int = ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "path": str(self.path), "url": self.url,
                "status": self.status, "reason": self.reason, "exit_code": int(self.exit_code)}


@dataclass(frozen=True, slots=True)
class CloneReport:
    """The project's folder and the outcome of each of its repos."""

    root: Path
    project: str
    url: str
    repos: tuple[RepoClone, ...]

    @property
    def failed(self) -> tuple[RepoClone, ...]:
        return tuple(r for r in self.repos if r.status == "failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        """OK; the failures' own code when they share one; else FAILED."""
        codes = {r.exit_code for r in self.failed}
        return int(codes.pop()) if len(codes) == 1 else (ExitCode.OK if not codes
                                                          else ExitCode.FAILED)

    def summary(self) -> str:
        cloned = sum(r.status == "cloned" for r in self.repos)
        present = sum(r.status == "present" for r in self.repos)
        line = f"project {self.project} in {self.root}: {cloned} cloned"
        if present:
            line += f", {present} already there"
        if self.failed:
            names = ", ".join(f"{r.kind} {r.name}" for r in self.failed)
            line += (f", {len(self.failed)} failed ({names}); run the same clone again to fill "
                     "them in once fixed")
        return line


@dataclass(frozen=True, slots=True)
class _Child:
    kind: str
    name: str
    path: Path
    url: str


def _locked(emit: Emit) -> Emit:
    lock = threading.Lock()

    def locked(event: Event) -> None:
        with lock:
            emit(event)

    return locked


def clone_project(url: str, parent: Path, folder: str | None = None, *,
                  jobs: int = DEFAULT_JOBS, emit: Emit = ignore,
                  session: GitSession | None = None) -> CloneReport:
    """Clone the project at ``url`` into ``parent/folder`` (default: the repo's name), then
    its children; fill in the missing children when that folder is already this project."""
    url = check_url(url)
    if not parent.is_dir():
        raise BadInput(f"folder {parent} does not exist", "create it or pass an existing -C DIR")
    target = (parent / (folder or repo_name(url))).absolute()
    if not target.parent.is_dir():
        raise BadInput(f"folder {target.parent} does not exist", "create it first")
    emit = _locked(emit)
    own = session is None
    session = session or GitSession()
    try:
        return _clone(url, target, jobs, emit, session)
    except KeyboardInterrupt:
        session.cancel()
        raise Interrupted("clone interrupted", "the repos that had arrived were kept; run the "
                          "same clone again to fill in the rest") from None
    finally:
        if own:
            session.close()


def _clone(url: str, target: Path, jobs: int, emit: Emit, session: GitSession
           ) -> CloneReport:
    steps = Steps(emit)
    project_file = _existing_clone(url, target, session)
    if project_file is None:
        project_file = _clone_project_repo(url, target, steps, session)
        top = RepoClone("project", project_file.name, target, url, "cloned")
    else:
        top = RepoClone("project", project_file.name, target, url, "present")
    registry.add(project_file.name, target)
    children = _children(project_file, target, url)
    outcomes: dict[str, RepoClone] = {}
    missing: list[_Child] = []
    for folder in KIND_FOLDERS.values():
        (target / folder).mkdir(exist_ok=True)
        clean_stale_staging(target / folder)
    for child in children:
        if (child.path / ".git").exists():
            outcomes[child.name] = RepoClone(child.kind, child.name, child.path, child.url,
                                             "present")
        elif child.path.exists() or child.path.is_symlink():
            outcomes[child.name] = RepoClone(
                child.kind, child.name, child.path, child.url, "failed",
                f"{child.path} exists but is not a git repo; move it away and clone again",
                ExitCode.BAD_INPUT)
        else:
            missing.append(child)

    def one(child: _Child) -> RepoClone:
        _clone_child(child, steps, emit, session)
        return RepoClone(child.kind, child.name, child.path, child.url, "cloned")

    results = session.map(one, missing, jobs=jobs, first=lambda c: ssh_host(c.url))
    for child, result in zip(missing, results, strict=True):
        if isinstance(result, WorkbenchError):
            outcomes[child.name] = RepoClone(child.kind, child.name, child.path, child.url,
                                             "failed", result.line, result.exit_code)
        else:
            outcomes[child.name] = result
    report = CloneReport(target, project_file.name, url,
                         (top, *(outcomes[c.name] for c in children)))
    if report.ok:
        try:
            load_project(target)
        except WorkbenchError as exc:
            emit(Warning(f"the project was cloned but does not load: {exc.line}"))
    emit(Result(report.ok, report.summary(), {"path": str(target), "project": report.project,
                                              "repos": [r.as_dict() for r in report.repos]}))
    return report


def _existing_clone(url: str, target: Path, session: GitSession) -> ProjectFile | None:
    """The project file of ``target`` when it is already a clone of ``url`` (clone fills it
    in); None when ``target`` is free (missing, or an empty folder); else BadInput."""
    if not (target.exists() or target.is_symlink()):
        return None
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return None
    fix = ("choose another folder (workbench --batch clone URL DIR); cloning again into a clone "
           "of the same URL fills in its missing repos")
    if not (target / PROJECT_FILE).is_file() or not (target / ".git").exists():
        raise BadInput(f"{target} already exists", fix)
    origin = session.run(["remote", "get-url", "origin"], cwd=target)
    if not origin.ok or not same_repo(origin.out.strip(), url):
        where = origin.out.strip() if origin.ok else "no origin"
        raise BadInput(f"{target} already exists and is a clone of {where}, not {url}", fix)
    return _read_project_file(target, url)


def _clone_project_repo(url: str, target: Path, steps: Steps, session: GitSession
                        ) -> ProjectFile:
    clean_stale_staging(target.parent)
    with steps.step("clone:project", f"clone project {url}"), \
            staging(target, STAGING) as work:
        done = session.run(["clone", "--progress", "--", url, str(work)], cwd=target.parent,
                           progress=_progress(steps.emit, "clone:project"))
        if not done.ok:
            fix = ("check the URL (and that you can reach it: "
                   "'git ls-remote URL')") if is_missing(done.err) else None
            raise error_for("clone", url, done, fix)
        project_file = _read_project_file(work, url)
        if target.exists():  # an empty folder: take its place
            target.rmdir()
        work.rename(target)
    return project_file


def _read_project_file(folder: Path, url: str) -> ProjectFile:
    from ..model import parse_project_file
    from ..yamlfile import read

    path = folder / PROJECT_FILE
    if not path.is_file():
        raise BadInput(f"{url} is not a workbench project: its repo has no {PROJECT_FILE}",
                       "give the URL of the project's repo, not of one of its endpoints; "
                       "'workbench --batch list' in a project shows its remote")
    try:
        _, data = read(path)
        return parse_project_file(path, data)
    except ConfigError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        problem = exc.problem.split(": ", 1)[-1]
        raise BadInput(f"{url} is not a usable workbench project: its {PROJECT_FILE} {where}"
                       f"{problem}", "fix it in the project repo and push it") from None


def _children(pf: ProjectFile, root: Path, url: str) -> list[_Child]:
    """Every child of the project, with the URL it is cloned from: the git remote template
    of ``workbench.yaml``, else the repo beside the project's own."""
    group = pf.git.group or pf.name
    children = []
    for kind, folder in KIND_FOLDERS.items():
        for name in pf.children[kind]:
            child_url = (render(pf.git.remote, group=group, name=name) if pf.git.remote
                         else sibling(url, name))
            children.append(_Child(kind, name, root / folder / name, child_url))
    return children


def _clone_child(child: _Child, steps: Steps, emit: Emit, session: GitSession) -> None:
    step = f"clone:{child.name}"
    with steps.step(step, f"clone {child.kind} {child.name}"), \
            staging(child.path, STAGING) as work:
        done = session.run(["clone", "--progress", "--", child.url, str(work)],
                           cwd=child.path.parent, progress=_progress(emit, step))
        if not done.ok:
            if is_missing(done.err):
                raise _missing(child, done.err)
            raise error_for("clone", child.url, done)
        if "cloned an empty repository" in done.err:
            raise OperationFailed(f"{child.url} is empty: {child.kind} {child.name} was never "
                                  "pushed", "push it from the machine that has it, then clone "
                                  "again")
        if child.kind == "endpoint" and not (work / ENDPOINT_FILE).is_file():
            raise BadInput(f"{child.url} is not a workbench endpoint (it has no "
                           f"{ENDPOINT_FILE})", f"check 'git.remote' in {PROJECT_FILE}")
        work.rename(child.path)


def _missing(child: _Child, stderr: str) -> WorkbenchError:
    from ..errors import Unreachable
    from ..gitcmd import clean_stderr

    return Unreachable(f"{child.kind} {child.name} is not on the git remote: {child.url} "
                       f"({clean_stderr(stderr)})",
                       f"push it from the machine that has it, or remove '{child.name}' from "
                       f"'{KIND_FOLDERS[child.kind]}' in {PROJECT_FILE}; then clone again")


def _progress(emit: Emit, step: str) -> Callable[[int], None]:
    def report(percent: int) -> None:
        emit(Progress(step, percent, 100))

    return report
