"""`workbench --batch deploy` to a Swarm environment: the CI cluster (swarm1 manager, swarm2
worker; tests/hosts.py), reached over SSH like any host.

Each test deploys a fresh project (unique name) to an environment ``cluster`` with
``engine: swarm``, ``endpoint_mode: dnsrr`` and ``publish_mode: host`` (the kernel here has no
IPVS), the proxy on a random port of the manager's namespace. Load comes from this namespace
through a relay into the manager's (tests/relay.py). What a test made is removed afterwards
(its services, secrets, network, volumes, images and state root, found by the project's
label); the swarm itself stays.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from helpers import HANG_GUARD, SSHTarget
from hosts import SwarmCluster, trust_ci_hosts
from relay import Relay
from staging import RunWorkbench, Staged
from swarm_staging import remove_swarm
from traffic import Load, fetch, release_of, set_release

pytestmark = pytest.mark.integration

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxies
TRIES = 1200
"""A cap on polling loops during cleanup (0.25 s apart), never reached when things work."""


class SwarmProject(Staged):
    """A project with ``orders`` (python) and ``site`` (static), 2 replicas each, and the
    Swarm environment ``cluster``."""

    def __init__(self, root: Path, name: str, port: int, run: RunWorkbench,
                 swarm: SwarmCluster) -> None:
        super().__init__(root, name, port, run)
        self.swarm = swarm

    def deploy(self, *args: str) -> Any:
        return self.workbench("deploy", "--env", "cluster", *args, timeout=900)

    def releases(self, endpoint: str, env: str = "cluster") -> list[dict[str, object]]:
        return super().releases(endpoint, env)

    def get(self, path: str) -> tuple[int, str]:
        """GET through the proxy, in the manager's namespace."""
        return self.swarm.manager.get(self.port, path)

    def services(self) -> dict[str, dict[str, Any]]:
        """endpoint -> its service's inspect (found by labels)."""
        found = self.swarm.manager.client.api.services(filters={"label": [
            f"dev.workbench.project={self.name}", "dev.workbench.role=app"]})
        return {s["Spec"]["Labels"]["dev.workbench.endpoint"]: s for s in found}

    def running_tasks(self, endpoint: str) -> list[dict[str, Any]]:
        service = self.services()[endpoint]
        tasks = self.swarm.manager.client.api.tasks(filters={"service": service["ID"],
                                                             "desired-state": "running"})
        return [t for t in tasks if t["Status"]["State"] == "running"]


@pytest.fixture
def swarm_project(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench,
                  base_image: str, ssh_target: SSHTarget,
                  swarm_cluster: SwarmCluster) -> Iterator[SwarmProject]:
    trust_ci_hosts(isolated_env, ssh_target)
    name = "s" + uuid.uuid4().hex[:8]
    for args, cwd in ((("new", name), tmp_path), (("new", "-e", "orders"), tmp_path / name),
                      (("new", "-e", "site", "--template", "static"), tmp_path / name)):
        done = run_workbench("--batch", *args, cwd=cwd)
        assert done.returncode == 0, done.stderr
    port = random.randint(30000, 39999)  # in the manager's namespace, where only tests publish
    project = SwarmProject(tmp_path / name, name, port, run_workbench, swarm_cluster)
    project.edit("workbench.yaml", "build_args: {}",
                 f'build_args: {{BASE_IMAGE: "{base_image}"}}')
    hosts = "".join(f"      - {{host: {node.spec}, docker_socket: {node.docker_socket}}}\n"
                    for node in swarm_cluster.members)
    with (project.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  cluster:\n    engine: swarm\n    hosts:\n{hosts}"
                     f"    proxy_port: {port}\n    proxy_image: {base_image}\n"
                     "    swarm: {endpoint_mode: dnsrr, publish_mode: host}\n")
    project.edit("endpoints/orders/endpoint.yaml", "data: true", "data: false\nreplicas: 2")
    with (project.root / "endpoints" / "site" / "endpoint.yaml").open("a") as handle:
        handle.write("replicas: 2\n")
    yield project
    remove_swarm(swarm_cluster, name)


