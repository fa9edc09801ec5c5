"""A project pushed to bare remotes, for the clone and sync tests (importable as
``team_project``): two endpoints (python ``orders``, which includes the model and the
utility, and static ``site``), model ``customer`` and utility ``textutil``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from workbench.ops.new import new_child, new_project

CHILDREN = (("endpoint", "orders", "endpoints"), ("endpoint", "site", "endpoints"),
            ("model", "customer", "models"), ("utility", "textutil", "utilities"))
GROUP = "team"


def git(path: Path, *args: str) -> str:
    """Run git in ``path`` (as a test identity: HOME is empty) and return its output."""
    return subprocess.run(["git", "-C", str(path), "-c", "user.name=Tester", "-c",
                           "user.email=tester@example.invalid", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def commit_and_push(repo: Path, message: str) -> None:
    git(repo, "commit", "-qam", message)
    git(repo, "push", "-q")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def bare_repos(folder: Path, name: str) -> None:
    """Empty bare repos for the project and its children under ``folder/team/`` (an ssh
    remote must exist before the first push)."""
    for repo in (name, *(child for _, child, _ in CHILDREN)):
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main",
                        str(folder / GROUP / f"{repo}.git")], check=True)


def make_shop(parent: Path, name: str, remote: str, *, base_image: str | None = None) -> Path:
    """Create the project ``parent/name`` with ``new`` (every repo pushed to ``remote``)."""
    parent.mkdir(parents=True, exist_ok=True)
    root = new_project(parent, name, remote=remote, group=GROUP).path
    for kind, child, _ in sorted(CHILDREN, key=lambda c: c[0] == "endpoint"):
        new_child(root, kind, child, template="static" if child == "site" else None)  # type: ignore[arg-type]
    orders = root / "endpoints" / "orders"
    edit(orders / "endpoint.yaml", "models: []", "models: [customer]")
    edit(orders / "endpoint.yaml", "utilities: []", "utilities: [textutil]")
    # The app imports both: it only starts when they are in its image.
    edit(orders / "app.py", "MAX_BODY =",
         "import customer  # noqa: E402,F401  (lib/, copied in by workbench)\n"
         "import textutil  # noqa: E402,F401\n\nMAX_BODY =")
    commit_and_push(orders, "Include the model and the utility")
    if base_image is not None:
        edit(root / "workbench.yaml", "build_args: {}",
             f'build_args: {{BASE_IMAGE: "{base_image}"}}')
        commit_and_push(root, "Build from the local base image")
    return root


def repo_paths(root: Path) -> dict[str, Path]:
    """The project's repos by name: the project's own first."""
    return {"project": root, **{child: root / folder / child for _, child, folder in CHILDREN}}
