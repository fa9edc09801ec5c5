"""A teammate's day, for real: ``clone`` a project with all its repos from bare remotes over
file:// and ssh:// (the CI sshd), ``list`` and ``test --all`` it, and ``sync`` two clones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from helpers import HANG_GUARD
from team_project import (
    CHILDREN,
    GROUP,
    bare_repos,
    commit_and_push,
    edit,
    git,
    make_shop,
    repo_paths,
)

from workbench import registry

pytestmark = pytest.mark.integration

RunWorkbench = Callable[..., subprocess.CompletedProcess[str]]


def unique() -> str:
    return "team" + uuid.uuid4().hex[:8]


@pytest.fixture
def images(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Project names whose images are removed after the test."""
    names: list[str] = []
    yield names
    for name in names:
        for image in docker_client.images.list(filters={"label": f"dev.workbench.project={name}"}):
            docker_client.images.remove(image.id, force=True)


def assert_cloned(source: Path, clone: Path) -> None:
    """Every repo of the clone is at the source's commit, tracking origin/main, clean."""
    for name, path in repo_paths(clone).items():
        original = repo_paths(source)[name]
        assert git(path, "rev-parse", "HEAD") == git(original, "rev-parse", "HEAD"), name
        assert git(path, "rev-parse", "--abbrev-ref", "@{upstream}") == "origin/main", name
        assert git(path, "status", "--porcelain") == "", name


def clone_list_and_test(run_workbench: RunWorkbench, tmp_path: Path, remote: str, name: str,
                        base_image: str) -> None:
    source = make_shop(tmp_path / "alice", name, remote, base_image=base_image)
    url = remote.format(group=GROUP, name=name)
    (tmp_path / "bob").mkdir()
    done = run_workbench("--batch", "clone", url, cwd=tmp_path / "bob", timeout=HANG_GUARD)
    assert done.returncode == 0, done.stdout + done.stderr
    clone = tmp_path / "bob" / name
    # progress per repo: one line each, as it arrives
    for kind, child, _ in CHILDREN:
        assert any(line.startswith("ok ") and line.endswith(f"clone {kind} {child}")
                   for line in done.stdout.splitlines()), (child, done.stdout)
    assert f"project {name} in {clone}: 5 cloned" in done.stdout
    assert_cloned(source, clone)
    assert [e.path for e in registry.load() if e.name == name] == [source, clone]

    listed = run_workbench("--batch", "list", "--json", cwd=clone)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [(c["kind"], c["name"]) for c in data["children"]] == [
        ("endpoint", "orders"), ("endpoint", "site"), ("model", "customer"),
        ("utility", "textutil")]
    assert all(c["git"]["upstream"] == "origin/main" and not c["update_available"]
               for c in data["children"])

    tested = run_workbench("--batch", "test", "--all", cwd=clone, timeout=600)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 endpoints: 2 passed" in tested.stdout
    assert "[orders/tests] Ran 4 tests" in tested.stdout


def test_clone_over_file_then_list_and_test_all(run_workbench: RunWorkbench, tmp_path: Path,
                                               base_image: str, images: list[str]) -> None:
    name = unique()
    images.append(name)
    remote = f"file://{tmp_path}/git-host/{{group}}/{{name}}.git"
    clone_list_and_test(run_workbench, tmp_path, remote, name, base_image)


def test_clone_over_ssh_then_list_and_test_all(run_workbench: RunWorkbench, tmp_path: Path,
                                              base_image: str, images: list[str], ssh_target,
                                              git_ssh_env: dict[str, str]) -> None:
    name = unique()
    images.append(name)
    bare_repos(tmp_path / "srv", name)
    remote = ssh_target.url(f"{tmp_path}/srv/{{group}}/{{name}}.git")
    assert remote.startswith("ssh://")
    clone_list_and_test(run_workbench, tmp_path, remote, name, base_image)


# -- clone: a missing child, and running it again ---------------------------------------------
def test_a_child_missing_on_the_remote_is_named_and_the_others_arrive(
        run_workbench: RunWorkbench, tmp_path: Path) -> None:
    name = unique()
    host = tmp_path / "git-host"
    make_shop(tmp_path / "alice", name, f"file://{host}/{{group}}/{{name}}.git")
    (host / GROUP / "site.git").rename(host / "site.git.away")
    url = f"file://{host}/{GROUP}/{name}.git"
    (tmp_path / "bob").mkdir()

    done = run_workbench("--batch", "clone", url, "shop", cwd=tmp_path / "bob")
    assert done.returncode == 3, done.stdout + done.stderr
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in done.stdout + done.stderr
    assert "endpoint site is not on the git remote" in err and "site.git" in err
    assert "remove 'site' from 'endpoints'" in err
    assert any(line.startswith("FAIL") and "clone endpoint site" in line
               for line in done.stdout.splitlines())
    clone = tmp_path / "bob" / "shop"
    for _, child, folder in CHILDREN:
        assert (clone / folder / child / ".git").is_dir() == (child != "site"), child
    # nothing half-made: no site folder, no staging folder
    assert sorted(p.name for p in (clone / "endpoints").iterdir()) == [".gitkeep", "orders"]

    (host / "site.git.away").rename(host / GROUP / "site.git")
    again = run_workbench("--batch", "clone", url, "shop", cwd=tmp_path / "bob")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 cloned, 4 already there" in again.stdout
    assert_cloned(tmp_path / "alice" / name, clone)


