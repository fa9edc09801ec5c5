"""``sync``: fetch every repo of a project at once, fast-forward what can be, push on request.

Per repo: ``git fetch``, then its branch, ahead/behind its upstream and dirty flag. A repo only
behind is fast-forwarded (``git merge --ff-only``: git refuses rather than touch local changes);
with ``push``, a repo only ahead is pushed to its upstream. Nothing is ever merged or rebased:
a diverged repo is reported and left alone. Each repo's failure is its own; the others go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .. import gitstate
from ..errors import ExitCode, Interrupted, WorkbenchError
from ..events import Emit, Result, StepFinished, StepStarted, ignore
from ..gitcmd import DEFAULT_JOBS, GitSession, clean_stderr, error_for, ssh_host
from ..model import KIND_FOLDERS, PROJECT_FILE, ProjectFile, parse_project_file
from .clone import _locked

Action = Literal["up to date", "fast-forwarded", "pushed", "ahead", "behind", "diverged",
                 "no upstream", "local only", "detached", "missing", "failed"]
NEEDS_YOU: frozenset[str] = frozenset({"behind", "diverged", "no upstream", "detached",
                                       "missing", "failed"})
"""Outcomes that leave a repo not in step with its remote: the run's exit is not 0."""


@dataclass(frozen=True, slots=True)
class RepoSync:
    """One repo after the sync: its state and what was done."""

    kind: str
    name: str
    path: Path
    action: Action
    detail: str = ""
    branch: str | None = None
    upstream: str | None = None
    ahead: int = 0
    behind: int = 0
    dirty: bool = False
    commits: int = 0
    """Commits fast-forwarded or pushed."""
    exit_code: int = ExitCode.OK

    @property
    def ok(self) -> bool:
        return self.action not in NEEDS_YOU

    def line(self) -> str:
        """``fast-forwarded 2``, ``diverged +1/-2: not touched; ...``."""
        text = self.action + (f" {self.commits}" if self.commits else "")
        return f"{text}: {self.detail}" if self.detail else text

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "path": str(self.path),
                "action": self.action, "detail": self.detail, "ok": self.ok,
                "branch": self.branch, "upstream": self.upstream, "ahead": self.ahead,
                "behind": self.behind, "dirty": self.dirty, "commits": self.commits,
                "exit_code": int(self.exit_code)}


@dataclass(frozen=True, slots=True)
class SyncReport:
    root: Path
    repos: tuple[RepoSync, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.repos)

    @property
    def exit_code(self) -> int:
        """OK; the code the repos that need you share; else FAILED."""
        codes = {r.exit_code for r in self.repos if not r.ok}
        return int(codes.pop()) if len(codes) == 1 else (ExitCode.OK if not codes
                                                          else ExitCode.FAILED)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for repo in self.repos:
            counts[repo.action] = counts.get(repo.action, 0) + 1
        parts = ", ".join(f"{n} {action}" for action, n in counts.items())
        return f"synced {len(self.repos)} repos: {parts}"


@dataclass(frozen=True, slots=True)
class _Repo:
    kind: str
    name: str
    path: Path


def repos_of(root: Path, pf: ProjectFile) -> list[_Repo]:
    """The project repo, then every child's, in the order of ``workbench.yaml``."""
    repos = [_Repo("project", pf.name, root)]
    for kind, folder in KIND_FOLDERS.items():
        repos += [_Repo(kind, name, root / folder / name) for name in pf.children[kind]]
    return repos


def sync_project(root: Path, *, push: bool = False, jobs: int = DEFAULT_JOBS,
                 emit: Emit = ignore, session: GitSession | None = None) -> SyncReport:
    """Fetch, report and fast-forward (and with ``push``, push) every repo of the project."""
    from ..yamlfile import read

    _, data = read(root / PROJECT_FILE)
    pf = parse_project_file(root / PROJECT_FILE, data)
    repos = repos_of(root, pf)
    emit = _locked(emit)
    own = session is None
    session = session or GitSession()
    try:
        urls = {repo.name: _remotes(session, repo.path) for repo in repos}
        origin = urls[pf.name].get("origin", "URL")

        def one(repo: _Repo) -> RepoSync:
            step, label = f"sync:{repo.name}", f"sync {repo.kind} {repo.name}"
            emit(StepStarted(step, label))
            started = time.perf_counter()
            try:
                result = _sync(repo, urls[repo.name], push, session, origin, root)
            except WorkbenchError as exc:
                result = RepoSync(repo.kind, repo.name, repo.path, "failed", exc.line,
                                  exit_code=exc.exit_code)
            emit(StepFinished(step, label, result.ok, time.perf_counter() - started,
                              result.line()))
            return result

        def host(repo: _Repo) -> object:
            url = next(iter(urls[repo.name].values()), None)
            return ssh_host(url) if url else None

        results = session.map(one, repos, jobs=jobs, first=host)
    except KeyboardInterrupt:
        session.cancel()
        raise Interrupted("sync interrupted", "git stops cleanly: run sync again") from None
    finally:
        if own:
            session.close()
    rows = tuple(r if isinstance(r, RepoSync) else
                 RepoSync(repo.kind, repo.name, repo.path, "failed", r.line,
                          exit_code=r.exit_code)
                 for repo, r in zip(repos, results, strict=True))
    report = SyncReport(root, rows)
    emit(Result(report.ok, report.summary(), {"path": str(root),
                                              "repos": [r.as_dict() for r in rows]}))
    return report


