"""Server objects have unambiguous names, and nothing is adopted by its name alone.

Two collisions that the names of the first releases (``wb-<project>-<env>-...``) allowed, each
deployed to one host: project ``P`` with environment ``staging-eu`` against project
``P-staging`` with environment ``eu``; and, in one project, environment ``staging`` with endpoint
``eu-orders`` against environment ``staging-eu`` with endpoint ``orders``. Each side must keep
its own network, proxy and data.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import HANG_GUARD, SSHTarget, clean, free_port
from staging import RunWorkbench

from workbench import naming

pytestmark = pytest.mark.integration
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Project:
    """A project made with the batch CLI, with environments on the CI host."""

    def __init__(self, parent: Path, name: str, run: RunWorkbench, base_image: str) -> None:
        self.root, self.name, self.run, self.base_image = parent / name, name, run, base_image
        self.ports: dict[str, int] = {}
        self.batch("new", name, cwd=parent)
        text = (self.root / "workbench.yaml").read_text()
        (self.root / "workbench.yaml").write_text(text.replace(
            "build_args: {}", f'build_args: {{BASE_IMAGE: "{base_image}"}}'))

    def batch(self, *args: str, cwd: Path | None = None, code: int = 0) -> str:
        done = self.run("--batch", *args, cwd=cwd or self.root, timeout=HANG_GUARD)
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout + done.stderr

    def endpoint(self, name: str) -> None:
        self.batch("new", "-e", name)
        path = self.root / "endpoints" / name / "endpoint.yaml"
        text = path.read_text()
        assert f"  - /{name}\n" in text
        path.write_text(text.replace(f"  - /{name}\n", "  - /app\n", 1))

    def environment(self, env: str, host: str) -> None:
        self.ports[env] = free_port()
        with (self.root / "workbench.yaml").open("a") as handle:
            handle.write(f"  {env}:\n    hosts: [{host}]\n    proxy_port: {self.ports[env]}\n"
                         f"    proxy_bind: 127.0.0.1\n    proxy_image: {self.base_image}\n")

    def call(self, env: str, path: str, body: dict[str, object] | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.ports[env]}{path}", data=data,
                                         headers={"Content-Type": "application/json"})
        with _OPENER.open(request, timeout=HANG_GUARD) as reply:
            return json.loads(reply.read())


@pytest.fixture
def make(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
         ssh_target: SSHTarget, docker_client: docker.DockerClient) -> Iterator[object]:
    ssh = isolated_env / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "config").write_text(f"Host {ssh_target.host}\n  IdentityFile {ssh_target.key}\n"
                                "  IdentitiesOnly yes\n")
    (ssh / "known_hosts").write_text(ssh_target.known_hosts.read_text())
    made: list[Project] = []

    def make(name: str) -> Project:
        project = Project(tmp_path, name, run_workbench, base_image)
        made.append(project)
        return project

    yield make
    for project in made:
        clean(docker_client, project.name, Path("/var/lib/workbench"))


def objects(client: docker.DockerClient, project: str, env: str) -> dict[str, list[str]]:
    label = [f"dev.workbench.project={project}", f"dev.workbench.env={env}"]
    return {
        "networks": sorted(n.name for n in client.networks.list(filters={"label": label})),
        "proxies": sorted(c.name for c in client.containers.list(
            all=True, filters={"label": [*label, "dev.workbench.role=proxy"]})),
        "volumes": sorted(v.name for v in client.volumes.list(filters={"label": label})),
    }


def test_two_projects_whose_old_names_collide_keep_apart(
        make: object, ssh_target: SSHTarget, docker_client: docker.DockerClient) -> None:
    base = "n" + uuid.uuid4().hex[:6]
    first, second = make(base), make(f"{base}-staging")  # type: ignore[operator]
    for project, env in ((first, "staging-eu"), (second, "eu")):
        project.endpoint("orders")
        project.environment(env, ssh_target.spec)
        project.batch("deploy", "--env", env)
    kept = first.call("staging-eu", "/app/items", {"name": "first"})
    assert isinstance(kept, dict)
    # The second project's endpoint has its own /data: the first one's item is not there.
    assert second.call("eu", "/app/items") == []
    assert [i["name"] for i in first.call("staging-eu", "/app/items")] == ["first"]  # type: ignore[union-attr]
    a = objects(docker_client, first.name, "staging-eu")
    b = objects(docker_client, second.name, "eu")
    assert a["networks"] == [naming.network(first.name, "staging-eu")]
    assert b["networks"] == [naming.network(second.name, "eu")]
    assert a["proxies"] == [naming.proxy(first.name, "staging-eu")]
    assert b["proxies"] == [naming.proxy(second.name, "eu")]
    assert set(a["volumes"]).isdisjoint(b["volumes"]) and a["volumes"] and b["volumes"]


def test_two_environments_of_one_project_whose_old_names_collide_keep_apart(
        make: object, ssh_target: SSHTarget, docker_client: docker.DockerClient) -> None:
    project = make("n" + uuid.uuid4().hex[:6])  # type: ignore[operator]
    project.endpoint("orders")
    project.endpoint("eu-orders")
    project.environment("staging", ssh_target.spec)
    project.environment("staging-eu", ssh_target.spec)
    # 'eu-orders' in staging, 'orders' in staging-eu: both were wb-P-staging-eu-orders-data.
    text = (project.root / "endpoints" / "eu-orders" / "endpoint.yaml").read_text()
    (project.root / "endpoints" / "eu-orders" / "endpoint.yaml").write_text(
        text.replace("  - /app\n", "  - /eu\n", 1))
    project.batch("deploy", "--env", "staging", "-e", "eu-orders")
    project.batch("deploy", "--env", "staging-eu", "-e", "orders")
    project.call("staging", "/eu/items", {"name": "staging's"})
    assert project.call("staging-eu", "/app/items") == []
    staging = objects(docker_client, project.name, "staging")["volumes"]
    staging_eu = objects(docker_client, project.name, "staging-eu")["volumes"]
    assert staging == [naming.volume(project.name, "staging", "eu-orders")]
    assert staging_eu == [naming.volume(project.name, "staging-eu", "orders")]


def test_an_object_with_our_name_but_not_our_labels_is_refused(
        make: object, ssh_target: SSHTarget, docker_client: docker.DockerClient) -> None:
    project = make("n" + uuid.uuid4().hex[:6])  # type: ignore[operator]
    project.endpoint("orders")
    project.environment("staging", ssh_target.spec)
    name = naming.volume(project.name, "staging", "orders")
    docker_client.volumes.create(name, labels={"dev.workbench.project": "someone-else"})
    try:
        out = project.batch("deploy", "--env", "staging", code=1)
        assert f"volume {name}" in out and "belongs to something else" in out
        assert "project=someone-else" in out
        # Nothing of it was mounted: the foreign volume has no container using it.
        assert not docker_client.containers.list(all=True, filters={"volume": name})
    finally:
        docker_client.volumes.get(name).remove(force=True)


def test_a_deployment_made_under_the_old_names_keeps_its_network_and_data(
        make: object, ssh_target: SSHTarget, docker_client: docker.DockerClient) -> None:
    project = make("n" + uuid.uuid4().hex[:6])  # type: ignore[operator]
    project.endpoint("orders")
    project.environment("staging", ssh_target.spec)
    p, env = project.name, "staging"
    # What a deploy of the first releases left: wb-P-staging (network) and its data volume,
    # labelled as they were (the volume had no role label then).
    old_network = docker_client.networks.create(
        f"wb-{p}-{env}", labels={"dev.workbench.project": p, "dev.workbench.env": env,
                                 "dev.workbench.role": "network"})
    old_volume = docker_client.volumes.create(
        f"wb-{p}-{env}-orders-data", labels={"dev.workbench.project": p,
                                             "dev.workbench.env": env,
                                             "dev.workbench.endpoint": "orders"})
    docker_client.containers.run(
        project.base_image, ["sh", "-c", "mkdir -p /data/items && printf '%s' "
                             "'{\"id\": \"old\", \"name\": \"from before\"}' "
                             "> /data/items/old.json"],
        volumes={old_volume.name: {"bind": "/data", "mode": "rw"}}, remove=True)
    project.batch("deploy", "--env", env)
    assert project.call(env, "/app/items/old") == {"id": "old", "name": "from before"}
    found = objects(docker_client, p, env)
    assert found["networks"] == [old_network.name]
    assert found["volumes"] == [old_volume.name]