# -- sync ---------------------------------------------------------------------------------------
def two_clones(run_workbench: RunWorkbench, tmp_path: Path, remote: str) -> tuple[Path, Path]:
    name = unique()
    alice = make_shop(tmp_path / "alice", name, remote)
    (tmp_path / "bob").mkdir()
    done = run_workbench("--batch", "clone", remote.format(group=GROUP, name=name), "shop",
                         cwd=tmp_path / "bob")
    assert done.returncode == 0, done.stdout + done.stderr
    return alice, tmp_path / "bob" / "shop"


def sync_json(run_workbench: RunWorkbench, root: Path, *args: str
              ) -> tuple[int, dict[str, dict[str, object]]]:
    done = run_workbench("--batch", "sync", "--json", *args, cwd=root)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    result = events[-1]
    assert result["event"] == "result", done.stdout
    finished = {e["step"] for e in events if e["event"] == "step_finished"}
    assert finished == {f"sync:{r['name']}" for r in result["data"]["repos"]}  # one per repo
    return done.returncode, {r["name"]: r for r in result["data"]["repos"]}


def test_sync_fast_forwards_pushes_and_leaves_a_diverged_repo_alone(
        run_workbench: RunWorkbench, tmp_path: Path) -> None:
    host = tmp_path / "git-host"
    alice, bob = two_clones(run_workbench, tmp_path, f"file://{host}/{{group}}/{{name}}.git")
    a, b = repo_paths(alice), repo_paths(bob)
    # alice changes orders and site; bob changed site too (diverged) and customer (ahead)
    edit(a["orders"] / "app.py", 'server_version = "app/1"', 'server_version = "app/2"')
    commit_and_push(a["orders"], "orders v2")
    edit(a["site"] / "nginx.conf", "server {", "server {  # alice")
    commit_and_push(a["site"], "alice's site")
    edit(b["site"] / "nginx.conf", "server {", "server {  # bob")
    git(b["site"], "commit", "-qam", "bob's site")
    bob_site = git(b["site"], "rev-parse", "HEAD")
    (b["customer"] / "NOTES.md").write_text("notes\n")
    git(b["customer"], "add", "NOTES.md")
    git(b["customer"], "commit", "-qm", "notes")
    (b["textutil"] / "scratch.txt").write_text("not committed\n")  # dirty, not behind

    code, repos = sync_json(run_workbench, bob)
    assert code == 1  # site needs bob
    assert repos["orders"]["action"] == "fast-forwarded" and repos["orders"]["commits"] == 1
    assert git(b["orders"], "rev-parse", "HEAD") == git(a["orders"], "rev-parse", "HEAD")
    assert 'server_version = "app/2"' in (b["orders"] / "app.py").read_text()
    assert repos["site"]["action"] == "diverged"
    assert (repos["site"]["ahead"], repos["site"]["behind"]) == (1, 1)
    assert "not touched" in str(repos["site"]["detail"])
    assert git(b["site"], "rev-parse", "HEAD") == bob_site  # neither merged nor rebased
    assert git(b["site"], "status", "--porcelain") == ""
    assert repos["customer"]["action"] == "ahead" and repos["customer"]["ahead"] == 1
    assert git(host / GROUP / "customer.git", "rev-list", "--count", "main") == "1"
    assert repos["textutil"]["action"] == "up to date" and repos["textutil"]["dirty"] is True
    assert next(iter(repos.values()))["kind"] == "project"

    code, repos = sync_json(run_workbench, bob, "--push")
    assert repos["customer"]["action"] == "pushed"
    assert git(host / GROUP / "customer.git", "rev-parse", "main") == \
        git(b["customer"], "rev-parse", "HEAD")
    assert repos["site"]["action"] == "diverged" and code == 1
    assert git(host / GROUP / "site.git", "rev-parse", "main") == \
        git(a["site"], "rev-parse", "HEAD")  # a diverged repo is never pushed


