"""Repos pushed for real: bare repos as remotes over file:// and over ssh:// to a real sshd."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHILDREN = [("-e", "orders", "endpoints"), ("-e", "web", "endpoints"),
            ("-m", "customer", "models"), ("-u", "textutil", "utilities")]


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def make_project(run_workbench, cwd: Path, remote: str) -> Path:
    done = run_workbench("--batch", "new", "shop", "--git-remote", remote, "--group", "team",
                         cwd=cwd)
    assert done.returncode == 0, done.stderr
    root = cwd / "shop"
    for flag, name, _ in CHILDREN:
        extra = ["--template", "static"] if name == "web" else []
        done = run_workbench("--batch", "new", flag, name, *extra, cwd=root)
        assert done.returncode == 0, done.stderr
        assert "Push to" in done.stdout
    return root


def assert_pushed(root: Path, bare_root: Path) -> None:
    """Every repo's HEAD is the main branch of its bare repo under bare_root/team/."""
    repos = [("shop", root)] + [(name, root / folder / name) for _, name, folder in CHILDREN]
    for name, local in repos:
        bare = bare_root / "team" / f"{name}.git"
        assert git(bare, "rev-parse", "main") == git(local, "rev-parse", "HEAD"), name
    assert "Add utility textutil" in git(bare_root / "team" / "shop.git", "log", "main",
                                         "--format=%s")


def test_project_with_children_pushed_to_file_remotes(run_workbench, tmp_path: Path) -> None:
    bare_root = tmp_path / "git-host"
    root = make_project(run_workbench, tmp_path, f"file://{bare_root}/{{group}}/{{name}}.git")
    assert_pushed(root, bare_root)
    assert "ARG BASE_IMAGE=" in git(bare_root / "team" / "web.git", "show", "main:Dockerfile")

    done = run_workbench("--batch", "list", "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert [(c["kind"], c["name"]) for c in listing["children"]] == [
        ("endpoint", "orders"), ("endpoint", "web"), ("model", "customer"),
        ("utility", "textutil")]
    for entry in [listing, *listing["children"]]:
        state = entry["git"]
        assert state["upstream"] == "origin/main" and not state["dirty"]
        assert (state["ahead"], state["behind"]) == (0, 0)

    (root / "endpoints" / "orders" / "app.py").write_text("# changed\n")
    plain = run_workbench("--batch", "list", cwd=root).stdout
    assert "orders    python    main dirty" in plain
    assert "web       static    main clean" in plain


def test_pushed_over_ssh_to_a_real_sshd(run_workbench, tmp_path: Path, ssh_target,
                                        git_ssh_env) -> None:
    bare_root = tmp_path / "srv"
    for name in ["shop"] + [name for _, name, _ in CHILDREN]:
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main",
                        str(bare_root / "team" / f"{name}.git")], check=True)
    remote = ssh_target.url(f"{bare_root}/{{group}}/{{name}}.git")
    assert remote.startswith("ssh://")
    root = make_project(run_workbench, tmp_path, remote)
    assert_pushed(root, bare_root)
    assert git(root, "remote", "get-url", "origin").startswith(f"ssh://{ssh_target.user}@")


def test_missing_repo_over_ssh_is_exit_3_and_leaves_nothing(run_workbench, tmp_path: Path,
                                                             ssh_target, git_ssh_env) -> None:
    work = tmp_path / "work"
    work.mkdir()
    remote = ssh_target.url(f"{tmp_path}/nowhere/{{group}}/{{name}}.git")
    done = run_workbench("--batch", "new", "shop", "--git-remote", remote, cwd=work)
    assert done.returncode == 3, done.stderr
    assert "does not appear to be a git repository" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert list(work.iterdir()) == []


def test_unknown_host_key_is_refused_not_ignored(run_workbench, tmp_path: Path, ssh_target,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    monkeypatch.setenv("GIT_SSH_COMMAND", ssh_target.ssh_command.replace(
        str(ssh_target.known_hosts), str(empty)) + " -o GlobalKnownHostsFile=/dev/null")
    bare = tmp_path / "srv" / "shop" / "shop.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    done = run_workbench("--batch", "new", "shop", "--git-remote",
                         ssh_target.url(f"{tmp_path}/srv/{{group}}/{{name}}.git"), cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "Host key verification failed" in done.stderr
    assert not (tmp_path / "shop").exists()
