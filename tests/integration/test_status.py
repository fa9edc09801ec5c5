"""``status`` on real deployments: staging on the first CI host, prod on the second.

It shows what runs per endpoint, environment and host, with health and the last release, and
drift flags once the repo or the hosts change behind its back; a host that cannot be reached is
named while the rest is shown (exit 3).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, clean, free_port
from hosts import SecondHost
from staging import RunWorkbench, Staged, stage

pytestmark = pytest.mark.integration


@pytest.fixture
def two(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
        ssh_target: SSHTarget, docker_client: docker.DockerClient,
        second_host: SecondHost) -> Iterator[Staged]:
    """A project with staging on host 1 and prod on host 2, both deployed."""
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target,
                    [ssh_target.spec])
    with (project.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  prod:\n    hosts: [{{host: '{second_host.spec}', docker_socket: "
                     f"{second_host.docker_socket}}}]\n    proxy_port: {free_port()}\n"
                     f"    proxy_bind: 127.0.0.1\n    proxy_image: {base_image}\n")
    for env in ("staging", "prod"):
        done = project.workbench("deploy", "--env", env)
        assert done.returncode == 0, done.stdout + done.stderr
    yield project
    clean(docker_client, project.name, Path("/var/lib/workbench"))
    clean(second_host.client, project.name, second_host.state)


def status(project: Staged, *args: str, code: int = 0) -> dict[tuple[str, str], dict]:
    done = project.workbench("status", "--json", *args)
    assert done.returncode == code, done.stdout + done.stderr
    return {(r["env"], r["endpoint"]): r for r in json.loads(done.stdout)["rows"]}


def test_status_shows_both_environments_with_health_and_releases(
        two: Staged, ssh_target: SSHTarget, second_host: SecondHost) -> None:
    rows = status(two, "--env", "staging", "--env", "prod")
    assert set(rows) == {(e, n) for e in ("staging", "prod") for n in ("orders", "site")}
    for (env, _name), row in rows.items():
        host = ssh_target.spec if env == "staging" else second_host.spec
        running = row["running"]
        assert row["host"] == host and row["unreachable"] is None
        assert running["state"] == "running" and running["health"] == "healthy", row
        assert running["version"] == row["current_release"]
        assert len(running["git_sha"]) == 12 and running["dirty"] is False
        assert running["image_id"].startswith("sha256:") and running["restarts"] == 0
        assert row["last_release"]["outcome"] == "ok" and row["last_release"]["user"]
        assert row["drift"] == [], row
    text = two.workbench("status")
    assert text.returncode == 0
    header = text.stdout.splitlines()[0].split()
    assert header[:4] == ["ENV", "ENDPOINT", "HOST", "VERSION"] and "DRIFT" in header
    assert any(line.split()[:3] == ["prod", "orders", second_host.spec]
               for line in text.stdout.splitlines())


def test_drift_flags_follow_the_repo_and_the_hosts(two: Staged,
                                                   docker_client: docker.DockerClient) -> None:
    two.edit("endpoints/orders/app.py", '"status": "ok"', '"status": "changed"')
    two.edit("workbench.yaml", "  staging:\n", "  staging:\n    variables: {MODE: fast}\n")
    [site] = docker_client.containers.list(filters={"label": [
        f"dev.workbench.project={two.name}", "dev.workbench.env=staging",
        "dev.workbench.endpoint=site", "dev.workbench.role=app"]})
    site.stop(timeout=1)
    rows = status(two, "--env", "staging", "--env", "prod")
    assert rows[("prod", "orders")]["drift"] == ["code"]
    assert rows[("staging", "orders")]["drift"] == ["code", "config"]
    assert rows[("staging", "site")]["drift"] == ["missing", "config"]
    assert rows[("prod", "site")]["drift"] == []


def test_an_unreachable_host_is_named_and_the_rest_is_shown(two: Staged) -> None:
    port = free_port()  # nothing listens there
    with (two.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  gone:\n    hosts: [root@127.0.0.1:{port}]\n")
    done = two.workbench("status", "--json")
    assert done.returncode == 3, done.stdout + done.stderr
    body = json.loads(done.stdout)
    rows = {(r["env"], r["endpoint"]): r for r in body["rows"]}
    assert f"127.0.0.1:{port}" in rows[("gone", "orders")]["unreachable"]
    assert rows[("staging", "orders")]["running"]["health"] == "healthy"
    assert rows[("prod", "site")]["running"]["health"] == "healthy"
    assert list(body["unreachable"]) == [f"gone root@127.0.0.1:{port}"]
    text = two.workbench("status", "--env", "gone", "--env", "prod")
    assert text.returncode == 3 and "unreachable: " in text.stdout