def test_a_failing_repo_never_stops_the_others(run_workbench: RunWorkbench,
                                               tmp_path: Path) -> None:
    host = tmp_path / "git-host"
    alice, bob = two_clones(run_workbench, tmp_path, f"file://{host}/{{group}}/{{name}}.git")
    a, b = repo_paths(alice), repo_paths(bob)
    for name in ("orders", "textutil"):
        (a[name] / "CHANGES.md").write_text("more\n")
        git(a[name], "add", "CHANGES.md")
        commit_and_push(a[name], "more")
    (host / GROUP / "customer.git").rename(host / "customer.git.away")
    # a change bob made to a file the incoming commit changes: not fast-forwarded
    (b["textutil"] / "CHANGES.md").write_text("bob's own\n")

    done = run_workbench("--batch", "sync", cwd=bob)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = {line.split()[1]: line for line in done.stdout.splitlines()
             if line.startswith(("project ", "endpoint ", "model ", "utility "))}
    assert "fast-forwarded 1" in lines["orders"]
    assert "failed: cannot fetch" in lines["customer"] and "customer.git" in lines["customer"]
    assert "behind" in lines["textutil"] and "not fast-forwarded" in lines["textutil"]
    assert (b["textutil"] / "CHANGES.md").read_text() == "bob's own\n"
    assert len(done.stderr.strip().splitlines()) == 1


def test_sync_over_ssh(run_workbench: RunWorkbench, tmp_path: Path, ssh_target,
                       git_ssh_env: dict[str, str]) -> None:
    name = unique()
    bare_repos(tmp_path / "srv", name)
    remote = ssh_target.url(f"{tmp_path}/srv/{{group}}/{{name}}.git")
    alice = make_shop(tmp_path / "alice", name, remote)
    (tmp_path / "bob").mkdir()
    done = run_workbench("--batch", "clone", remote.format(group=GROUP, name=name),
                         cwd=tmp_path / "bob")
    assert done.returncode == 0, done.stdout + done.stderr
    bob = tmp_path / "bob" / name
    a, b = repo_paths(alice), repo_paths(bob)
    for repo in ("project", "site"):
        (a[repo] / "CHANGES.md").write_text("from alice\n")
        git(a[repo], "add", "CHANGES.md")
        commit_and_push(a[repo], "from alice")
    code, repos = sync_json(run_workbench, bob)
    assert code == 0, repos
    assert repos["site"]["action"] == "fast-forwarded"
    assert repos[name]["action"] == "fast-forwarded"
    assert (b["site"] / "CHANGES.md").read_text() == "from alice\n"
    assert all(r["action"] in ("up to date", "fast-forwarded") for r in repos.values())


# -- Ctrl-C ------------------------------------------------------------------------------------
HANGING_SSH = """#!/bin/sh
# ssh, except for the site repo: there it says so and waits (until Ctrl-C)
case "$*" in *site.git*) touch "$WB_TEST_READY"; exec sleep 600;; esac
exec ssh "$@"
"""


def test_ctrl_c_keeps_complete_repos_and_leaves_nothing_half_made(
        tmp_path: Path, ssh_target, git_ssh_env: dict[str, str]) -> None:
    name = unique()
    bare_repos(tmp_path / "srv", name)
    remote = ssh_target.url(f"{tmp_path}/srv/{{group}}/{{name}}.git")
    make_shop(tmp_path / "alice", name, remote)
    wrapper = tmp_path / "bin" / "ssh"
    wrapper.parent.mkdir()
    wrapper.write_text(HANGING_SSH)
    wrapper.chmod(0o755)
    ready = tmp_path / "ready"
    env = {**os.environ, "WB_TEST_READY": str(ready),
           "GIT_SSH_COMMAND": git_ssh_env["GIT_SSH_COMMAND"].replace("ssh ", f"{wrapper} ", 1)}
    (tmp_path / "bob").mkdir()
    url = remote.format(group=GROUP, name=name)
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "--batch", "clone", url, "shop"],
                            cwd=tmp_path / "bob", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    waiting = threading.Event()
    for _ in range(60000):  # until the site clone hangs (a count, not a clock)
        if ready.exists() or proc.poll() is not None:
            break
        waiting.wait(0.001)
    assert ready.exists(), proc.communicate(timeout=HANG_GUARD)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=HANG_GUARD)  # a hang test: it must end
    assert proc.returncode == 130, out + err
    assert err.strip().splitlines() == [err.strip()] and "clone interrupted" in err
    clone = tmp_path / "bob" / "shop"
    for _, child, folder in CHILDREN:
        place = clone / folder / child
        assert not place.exists() or git(place, "rev-parse", "HEAD"), child  # whole or absent
    assert not (clone / "endpoints" / "site").exists()
    assert [p.name for p in clone.rglob("*wb-clone*")] == []
    again = subprocess.run([sys.executable, "-m", "workbench", "--batch", "clone", url, "shop"],
                           cwd=tmp_path / "bob", capture_output=True, text=True, timeout=HANG_GUARD)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_cloned(tmp_path / "alice" / name, clone)
