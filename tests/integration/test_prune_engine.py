"""Server hygiene on the real engine and sshd: a deploy prunes the images a rollback no longer
needs (keep_releases), and `prune --env local` removes what a SIGKILLed `test` left behind.

Projects have unique names; everything labelled with them is removed afterwards.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from helpers import clean
from staging import RunWorkbench, Staged

pytestmark = pytest.mark.integration

L = "dev.workbench."
POLLS = 3000
"""Looks at docker while waiting for a test run's container (0.1 s apart: a cap, not a bound
the test relies on)."""


def site_images(client: docker.DockerClient, project: str) -> set[str]:
    """The versions of the project's ``site`` images in the engine (found by labels)."""
    images = client.images.list(filters={"label": [f"{L}project={project}",
                                                   f"{L}endpoint=site"]})
    return {image.labels[f"{L}version"] for image in images}


def site_containers(client: docker.DockerClient, project: str) -> list[str]:
    return [c.attrs["Labels"][f"{L}version"] for c in containers(client, {
        "label": [f"{L}project={project}", f"{L}endpoint=site", f"{L}role=app"]})]


def test_deploys_keep_the_images_of_the_last_n_releases_and_a_rollback_still_works(
        staged: Staged, docker_client: docker.DockerClient) -> None:
    staged.edit("workbench.yaml", "    proxy_image:", "    keep_releases: 2\n    proxy_image:")
    assert staged.deploy("-e", "orders").returncode == 0
    status, item = staged.post("/orders/items", {"name": "kept"})
    assert status == 201
    versions: list[str] = []
    for n in range(1, 6):
        staged.edit("endpoints/site/public/index.html", "<body>", f"<body><p>release {n}</p>")
        done = staged.deploy("-e", "site")
        assert done.returncode == 0, done.stdout + done.stderr
        versions.append(str(staged.releases("site")[-1]["version"]))
    assert len(set(versions)) == 5
    # v5 runs; v4 and v3 are the 2 stopped containers kept, so their images stay too
    assert sorted(site_containers(docker_client, staged.name)) == sorted(versions[2:])
    assert site_images(docker_client, staged.name) == set(versions[2:])
    assert "removed image" in done.stdout and versions[1] in done.stdout  # by the 5th deploy

    back = staged.workbench("rollback", "--env", "staging", "-e", "site")
    assert back.returncode == 0, back.stdout + back.stderr
    page = staged.get("/site/")[1]
    assert "release 4" in page and "release 5" not in page
    # released last: v4 (the rollback) and v5; v3's container went, then its image
    assert site_images(docker_client, staged.name) == {versions[3], versions[4]}
    gone = staged.workbench("rollback", "--env", "staging", "-e", "site", "--to", versions[0])
    assert gone.returncode == 1 and "is no longer on" in gone.stdout, gone.stdout
    assert "release 4" in staged.get("/site/")[1]

    # prune finds nothing more; with keep_releases 1 it removes the older stopped container
    dry = staged.workbench("prune", "--env", "staging", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == "staging: nothing to remove"
    staged.edit("workbench.yaml", "keep_releases: 2", "keep_releases: 1")
    before = sorted(site_containers(docker_client, staged.name))
    dry = staged.workbench("prune", "--env", "staging", "--dry-run")
    assert dry.stdout.splitlines()[-1] == "staging: would remove 1 container", dry.stdout
    assert sorted(site_containers(docker_client, staged.name)) == before
    done = staged.workbench("prune", "--env", "staging")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "staging: removed 1 container"
    assert len(site_containers(docker_client, staged.name)) == len(before) - 1
    again = staged.workbench("rollback", "--env", "staging", "-e", "site")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "release 5" in staged.get("/site/")[1]
    # the data volume of a deployed endpoint is never pruned
    assert staged.get(f"/orders/items/{item['id']}")[0] == 200


# -- test-loop leftovers ----------------------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path, run_workbench: RunWorkbench, base_image: str,
            docker_client: docker.DockerClient) -> Iterator[Path]:
    """A project whose endpoint ``orders`` never becomes healthy: a test run waits."""
    name = "p" + uuid.uuid4().hex[:8]
    for args, cwd in ((("new", name), tmp_path), (("new", "-e", "orders"), tmp_path / name)):
        done = run_workbench("--batch", *args, cwd=cwd)
        assert done.returncode == 0, done.stderr
    root = tmp_path / name
    text = (root / "workbench.yaml").read_text()
    (root / "workbench.yaml").write_text(text.replace(
        "build_args: {}", f'build_args: {{BASE_IMAGE: "{base_image}"}}', 1))
    endpoint = root / "endpoints" / "orders" / "endpoint.yaml"
    endpoint.write_text(endpoint.read_text().replace("health: /health", "health: /never", 1)
                        .replace("health_timeout: 30", "health_timeout: 900", 1))
    yield root
    clean(docker_client, name, Path("/nonexistent"))


