"""``new``: create a project, endpoint, model or utility, each its own git repo, and push it.

All-or-nothing: everything is checked before anything is written; the repo is rendered,
committed and pushed inside a hidden temporary folder beside its target, then moved into place
with one rename. A failure or Ctrl-C at any step removes what was made, leaves
``workbench.yaml`` and the registry as they were, and re-raises. A ``new`` killed outright
(SIGKILL, power loss) cannot clean up: the next ``new`` removes its staging folder, which it
recognises by the lock a running ``new`` holds on its own (the kernel drops it with the process).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import names, registry, scaffold
from ..errors import BadInput
from ..events import Emit, Result, Steps, Warning, ignore
from ..model import KIND_FOLDERS, PROJECT_FILE, GitSettings, Kind, find_root, load_project
from ..remotes import check_template, render

if TYPE_CHECKING:
    import git

    from ..gitlab import GitLab

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")
DEFAULT_TEMPLATES: dict[str, str] = {"endpoint": "python", "model": "model", "utility": "utility"}


@dataclass(frozen=True, slots=True)
class Created:
    """What ``new`` made."""

    kind: str
    name: str
    path: Path
    template: str
    remote: str | None


def new_project(parent: Path, name: str, *, remote: str | None = None,
                group: str | None = None, gitlab: str | None = None,
                emit: Emit = ignore) -> Created:
    """Create the project folder ``parent/name``, a git repo, pushed when a remote is given."""
    names.check(name, "project")
    git = _git_settings(remote, group, gitlab, default_group=name)
    parent = _existing_folder(parent)
    target = parent / name
    _check_free(target, "project")
    client = _gitlab_client(git)
    template = scaffold.get("project", "project")
    clean_stale_staging(parent)
    steps = Steps(emit)
    inputs = {"name": name, "package": names.package(name), "project": name,
              "git_remote": git.remote, "git_group": git.group, "gitlab": git.gitlab}
    with staging(target) as work:
        with steps.step("render", f"Render project {name}"):
            scaffold.render(template, work, inputs)
        with steps.step("commit", "Create the git repo"):
            from .. import gitrepo

            repo = gitrepo.init(work, f"Create project {name} with workbench")
        url = _publish(repo, git, name, name, steps, client)
        with steps.step("place", f"Move into {target}"):
            work.rename(target)
    try:
        registry.add(name, target)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    created = Created("project", name, target, template.name, url)
    emit(Result(True, f"created project {name} in {target}", _as_data(created)))
    return created


def new_child(start: Path, kind: Kind, name: str, *, template: str | None = None,
              emit: Emit = ignore) -> Created:
    """Create an endpoint, model or utility in the project at or above ``start``."""
    from .. import gitrepo, projectfile, yamlfile

    root = find_root(_existing_folder(start))
    project = load_project(root)
    names.check(name, kind)
    if name in names.RESERVED:
        raise BadInput(f"'{name}' is reserved by workbench", f"choose another {kind} name")
    if name in project.names():
        owner = "the project" if name == project.name else "another child"
        raise BadInput(f"the name '{name}' is already used by {owner} in '{project.name}'",
                       "choose a name not shown by 'workbench --batch list'")
    chosen = scaffold.get(kind, template or DEFAULT_TEMPLATES[kind])
    target = root / KIND_FOLDERS[kind] / name
    _check_free(target, kind)
    file = root / PROJECT_FILE
    old_text = file.read_text(encoding="utf-8")
    new_text = projectfile.with_child(file, old_text, KIND_FOLDERS[kind], name)
    client = _gitlab_client(project.git)
    steps = Steps(emit)
    inputs = {"name": name, "package": names.package(name), "project": project.name}
    target.parent.mkdir(exist_ok=True)
    for folder in KIND_FOLDERS.values():
        clean_stale_staging(root / folder)
    with staging(target) as work:
        with steps.step("render", f"Render {kind} {name} from template {chosen.name}"):
            scaffold.render(chosen, work, inputs)
        with steps.step("commit", "Create the git repo"):
            repo = gitrepo.init(work, f"Create {kind} {name} from template {chosen.name} "
                                f"v{chosen.version}")
        url = _publish(repo, project.git, project.name, name, steps, client)
        with steps.step("register", f"Register {name} in {PROJECT_FILE}"):
            work.rename(target)
            try:
                yamlfile.write_atomic(file, new_text)
                project_repo = gitrepo.open_repo(root)
                if project_repo is not None:
                    gitrepo.commit_all(project_repo, f"Add {kind} {name}", [PROJECT_FILE])
            except BaseException:
                yamlfile.write_atomic(file, old_text)
                shutil.rmtree(target, ignore_errors=True)
                raise
    if project_repo is not None and gitrepo.has_origin(project_repo):
        try:
            with steps.step("push-project", "Push the project repo"):
                gitrepo.push_existing(project_repo)
        except Exception as exc:  # the child is complete; the project commit stays local
            reason = getattr(exc, "line", None) or str(exc)
            emit(Warning(f"{kind} {name} was created, but the project commit was not pushed: "
                         f"{reason}; run 'git push' in {root}"))
    created = Created(kind, name, target, chosen.name, url)
    emit(Result(True, f"created {kind} {name} in {target}", _as_data(created)))
    return created


# -- helpers ----------------------------------------------------------------------------------
def _git_settings(remote: str | None, group: str | None, gitlab: str | None,
                  default_group: str) -> GitSettings:
    if remote is not None:
        check_template(remote)
    if group is not None and not _GROUP.match(group):
        raise BadInput(f"bad git group {group!r}: use letters, digits, '-', '_', '.' and '/'",
                       f"e.g. --group {names.suggest(group)}")
    if gitlab is not None:
        from ..gitlab import check_base_url

        check_base_url(gitlab)
    if group is not None and remote is None and gitlab is None:
        raise BadInput("--group needs --git-remote or --gitlab",
                       "add --git-remote 'URL/{group}/{name}.git' or --gitlab URL")
    if remote is None and gitlab is None:
        return GitSettings()
    return GitSettings(remote=remote, group=group or default_group, gitlab=gitlab)


def _gitlab_client(settings: GitSettings) -> GitLab | None:
    if settings.gitlab is None:
        return None
    from ..gitlab import GitLab, token_from_env

    return GitLab(settings.gitlab, token_from_env())


def _publish(repo: git.Repo, settings: GitSettings, project: str, name: str, steps: Steps,
             client: GitLab | None) -> str | None:
    """Create the repo on the git host when needed, set origin and push; returns the URL."""
    from .. import gitrepo

    if settings.remote is None and client is None:
        return None
    group = settings.group or project
    url = render(settings.remote, group=group, name=name) if settings.remote else None
    if client is not None:
        with steps.step("git-host", f"Create {group}/{name} on GitLab"):
            found = client.ensure_project(client.ensure_group(group), name)
            url = url or found.ssh_url_to_repo
    assert url is not None
    with steps.step("push", f"Push to {url}"):
        gitrepo.push(repo, url)
    return url


def _existing_folder(path: Path) -> Path:
    if not path.is_dir():
        raise BadInput(f"folder {path} does not exist", "create it or pass an existing -C DIR")
    return path.resolve()


def _check_free(target: Path, what: str) -> None:
    if target.exists() or target.is_symlink():
        raise BadInput(f"{target} already exists", f"choose another {what} name or remove it")


STAGING_MARKS = (".wb-new-", ".wb-clone-")
"""What the hidden staging folders of ``new`` and ``clone`` have in their names."""


@contextmanager
def staging(target: Path, mark: str = ".wb-new-") -> Iterator[Path]:
    """A hidden folder beside ``target`` to build in, locked while in use; removed on exit
    whatever happens."""
    try:
        holder = Path(tempfile.mkdtemp(prefix=f".{target.name}{mark}", dir=target.parent))
        lock = os.open(holder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise BadInput(f"cannot write in {target.parent} ({exc.strerror})",
                       "check the folder's permissions") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield holder / target.name
    finally:
        shutil.rmtree(holder, ignore_errors=True)
        os.close(lock)


def clean_stale_staging(folder: Path) -> list[Path]:
    """Remove the staging folders in ``folder`` left by a ``new`` or ``clone`` that was killed:
    those no running process holds the lock of. Returns what was removed."""
    removed: list[Path] = []
    try:
        entries = [e for e in folder.iterdir() if e.name.startswith(".")
                   and any(mark in e.name for mark in STAGING_MARKS)]
    except OSError:
        return removed
    for entry in entries:
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # gone meanwhile, or not a folder: not ours
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a running new or clone holds it
        else:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        finally:
            os.close(fd)
    return removed


def _as_data(created: Created) -> dict[str, object]:
    return {"kind": created.kind, "name": created.name, "path": str(created.path),
            "template": created.template, "remote": created.remote}