def test_two_endpoints_with_two_replicas_answer_through_the_proxy(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster) -> None:
    done = swarm_project.deploy()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "orders  deployed" in done.stdout and "site  deployed" in done.stdout
    assert swarm_project.get("/orders/health") == (200, '{"status": "ok"}\n')
    status, page = swarm_project.get("/site/")
    assert status == 200 and "<html" in page
    nodes = sorted(node.node_id for node in swarm_cluster.members)
    for endpoint in ("orders", "site"):
        tasks = swarm_project.running_tasks(endpoint)
        assert len(tasks) == 2
        if swarm_cluster.nodes == 2:  # spread: one task on each node
            assert sorted(t["NodeID"] for t in tasks) == nodes
        spec = swarm_project.services()[endpoint]["Spec"]
        assert spec["TaskTemplate"]["ContainerSpec"]["Image"].startswith("sha256:")
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert spec["UpdateConfig"]["FailureAction"] == "rollback"
        assert spec["UpdateConfig"]["Order"] == "start-first"
    for node in swarm_cluster.members:  # each node's task containers carry our labels
        found = node.client.containers.list(filters={"label": [
            f"dev.workbench.project={swarm_project.name}", "dev.workbench.role=app",
            "dev.workbench.endpoint=orders"]})
        assert len(found) == (1 if swarm_cluster.nodes == 2 else 2)
    if swarm_cluster.nodes == 2:  # the manager's published port, from the worker
        worker = swarm_cluster.worker
        assert worker.get(swarm_project.port, "/orders/health",
                          host=swarm_cluster.manager.addr)[0] == 200
    [record] = swarm_project.releases("orders")
    assert (record["engine"], record["replicas"], record["outcome"]) == ("swarm", 2, "ok")
    assert str(record["image_ref"]).startswith("sha256:")
    assert record["host"] == swarm_cluster.manager.spec

    again = swarm_project.deploy()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "orders  unchanged" in again.stdout and "site  unchanged" in again.stdout
    assert len(swarm_project.releases("orders")) == 1

    # a proxy removed with its config comes back with the current releases' routes
    client = swarm_cluster.manager.client
    proxy = f"wb_{swarm_project.name}_cluster_proxy"
    client.api.remove_service(proxy)
    for _ in range(TRIES):
        try:
            client.api.remove_volume(f"{proxy}_conf")
            break
        except docker.errors.NotFound:
            break
        except docker.errors.APIError:  # its task has not stopped yet
            time.sleep(0.25)
    restored = swarm_project.deploy()
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "restored its config" in restored.stdout
    assert swarm_project.get("/orders/health")[0] == 200
    assert swarm_project.get("/site/")[0] == 200


def test_a_rolling_update_under_load_has_zero_failed_requests(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster) -> None:
    """Four threads send requests through the proxy (from this namespace, through a relay)
    from before the first update until each of them had an answer after the last one (events
    stop them, not a clock); a refused or reset connection is a failed request."""
    releases = ("r0", "r1", "r2")
    set_release(swarm_project, releases[0])
    first = swarm_project.deploy("-e", "orders")
    assert first.returncode == 0, first.stdout + first.stderr

    def expected(status: int, body: str) -> str:
        ok = status == 200 and release_of(body) in releases
        return "" if ok else f"{status} {body[:120]!r}"

    with Relay(swarm_cluster.manager.netns, swarm_project.port) as relay:
        url = relay.url("/orders/health")
        assert release_of(fetch(url)[1]) == releases[0]
        with Load(url, expected) as load:
            load.mark()
            load.wait_marked()  # each thread has had an answer before the update
            for release in releases[1:]:
                set_release(swarm_project, release)
                done = swarm_project.deploy("-e", "orders")
                assert done.returncode == 0, done.stdout + done.stderr
                assert "update completed" in done.stdout
                assert release_of(fetch(url)[1]) == release  # the old tasks are gone
            load.mark()
            load.wait_marked()  # and each had an answer after the last update
    assert not load.capped, "the load hit its safety cap"
    assert load.failures == [], f"{len(load.failures)} of {load.count} requests failed"
    assert set(load.answers) >= set(releases)
    kinds = [(r["kind"], r["outcome"]) for r in swarm_project.releases("orders")]
    assert kinds == [("deploy", "ok")] * 3


def test_a_version_failing_its_health_check_is_rolled_back_by_swarm_and_recorded_failed(
        swarm_project: SwarmProject) -> None:
    assert swarm_project.deploy("-e", "orders").returncode == 0
    before = swarm_project.services()["orders"]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    swarm_project.edit("endpoints/orders/endpoint.yaml", "health: /health", "health: /broken")
    done = swarm_project.deploy("-e", "orders", "--health-timeout", "3")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "orders  FAILED  Swarm rolled the update back" in done.stdout
    assert "GET /broken answered 404" in done.stdout
    service = swarm_project.services()["orders"]
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == before
    assert swarm_project.get("/orders/health")[0] == 200  # the old version keeps answering
    assert len(swarm_project.running_tasks("orders")) == 2
    ok, failed = swarm_project.releases("orders")
    assert ok["outcome"] == "ok" and failed["outcome"] == "failed"
    assert failed["engine"] == "swarm" and "Swarm rolled the update back" in str(failed["reason"])
    lines = json.dumps(failed["last_lines"])
    assert "(new) on " in lines and "GET /broken answered 404" in lines


