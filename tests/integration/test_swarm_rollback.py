"""`workbench --batch rollback` on a Swarm environment (the CI cluster; tests/hosts.py).

The project, the environment ``cluster`` and the cleanup are test_swarm_deploy's (a fresh
project with a unique name; what it made is removed, the swarm itself stays). ``orders`` runs 2
replicas; its health answer names the release baked into its code (traffic.set_release), so
the proxy's answer tells which version serves.
"""

from __future__ import annotations

import json

import pytest
import test_swarm_deploy
from hosts import SwarmCluster
from test_swarm_deploy import SwarmProject
from traffic import release_of, set_release

pytestmark = pytest.mark.integration
swarm_project = test_swarm_deploy.swarm_project  # the fixture

ANSWERS = 20
"""Requests through the proxy that must all name the expected release (the proxy balances
between the tasks: dnsrr)."""


def image_of(project: SwarmProject, endpoint: str = "orders") -> str:
    return str(project.services()[endpoint]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"])


def served(project: SwarmProject) -> set[str | None]:
    """The releases that answer /orders/health through the proxy, over several requests."""
    found = set()
    for _ in range(ANSWERS):
        status, body = project.get("/orders/health")
        found.add(release_of(body) if status == 200 else f"{status}")
    return found


def rollback(project: SwarmProject, *args: str) -> tuple[int, str]:
    done = project.workbench("rollback", "--env", "cluster", "-e", "orders", *args, timeout=900)
    return done.returncode, done.stdout + done.stderr


def test_a_rollback_runs_the_earlier_image_on_every_task_and_is_recorded(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster) -> None:
    swarm_project.edit("endpoints/orders/endpoint.yaml", "health_timeout: 30", "health_timeout: 5")
    refs = []
    for release in ("r1", "r2"):
        set_release(swarm_project, release)
        done = swarm_project.deploy("-e", "orders")
        assert done.returncode == 0, done.stdout + done.stderr
        refs.append(image_of(swarm_project))
        assert served(swarm_project) == {release}
    assert refs[0] != refs[1]
    v1, v2 = (r["version"] for r in swarm_project.releases("orders"))

    code, out = rollback(swarm_project)
    assert code == 0, out
    assert f"orders  deployed  {v1}" in out and "update completed" in out
    assert image_of(swarm_project) == refs[0]  # pinned to the id v1's release recorded
    tasks = swarm_project.running_tasks("orders")
    assert len(tasks) == 2
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in tasks} == {refs[0]}
    for node in swarm_cluster.members:  # each task's container runs v1's image
        for container in node.client.containers.list(filters={"label": [
                f"dev.workbench.project={swarm_project.name}",
                "dev.workbench.endpoint=orders"]}):
            assert container.attrs["Image"] == refs[0]
            assert container.labels["dev.workbench.version"] == v1
    assert served(swarm_project) == {"r1"}
    *_, last = swarm_project.releases("orders")
    assert (last["kind"], last["outcome"], last["version"]) == ("rollback", "ok", v1)
    assert (last["engine"], last["replicas"], last["image_ref"]) == ("swarm", 2, refs[0])

    listed = swarm_project.workbench("releases", "--env", "cluster", "-e", "orders")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert "ENGINE" in header and "REPLICAS" in header
    assert rows[-1].split()[2:4] == ["rollback", v1] and rows[-1].split()[5:7] == ["swarm", "2"]

    code, out = rollback(swarm_project, "--to", v2)  # and forward again, by --to
    assert code == 0, out
    assert image_of(swarm_project) == refs[1] and served(swarm_project) == {"r2"}
    code, out = rollback(swarm_project, "--to", "nope")
    assert code == 2 and f"pick one of: {', '.join(sorted((v1, v2)))}" in out, out


def test_a_rollback_whose_health_fails_is_rolled_back_by_swarm_and_recorded_failed(
        swarm_project: SwarmProject) -> None:
    """v1's code fails its health check under today's config (LOG_LEVEL: debug, set for v2):
    the rollback runs v1 with it, Swarm rolls the update back, v2 keeps serving."""
    swarm_project.edit("endpoints/orders/endpoint.yaml", "health_timeout: 30", "health_timeout: 3")
    app = swarm_project.root / "endpoints" / "orders" / "app.py"
    healthy = 'self._send(HTTPStatus.OK, {"status": "ok"})'
    text = app.read_text()
    assert healthy in text
    app.write_text(text.replace(healthy, 'self._send(HTTPStatus.SERVICE_UNAVAILABLE if '
                                'os.environ.get("LOG_LEVEL") == "debug" else HTTPStatus.OK, '
                                '{"status": "ok", "release": "r1"})'))
    assert swarm_project.deploy("-e", "orders").returncode == 0
    app.write_text(text.replace(healthy, 'self._send(HTTPStatus.OK, '
                                '{"status": "ok", "release": "r2"})'))
    swarm_project.edit("endpoints/orders/endpoint.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug")
    done = swarm_project.deploy("-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    v2_image = image_of(swarm_project)

    code, out = rollback(swarm_project)
    assert code == 1, out
    assert "orders  FAILED  Swarm rolled the update back" in out
    service = swarm_project.services()["orders"]
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    assert image_of(swarm_project) == v2_image
    assert served(swarm_project) == {"r2"}  # v2 keeps answering
    assert len(swarm_project.running_tasks("orders")) == 2
    *_, last = swarm_project.releases("orders")
    assert (last["kind"], last["outcome"], last["engine"]) == ("rollback", "failed", "swarm")
    assert "Swarm rolled the update back" in str(last["reason"])
    # the task's failed health checks are recorded (the last one may be refused while the task
    # stops, rather than its 503)
    assert "last health check (exit 1): GET /health answered" in json.dumps(last["last_lines"])