def leftovers(client: docker.DockerClient, project: str) -> dict[str, set[str]]:
    """The test loop's containers, volumes and networks of ``project``, by run."""
    filters = {"label": [f"{L}project={project}", f"{L}env=test"]}
    found: dict[str, set[str]] = {}
    for kind, objects in (("container", containers(client, filters)),
                          ("volume", client.volumes.list(filters=filters)),
                          ("network", client.networks.list(filters=filters))):
        for o in objects:
            name = o.attrs["Names"][0].lstrip("/") if kind == "container" else o.name
            found.setdefault(o.attrs["Labels"][f"{L}run"], set()).add(f"{kind} {name}")
    return found


def containers(client: docker.DockerClient, filters: dict[str, list[str]]) -> list[Any]:
    """Containers as listed (sparse: no inspect each, which fails for one removed meanwhile)."""
    return list(client.containers.list(all=True, filters=filters, sparse=True))


def start_test_run(root: Path, client: docker.DockerClient,
                   known: set[str]) -> tuple[subprocess.Popen[str], str]:
    """Start `workbench --batch test -e orders`; return it and its run, once its container
    exists (polled by count)."""
    process = subprocess.Popen([sys.executable, "-m", "workbench", "--batch", "test", "-e",
                                "orders"], cwd=root, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    filters = {"label": [f"{L}project={root.name}", f"{L}env=test"]}
    for _ in range(POLLS):
        runs = {c.attrs["Labels"][f"{L}run"] for c in containers(client, filters)}
        if runs - known:
            return process, (runs - known).pop()
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    output = process.communicate()[0]
    pytest.fail(f"the test run's container never appeared:\n{output}")


def test_prune_removes_what_a_killed_test_run_left_and_keeps_a_running_ones(
        project: Path, run_workbench: RunWorkbench, docker_client: docker.DockerClient) -> None:
    killed, dead_run = start_test_run(project, docker_client, set())
    killed.send_signal(signal.SIGKILL)
    killed.communicate()  # reaped: its pid is free
    running, live_run = start_test_run(project, docker_client, {dead_run})
    try:
        found = leftovers(docker_client, project.name)
        left = found[dead_run]
        assert sorted(kind.split()[0] for kind in left) == ["container", "network", "volume"]

        dry = run_workbench("--batch", "prune", "--env", "local", "--dry-run", cwd=project)
        assert dry.returncode == 0, dry.stderr
        for thing in left:
            assert f"would remove {thing}: left by test run {dead_run}: its process is " \
                   "gone" in dry.stdout, dry.stdout
        for thing in found[live_run]:
            assert f"keep {thing}: test run {live_run} of pid {running.pid} on " in dry.stdout
        assert dry.stdout.splitlines()[-1] == \
            "local: would remove 1 container, 1 volume, 1 network"
        assert leftovers(docker_client, project.name) == found  # a dry run changes nothing

        done = run_workbench("--batch", "prune", "--env", "local", "--json", cwd=project)
        assert done.returncode == 0, done.stderr
        assert leftovers(docker_client, project.name) == {live_run: found[live_run]}
        assert running.poll() is None  # still waiting for its health check
    finally:
        running.send_signal(signal.SIGINT)
        output = running.communicate(timeout=600)[0]  # a hang guard only
    assert running.returncode == 130, output
    assert leftovers(docker_client, project.name) == {}
