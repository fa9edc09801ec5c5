"""The ops side of ``diff`` without Docker: git logs and ``git status`` of real repos
(:func:`git_log`, :func:`porcelain`), and :func:`release_changes` over release records in
local state roots, one host of two unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import BadInput
from workbench.model import Environment, Project, load_project
from workbench.ops.drift import git_log, porcelain, release_changes, repo_drift
from workbench.ops.new import new_child, new_project
from workbench.releasediff import render_release_changes
from workbench.releases import Release, append
from workbench.site import Site
from workbench.state import LocalStore

HOST = "deploy@10.0.0.5:22"
DOWN = "deploy@10.0.0.6:22"


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-C",
                           str(path), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "--short=12", "HEAD")


@pytest.fixture
def shop(tmp_path: Path) -> Project:
    new_project(tmp_path, "shop")
    root = tmp_path / "shop"
    new_child(root, "endpoint", "orders")
    with (root / "workbench.yaml").open("a") as handle:
        handle.write(f"  staging:\n    hosts: [{HOST}, {DOWN}]\n")
    return load_project(root)


def opener(store: LocalStore, down: bool = True) -> Any:
    """Opens HOST (its state root is ``store``); DOWN cannot be reached (``down``)."""

    @contextlib.asynccontextmanager
    async def open_reachable(_project: Project, _env: Environment
                             ) -> AsyncIterator[tuple[list[Site], dict[str, str]]]:
        site = Site(HOST, None, store, asyncio.open_connection)  # type: ignore[arg-type]
        yield [site], {DOWN: "cannot connect to deploy@10.0.0.6:22: Connection refused"} \
            if down else {}

    return open_reachable


async def record(store: LocalStore, version: str, sha: str, level: str,
                 outcome: str = "ok") -> None:
    config = {"port": 8000, "health": "/health", "health_timeout": 30.0,
              "routes": ["/orders"], "data": True, "env": ["LOG_LEVEL"], "secrets": []}
    await append(store, Release("orders", version, HOST, outcome, git_sha=sha,
                                config_hash=f"h-{level}", variables={"LOG_LEVEL": level},
                                endpoint_config=config, user="ann",
                                time=f"2025-01-0{version[-1]}T10:00:00+00:00"))


async def test_git_log_lists_commits_both_ways_and_counts_past_the_limit(tmp_path: Path
                                                                         ) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    base = commit(repo, "a.txt", "1", "First")
    shas = [commit(repo, "a.txt", str(n), f"Change {n}") for n in range(2, 6)]
    log = await git_log(repo, base, shas[-1], limit=3)
    assert log.added_count == 4 and log.removed_count == 0 and not log.error
    assert [c.split(" ", 1)[1] for c in log.added] == ["Change 5", "Change 4", "Change 3"]
    back = await git_log(repo, shas[-1], base)
    assert back.removed_count == 4 and back.added == ()
    assert (await git_log(repo, base, base)).added_count == 0


async def test_git_log_names_a_sha_the_repo_lacks_and_a_folder_that_is_no_repo(
        tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    head = commit(repo, "a.txt", "1", "First")
    log = await git_log(repo, "0123456789ab", head)
    assert log.error.startswith("the repo has no commit 0123456789ab")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert (await git_log(plain, head, head)).error == f"{plain} is not a git repo"


async def test_porcelain_lists_edits_and_new_files(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, "a.txt", "1", "First")
    assert await porcelain(repo) == ()
    (repo / "a.txt").write_text("2")
    (repo / "b.txt").write_text("new")
    assert await porcelain(repo) == (" M a.txt", "?? b.txt")


async def test_previous_names_the_changed_variable_and_the_commits(shop: Project,
                                                                   tmp_path: Path) -> None:
    repo = shop.endpoint("orders").path
    first = git(repo, "rev-parse", "--short=12", "HEAD")
    second = commit(repo, "app.py", "print('v2')\n", "Change the greeting")
    store = LocalStore(tmp_path / "state", "staging")
    await record(store, "v1", first, "info")
    await record(store, "v2", second, "info", outcome="failed")
    await record(store, "v2", second, "debug")
    found = await release_changes(shop, "staging", [], None, opener(store))
    assert found.unreachable == {DOWN: "cannot connect to deploy@10.0.0.6:22: Connection "
                                       "refused"}
    [item] = found.items
    assert item.hosts == (HOST,) and item.diff is not None
    assert item.diff.old.version == "v1" and item.diff.new.version == "v2"
    text = render_release_changes(found)
    assert text[0] == f"unreachable: {DOWN}: cannot connect to deploy@10.0.0.6:22: " \
                      "Connection refused"
    assert "  variable LOG_LEVEL: info -> debug" in text
    assert f"  git: {first} -> {second}" in text
    assert any(line.startswith("    + ") and line.endswith(" Change the greeting")
               for line in text)


async def test_since_a_prefix_and_its_bad_input(shop: Project, tmp_path: Path) -> None:
    repo = shop.endpoint("orders").path
    sha = git(repo, "rev-parse", "--short=12", "HEAD")
    store = LocalStore(tmp_path / "state", "staging")
    for version, level in (("abc1", "info"), ("abd2", "warn"), ("ff03", "debug")):
        await record(store, version, sha, level)
    found = await release_changes(shop, "staging", ["orders"], "abc", opener(store))
    [item] = found.items
    assert item.diff is not None and item.diff.old.version == "abc1"
    assert "  variable LOG_LEVEL: info -> debug" in render_release_changes(found)
    with pytest.raises(BadInput, match="ambiguous: it starts abc1, abd2"):
        await release_changes(shop, "staging", ["orders"], "ab", opener(store))
    with pytest.raises(BadInput, match="no endpoint 'ordrs'"):
        await release_changes(shop, "staging", ["ordrs"], None, opener(store))
    with pytest.raises(BadInput, match="no release '9999' of orders in 'staging'"):
        await release_changes(shop, "staging", [], "9999", opener(store, down=False))
    with pytest.raises(BadInput, match="--since needs a release"):
        await release_changes(shop, "staging", [], " ", opener(store))
    # one host is down: a release not found on the other may be there; no error, a note
    missing = await release_changes(shop, "staging", [], "9999", opener(store))
    assert missing.items[0].note == "no release '9999'" and not missing.complete


async def test_bad_input_on_the_repo_side_stops_the_observation(shop: Project) -> None:
    path = shop.endpoint("orders").path / "endpoint.yaml"
    path.write_text(path.read_text().replace("secrets: []", "secrets: [API_TOKEN]"))
    project = load_project(shop.root)  # no secrets file: gathering the inputs is bad input
    closed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def hanging(_project: Project, _env: Environment
                      ) -> AsyncIterator[tuple[list[Site], dict[str, str]]]:
        try:
            await asyncio.Event().wait()  # a host that never answers
            yield [], {}
        finally:
            closed.set()

    with pytest.raises(BadInput, match="needs secrets API_TOKEN"):
        await repo_drift(project, "staging", hanging)
    assert closed.is_set()