def _remotes(session: GitSession, path: Path) -> dict[str, str]:
    """The repo's remotes and their URLs ({} for none, or when it is not a repo)."""
    if not (path / ".git").exists():
        return {}
    done = session.run(["config", "--get-regexp", r"^remote\..*\.url$"], cwd=path)
    found = {}
    for line in done.out.splitlines():
        key, _, url = line.partition(" ")
        found[key.removeprefix("remote.").removesuffix(".url")] = url.strip()
    return found


def _sync(repo: _Repo, urls: dict[str, str], push: bool, session: GitSession, origin: str,
          root: Path) -> RepoSync:
    base = RepoSync(repo.kind, repo.name, repo.path, "up to date")
    if not repo.path.is_dir():
        return replace(base, action="missing", exit_code=ExitCode.FAILED,
                       detail=f"not cloned; 'workbench --batch clone {origin} {root}' fills "
                       "it in")
    if not (repo.path / ".git").exists():
        return replace(base, action="failed", exit_code=ExitCode.FAILED,
                       detail=f"{repo.path} is not a git repo")
    url = urls.get("origin") or next(iter(urls.values()), repo.name)
    if not urls:
        state = gitstate.read(repo.path)
        return _with_state(replace(base, action="local only", detail="it has no remote"),
                           state)
    fetched = session.run(["fetch", "--prune", "--quiet"], cwd=repo.path)
    if not fetched.ok:
        error = error_for("fetch", url, fetched)
        return replace(base, action="failed", detail=error.line, exit_code=error.exit_code)
    state = gitstate.read(repo.path)
    if not state.repo:
        return replace(base, action="failed", detail=state.error or "not readable",
                       exit_code=ExitCode.FAILED)
    row = _with_state(base, state)
    if state.branch is None:
        return replace(row, action="detached", exit_code=ExitCode.FAILED,
                       detail="HEAD is detached: not touched; check out a branch")
    if state.upstream is None:
        return replace(row, action="no upstream", exit_code=ExitCode.FAILED,
                       detail=f"branch {state.branch} tracks nothing; 'git push -u origin "
                       f"{state.branch}' sets it")
    if state.ahead and state.behind:
        return replace(row, action="diverged", exit_code=ExitCode.FAILED,
                       detail=f"+{state.ahead}/-{state.behind}: not touched; merge or rebase "
                       "it yourself")
    if state.behind:
        done = session.run(["merge", "--ff-only", "--quiet", "@{upstream}"], cwd=repo.path)
        if not done.ok:
            return replace(row, action="behind", exit_code=ExitCode.FAILED,
                           detail=f"not fast-forwarded: {clean_stderr(done.err)}; commit or "
                           "stash your changes, then sync again")
        return _with_state(replace(row, action="fast-forwarded", commits=state.behind),
                           gitstate.read(repo.path))
    if state.ahead and push:
        done = session.run(["-c", "push.default=upstream", "push", "--quiet"], cwd=repo.path)
        if not done.ok:
            error = error_for("push", url, done)
            return replace(row, action="failed", detail=error.line, exit_code=error.exit_code)
        return _with_state(replace(row, action="pushed", commits=state.ahead),
                           gitstate.read(repo.path))
    if state.ahead:
        plural = "s" if state.ahead > 1 else ""
        return replace(row, action="ahead", detail=f"{state.ahead} commit{plural} to push")
    return row


def _with_state(row: RepoSync, state: gitstate.GitState) -> RepoSync:
    return replace(row, branch=state.branch, upstream=state.upstream, ahead=state.ahead,
                   behind=state.behind, dirty=state.dirty)

