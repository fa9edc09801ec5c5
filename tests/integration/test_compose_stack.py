"""export --compose on the CI Swarm: a file that ``docker stack deploy -c`` takes and that brings
up the same services, and import of it back into the project.

A project with ``orders`` (python, a secret) and ``site`` (static, 2 replicas) is deployed with
workbench to the Swarm (dnsrr, host-mode port). Its export is built from the very ServiceSpec
the deploy sent (the API bodies hash the same). Then workbench's services and the proxy's
config volume are removed, and ``docker stack deploy -c FILE wb_<project>_<env>`` brings up
services of the same names, replicas and labels, the proxy routing to both endpoints from the
config the file seeds, and the app seeing its secret. Import of the file says the project
already matches it, and puts back a replica count changed in endpoint.yaml.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import yaml
from helpers import SSHTarget, require_part
from hosts import SwarmCluster, trust_ci_hosts
from staging import RunWorkbench
from swarm_staging import remove_swarm

from workbench.model import load_project
from workbench.ops.export import export
from workbench.sites import open_sites
from workbench.swarm.spec import SPEC_HASH, to_api

pytestmark = pytest.mark.integration

PAUSE = 0.25
TRIES = 960  # a generous cap on polling loops (each waits PAUSE between tries)
SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
SECRET = "export-test-token-5f3a9c"
STACK_LABELS = ("com.docker.stack.namespace", "com.docker.stack.image")
TASK_HASH = "dev.workbench.task-hash"
"""A deploy's hash of the task template on its containers (it names the API body, which a
stack's differs from by its network)."""


@pytest.fixture
def cluster_project(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench,
                    base_image: str, ssh_target: SSHTarget,
                    swarm_cluster: SwarmCluster) -> Iterator[tuple[Path, str, int]]:
    """(root, name, proxy port) of a new project whose ``cluster`` env is the CI Swarm."""
    trust_ci_hosts(isolated_env, ssh_target)
    name = "cx" + uuid.uuid4().hex[:8]
    for args, cwd in ((("new", name), tmp_path), (("new", "-e", "orders"), tmp_path / name),
                      (("new", "-e", "site", "--template", "static"), tmp_path / name)):
        done = run_workbench("--batch", *args, cwd=cwd)
        assert done.returncode == 0, done.stderr
    root = tmp_path / name
    port = random.randint(20000, 29999)  # in the nodes' namespaces, where only tests publish
    hosts = ", ".join(f"{{host: '{node.spec}', docker_socket: {node.docker_socket}}}"
                      for node in swarm_cluster.members)
    text = (root / "workbench.yaml").read_text().replace(
        "build_args: {}", f'build_args: {{BASE_IMAGE: "{base_image}"}}')
    text += (f"  cluster:\n    engine: swarm\n    hosts: [{hosts}]\n    proxy_port: {port}\n"
             f"    proxy_image: {base_image}\n    swarm: {{endpoint_mode: dnsrr, "
             "publish_mode: host}\n")
    (root / "workbench.yaml").write_text(text)
    edit(root / "endpoints/orders/endpoint.yaml", "secrets: []", "secrets: [API_TOKEN]")
    edit(root / "endpoints/site/endpoint.yaml", "health_timeout: 30", "health_timeout: 30\n"
         "replicas: 2")
    (root / ".workbench/secrets").mkdir(parents=True, exist_ok=True)
    (root / ".workbench/secrets/cluster.env").write_text(f"API_TOKEN={SECRET}\n")
    try:
        yield root, name, port
    finally:
        remove_swarm(swarm_cluster, name)  # workbench's and the stack's


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1))


def until(check: Any, what: str) -> None:
    for _ in range(TRIES):
        if check():
            return
        time.sleep(PAUSE)
    raise AssertionError(f"not so after {TRIES} tries: {what}")


def services_of(client: docker.DockerClient, project: str) -> dict[str, dict[str, Any]]:
    """name -> Spec of the project's services."""
    found = client.services.list(filters={"label": f"dev.workbench.project={project}"})
    return {s.name: s.attrs["Spec"] for s in found}


