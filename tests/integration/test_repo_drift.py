"""``diff ENV --repo`` and ``diff ENV --previous/--since`` on real deployments (the CI sshd and
engine, real git): the core functions (:func:`repo_drift`, :func:`release_changes`) and the
batch command.

Each test deploys a fresh project (unique name) whose endpoint ``orders`` declares the secret
API_TOKEN, then changes its repo: a commit, an uncommitted edit, a variable, the secret's value.
The drift names the commit and the edit; the release diff names the changed variable, the
commit between the two releases, and says the secrets differ without either value. A second
host that cannot be reached is named, the rest is still reported, and the exit code is 3.
Everything labelled with the project, and its state root, is removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, clean, free_port
from staging import RunWorkbench, Staged, stage

from workbench.drift import Drift, drift_json, render_drift
from workbench.model import load_project
from workbench.ops.drift import release_changes, repo_drift
from workbench.releasediff import ReleaseChanges, release_changes_json, render_release_changes
from workbench.sites import open_reachable

pytestmark = pytest.mark.integration
ORDERS = "endpoints/orders"


@pytest.fixture
def staged(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
           ssh_target: SSHTarget, docker_client: docker.DockerClient) -> Iterator[Staged]:
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target,
                    [ssh_target.spec])
    project.edit(f"{ORDERS}/endpoint.yaml", "secrets: []", "secrets: [API_TOKEN]")
    git(project.root / ORDERS, "commit", "-q", "-am", "Declare the secret API_TOKEN")
    yield project
    clean(docker_client, project.name, Path("/var/lib/workbench"))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-C",
                           str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def set_secret(staged: Staged, value: str) -> None:
    path = staged.root / ".workbench" / "secrets" / "staging.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"API_TOKEN={value}\n")


def drift_of(staged: Staged) -> Drift:
    return asyncio.run(repo_drift(load_project(staged.root), "staging", open_reachable))


def changes_of(staged: Staged, since: str | None) -> ReleaseChanges:
    return asyncio.run(release_changes(load_project(staged.root), "staging", ["orders"], since,
                                       open_reachable))


def add_dead_host(staged: Staged, target: SSHTarget) -> str:
    """A second staging host where nothing listens (after the deploys)."""
    dead = f"root@127.0.0.1:{free_port()}"
    staged.edit("workbench.yaml", f"hosts: [{target.spec}]", f"hosts: [{target.spec}, {dead}]")
    return dead


def diff_cli(staged: Staged, *args: str) -> subprocess.CompletedProcess[str]:
    """``workbench --batch diff staging ARGS`` (the lead's command over these functions)."""
    return staged.workbench("diff", "staging", *args)


def test_repo_drift_names_the_commit_since_the_deploy_and_an_uncommitted_edit(
        staged: Staged, ssh_target: SSHTarget) -> None:
    first, second = "s3cr3t-" + uuid.uuid4().hex, "s3cr3t-" + uuid.uuid4().hex
    set_secret(staged, first)
    done = staged.deploy("-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    repo = staged.root / ORDERS
    deployed_sha = git(repo, "rev-parse", "--short=12", "HEAD")

    fresh = drift_of(staged)  # right after the deploy: nothing differs
    flags = {i.endpoint: i.flags for i in fresh.endpoints}
    assert flags == {"orders": (), "site": ("never-deployed",)}, render_drift(fresh)
    assert fresh.complete and fresh.endpoints[0].deployed is not None
    assert fresh.endpoints[0].deployed.git_sha == deployed_sha

    staged.edit("workbench.yaml", "build_args: {", 'build_args: {WB_DRIFT: "1", ')
    context = drift_of(staged)  # the same sha, another build context version
    [orders] = [i for i in context.endpoints if i.endpoint == "orders"]
    assert orders.flags == ("context",), render_drift(context)
    assert orders.repo is not None and orders.deployed is not None
    assert orders.repo.git_sha == orders.deployed.git_sha == deployed_sha
    assert f"same sha {deployed_sha}, other version" in orders.notes[0]

    subject = f"Describe the orders service {uuid.uuid4().hex[:6]}"
    with (repo / "README.md").open("a") as handle:
        handle.write("\nOrders: a small JSON service.\n")
    git(repo, "commit", "-q", "-am", subject)
    staged.edit(f"{ORDERS}/endpoint.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug")  # not committed
    set_secret(staged, second)

    found = drift_of(staged)
    [orders] = [i for i in found.endpoints if i.endpoint == "orders"]
    assert orders.flags == ("commits", "uncommitted", "config"), render_drift(found)
    assert orders.commits is not None and orders.commits.added_count == 1
    assert orders.commits.added[0].endswith(f" {subject}")
    assert orders.repo is not None and orders.repo.changes == (" M endpoint.yaml",)
    assert orders.config is not None and orders.config.secrets == "differs"
    assert [(c.key, c.old, c.new) for c in orders.config.variables] == [
        ("LOG_LEVEL", "info", "debug")]
    text = render_drift(found)
    assert "orders: commits, uncommitted, config" in text
    assert any(line.strip().startswith("+ ") and line.endswith(subject) for line in text)
    assert "     M endpoint.yaml" in text and "    variable LOG_LEVEL: info -> debug" in text
    assert "    secrets: differ" in text and "site: never deployed" in text
    cli = diff_cli(staged, "--repo")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.splitlines() == text
    as_json = diff_cli(staged, "--repo", "--json")
    assert as_json.returncode == 0, as_json.stderr
    blob = json.loads(as_json.stdout)
    assert blob["format"] == 1 and blob["complete"] is True
    [entry] = [e for e in blob["endpoints"] if e["endpoint"] == "orders"]
    assert entry["flags"] == ["commits", "uncommitted", "config"]
    assert entry["commits"]["added"][0]["subject"] == subject
    assert entry["uncommitted"] == [" M endpoint.yaml"]
    assert diff_cli(staged, "--repo", "--exit-code").returncode == 1
    for shown in ("\n".join(text), json.dumps(drift_json(found)), cli.stdout + cli.stderr,
                  as_json.stdout):
        assert first not in shown and second not in shown

    dead = add_dead_host(staged, ssh_target)
    partial = drift_of(staged)
    assert list(partial.unreachable) == [dead] and not partial.complete
    [orders] = [i for i in partial.endpoints if i.endpoint == "orders"]
    assert orders.hosts == (ssh_target.spec,) and "commits" in orders.flags
    assert render_drift(partial)[0].startswith(f"unreachable: {dead}: ")
    cli = diff_cli(staged, "--repo")
    assert cli.returncode == 3, cli.stdout + cli.stderr
    assert cli.stdout.startswith(f"unreachable: {dead}: ")
    assert f"orders on {ssh_target.spec}: commits, uncommitted, config" in cli.stdout


def test_release_changes_name_the_changed_variable_and_commit_between_the_last_two(
        staged: Staged, ssh_target: SSHTarget) -> None:
    first, second = "s3cr3t-" + uuid.uuid4().hex, "s3cr3t-" + uuid.uuid4().hex
    set_secret(staged, first)
    assert staged.deploy("-e", "orders").returncode == 0
    repo = staged.root / ORDERS
    subject = f"Raise the log level {uuid.uuid4().hex[:6]}"
    staged.edit(f"{ORDERS}/endpoint.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug")
    git(repo, "commit", "-q", "-am", subject)
    set_secret(staged, second)
    done = staged.deploy("-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    versions = [r["version"] for r in staged.releases("orders")]
    assert len(versions) == 2 and versions[0] != versions[1]

    found = changes_of(staged, None)
    [item] = found.items
    assert item.diff is not None and found.complete, render_release_changes(found)
    d = item.diff
    assert (d.old.version, d.new.version) == (versions[0], versions[1])
    assert [(c.key, c.old, c.new) for c in d.config.variables] == [
        ("LOG_LEVEL", "info", "debug")]
    assert d.config.endpoint_config == () and d.config.secrets == "differs"
    assert d.git_log is not None and d.git_log.added_count == 1
    assert d.git_log.added[0].endswith(f" {subject}")
    text = render_release_changes(found)
    assert "  variable LOG_LEVEL: info -> debug" in text and "  secrets: differ" in text
    assert f"  version: {versions[0]} -> {versions[1]}" in text
    cli = diff_cli(staged, "--previous", "-e", "orders")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.splitlines() == text
    for shown in ("\n".join(text), json.dumps(release_changes_json(found)),
                  cli.stdout + cli.stderr):
        assert first not in shown and second not in shown

    since = changes_of(staged, versions[0][:6])  # a unique prefix of the first release
    assert since.items[0].diff is not None and since.items[0].diff.old.version == versions[0]
    as_json = diff_cli(staged, "--since", versions[0][:6], "--json")  # every endpoint
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    blob = json.loads(as_json.stdout)
    assert blob["format"] == 1 and blob["mode"] == "since"
    items = {e["endpoint"]: e for e in blob["endpoints"]}
    assert items["orders"]["config"]["variables"] == [
        {"key": "LOG_LEVEL", "kind": "changed", "old": "info", "new": "debug"}]
    assert items["site"]["note"] == "never released"
    unknown = diff_cli(staged, "--since", "zzzz")
    assert unknown.returncode == 2 and "no release 'zzzz'" in unknown.stderr

    dead = add_dead_host(staged, ssh_target)
    partial = changes_of(staged, None)
    assert list(partial.unreachable) == [dead] and partial.items[0].diff is not None
    assert render_release_changes(partial)[0].startswith(f"unreachable: {dead}: ")
    cli = diff_cli(staged, "--previous")
    assert cli.returncode == 3, cli.stdout + cli.stderr
    assert cli.stdout.startswith(f"unreachable: {dead}: ")
    assert "  variable LOG_LEVEL: info -> debug" in cli.stdout.splitlines()
