"""Git repos that workbench creates: init, commit, add ``origin`` and push (GitPython).

Works without a configured git identity: GitPython falls back to the user and host name, as
git itself would with a warning. Pushes never prompt: ssh runs in batch mode unless the user set
their own ssh command, and git's terminal prompt is off. Failures become one-line errors:
unreachable or auth -> :class:`Unreachable`, a remote that rejects the push -> :class:`BadInput`.
"""

from __future__ import annotations

import os
from pathlib import Path

import git

from .errors import BadInput, OperationFailed, Unreachable
from .gitcmd import UNREACHABLE as _UNREACHABLE
from .gitcmd import clean_stderr as _clean_stderr
from .gitcmd import first_line as _first_line
from .remotes import local_path

BRANCH = "main"
PUSH_TIMEOUT = 120.0


def init(path: Path, message: str) -> git.Repo:
    """Make ``path`` a repo on branch main with one commit of everything in it."""
    repo = git.Repo.init(path, initial_branch=BRANCH)
    commit_all(repo, message)
    return repo


def open_repo(path: Path) -> git.Repo | None:
    """The repo whose top folder is ``path``, or None when it is not one."""
    try:
        return git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def commit_all(repo: git.Repo, message: str, paths: list[str] | None = None) -> str:
    """Stage ``paths`` (default: everything, honouring .gitignore) and commit; returns the sha."""
    if paths is None:
        repo.git.add("--all")
    else:
        repo.git.add("--", *paths)
    return repo.index.commit(message).hexsha


def ensure_bare(url: str) -> None:
    """Create the bare repo of a ``file://`` remote when it does not exist yet."""
    folder = local_path(url)
    if folder is None or (Path(folder) / "HEAD").exists():
        return
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        git.Repo.init(folder, bare=True, initial_branch=BRANCH)
    except (OSError, git.GitCommandError) as exc:
        reason = getattr(exc, "strerror", None) or _first_line(str(exc))
        raise Unreachable(f"cannot create the bare repo {folder} ({reason})",
                          "check the path in the git remote and its permissions") from None


def set_origin(repo: git.Repo, url: str) -> None:
    if "origin" in [r.name for r in repo.remotes]:
        repo.delete_remote(repo.remote("origin"))
    repo.create_remote("origin", url)


def push(repo: git.Repo, url: str) -> None:
    """Set ``origin`` to ``url`` and push main to it, tracking it."""
    ensure_bare(url)
    set_origin(repo, url)
    try:
        repo.git.push("--set-upstream", "origin", f"{BRANCH}:{BRANCH}",
                      env=_push_env(repo), kill_after_timeout=PUSH_TIMEOUT)
    except git.GitCommandError as exc:
        raise _push_error(url, exc) from None


def has_origin(repo: git.Repo) -> bool:
    return any(r.name == "origin" for r in repo.remotes)


def push_existing(repo: git.Repo) -> None:
    """Push the current branch to its existing ``origin``."""
    try:
        url = repo.remote("origin").url
        repo.git.push("origin", f"{BRANCH}:{BRANCH}", env=_push_env(repo),
                      kill_after_timeout=PUSH_TIMEOUT)
    except git.GitCommandError as exc:
        raise _push_error(url, exc) from None


def _push_env(repo: git.Repo) -> dict[str, str]:
    env = {"GIT_TERMINAL_PROMPT": "0"}
    own_ssh = os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH")
    if not own_ssh and not repo.config_reader().get_value("core", "sshCommand", ""):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=15"
    return env


def _push_error(url: str, exc: git.GitCommandError) -> Exception:
    text = _clean_stderr(exc.stderr) or _first_line(str(exc))
    low = text.lower()
    if "rejected" in low or "non-fast-forward" in low or "fetch first" in low:
        return BadInput(f"the git remote {url} rejected the push: {text}",
                        "it already holds other commits; use a new name or an empty repo")
    if exc.status == -9 or "timed out" in low or any(m in low for m in _UNREACHABLE):
        return Unreachable(f"cannot push to {url}: {text}",
                           "check the URL, the network and your SSH key or token")
    return OperationFailed(f"git push to {url} failed: {text}", "run 'git push' there to see why")