def running(client: docker.DockerClient, service: str) -> int:
    tasks = client.services.get(service).tasks(filters={"desired-state": "running"})
    return sum(1 for t in tasks if t["Status"]["State"] == "running")


def without(labels: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k not in keys}


def test_the_exported_file_deploys_as_a_stack_and_imports_back(
        cluster_project: tuple[Path, str, int], swarm_cluster: SwarmCluster,
        run_workbench: RunWorkbench) -> None:
    root, name, port = cluster_project
    manager = swarm_cluster.manager
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        require_part("the docker CLI", "docker stack deploy needs it")
    done = run_workbench("--batch", "deploy", "--env", "cluster", cwd=root, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    before = services_of(manager.client, name)
    stack = f"wb_{name}_cluster"
    assert sorted(before) == [f"{stack}_orders", f"{stack}_proxy", f"{stack}_site"]

    # the export is made of the ServiceSpec the deploy sent: the same API body, hash for hash
    exported = asyncio.run(export(load_project(root), "cluster", (), open_sites, lambda _: None))
    for spec in exported.specs:
        live = before[spec.name]
        if live["Labels"]["dev.workbench.role"] == "app":
            network = live["TaskTemplate"]["Networks"][0]["Target"]
            assert to_api(spec, network)["Labels"][SPEC_HASH] == live["Labels"][SPEC_HASH]

    target = root / "stack.yaml"
    done = run_workbench("--batch", "export", "--env", "cluster", "--compose", str(target),
                         cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"docker stack deploy -c {target} {stack}" in done.stdout
    text = target.read_text()
    assert SECRET not in text  # referenced by name, never by value
    if SCHEMA.is_file():  # the unit tests require it; here it checks a real environment's file
        import jsonschema

        jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text())).validate(
            yaml.safe_load(text))

    # workbench's services go (and the proxy's config, so the stack's proxy starts from the
    # routes the file seeds); secrets, images and the data volume stay on the Swarm
    for service in before:
        manager.client.services.get(service).remove()
    until(lambda: not manager.client.containers.list(all=True, sparse=True, filters={
        "label": f"dev.workbench.project={name}"}), "workbench's tasks are gone")
    manager.client.volumes.get(f"wb_{name}_cluster_proxy_conf").remove()

    deployed = subprocess.run([docker_cli, "-H", f"unix://{manager.docker_socket}", "stack",
                               "deploy", "-c", str(target), stack], capture_output=True,
                              text=True, timeout=300, check=False)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    after = services_of(manager.client, name)
    assert sorted(after) == sorted(before)
    for service, spec in before.items():
        want = spec["Mode"]["Replicated"]["Replicas"]
        assert after[service]["Mode"]["Replicated"]["Replicas"] == want
        assert without(after[service]["Labels"], *STACK_LABELS) == without(spec["Labels"],
                                                                           SPEC_HASH)
        tasks = after[service]["TaskTemplate"]["ContainerSpec"]["Labels"]
        was = spec["TaskTemplate"]["ContainerSpec"]["Labels"]
        assert without(tasks, *STACK_LABELS) == without(was, TASK_HASH)
        until(lambda s=service, n=want: running(manager.client, s) == n, f"{service} runs")
    assert manager.get(port, "/orders/health")[0] == 200  # the seeded routes, by name
    assert manager.get(port, "/site/")[0] == 200
    [task] = manager.client.containers.list(filters={
        "label": f"com.docker.swarm.service.name={stack}_orders"})
    environ = task.exec_run(["cat", "/proc/1/environ"]).output.decode().split("\0")
    assert f"API_TOKEN={SECRET}" in environ  # the external secret, through the wrapper

    # import: the project already says what the file says; a changed count comes back
    done = run_workbench("--batch", "import", "--compose", str(target), "--dry-run", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "orders: endpoint.yaml already says what the file says" in done.stdout
    assert "site: endpoint.yaml already says what the file says" in done.stdout
    edit(root / "endpoints/site/endpoint.yaml", "replicas: 2", "replicas: 1")
    done = run_workbench("--batch", "import", "--compose", str(target), cwd=root)
    assert done.returncode == 0, done.stderr
    assert "site: replicas: 1 -> 2" in done.stdout
    assert load_project(root).endpoint("site").replicas == 2