def test_a_first_host_that_is_no_manager_is_refused_with_one_line(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster) -> None:
    worker = swarm_cluster.worker  # a worker, or a plain engine when WB_SWARM_NODES=1
    text = (swarm_project.root / "workbench.yaml").read_text()
    start = text.index("    hosts:\n", text.index("  cluster:"))
    end = text.index("    proxy_port:", start)
    (swarm_project.root / "workbench.yaml").write_text(
        text[:start] + f"    hosts:\n      - {{host: {worker.spec}, docker_socket: "
        f"{worker.docker_socket}}}\n" + text[end:])
    done = swarm_project.deploy()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done
    assert f"{worker.spec} is no Swarm manager" in lines[0] and "docker swarm init" in lines[0]
    assert swarm_project.services() == {}


def post(url: str, body: dict[str, object]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with _OPENER.open(request, timeout=HANG_GUARD) as reply:
        return reply.status, json.loads(reply.read())


def test_local_data_stays_on_its_node_and_survives_an_update(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster) -> None:
    """docs/swarm.md: data on a local volume runs on one node, the first by default; a
    placement that would leave it behind on another node is refused."""
    swarm_project.edit("endpoints/orders/endpoint.yaml", "data: false\nreplicas: 2", "data: true")
    done = swarm_project.deploy("-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    manager = swarm_cluster.manager
    spec = swarm_project.services()["orders"]["Spec"]
    assert spec["TaskTemplate"]["Placement"]["Constraints"] == [f"node.id=={manager.node_id}"]
    [task] = swarm_project.running_tasks("orders")
    assert task["NodeID"] == manager.node_id
    [volume] = manager.client.volumes.list(filters={"label": [
        f"dev.workbench.project={swarm_project.name}", "dev.workbench.role=data"]})
    assert volume.name == f"wb_{swarm_project.name}_cluster_orders_data"
    with Relay(manager.netns, swarm_project.port) as relay:
        status, item = post(relay.url("/orders/items"), {"name": "kept"})
        assert status == 201
        swarm_project.edit("endpoints/orders/endpoint.yaml", "LOG_LEVEL: info",
                           "LOG_LEVEL: debug")
        again = swarm_project.deploy("-e", "orders")
        assert again.returncode == 0 and "update completed" in again.stdout, again.stdout
        status, body = fetch(relay.url(f"/orders/items/{item['id']}"))
        assert status == 200 and json.loads(body)["name"] == "kept"
    swarm_project.edit("endpoints/orders/endpoint.yaml", "data: true",
                       "data: true\nplacement: [node.labels.host == swarm2]")
    moved = swarm_project.deploy("-e", "orders")
    lines = moved.stderr.strip().splitlines()
    assert moved.returncode == 2 and len(lines) == 1, moved.stdout + moved.stderr
    if swarm_cluster.nodes == 2:
        assert "its new placement would run it on" in lines[0]
        assert "leaving /data behind" in lines[0]
    else:  # the worker is no node: no node meets the placement
        assert "no active node of the Swarm meets its placement" in lines[0]
    assert [t["NodeID"] for t in swarm_project.running_tasks("orders")] == [manager.node_id]


def test_a_secret_rotation_makes_a_new_secret_and_removes_the_old_one(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster) -> None:
    first, second = "first-" + uuid.uuid4().hex, "second-" + uuid.uuid4().hex
    swarm_project.edit("endpoints/orders/endpoint.yaml", "secrets: []", "secrets: [API_TOKEN]")
    secrets_file = swarm_project.root / ".workbench" / "secrets" / "cluster.env"
    secrets_file.parent.mkdir(parents=True, exist_ok=True)
    manager = swarm_cluster.manager.client
    label = {"label": f"dev.workbench.project={swarm_project.name}"}

    def seen_by_the_app() -> set[str]:
        values = set()
        for node in swarm_cluster.members:
            for container in node.client.containers.list(filters={"label": [
                    f"dev.workbench.project={swarm_project.name}",
                    "dev.workbench.endpoint=orders"]}):
                environ = container.exec_run(["cat", "/proc/1/environ"]).output.split(b"\0")
                values |= {v.decode().partition("=")[2] for v in environ
                           if v.startswith(b"API_TOKEN=")}
        return values

    names = []
    for value in (first, second):
        secrets_file.write_text(f"API_TOKEN={value}\n")
        done = swarm_project.deploy("-e", "orders")
        assert done.returncode == 0, done.stdout + done.stderr
        assert value not in done.stdout + done.stderr
        [secret] = manager.api.secrets(filters=label)
        names.append(secret["Spec"]["Name"])
        assert seen_by_the_app() == {value}  # as an environment variable, as on one host
    assert names[0] != names[1]  # a new secret, and the old one is gone
    records = json.dumps(swarm_project.releases("orders"))
    assert first not in records and second not in records

