"""``logs`` of a Swarm environment on the CI cluster: every running task of a service, on every
node, merged in time order and tagged ``endpoint.slot@host``.

The services are put there as a deploy leaves them (tests/swarm_staging.py): ``site`` runs two
replicas, one on each node (the scheduler spreads them), answering its health check every 2 s,
which python's http.server logs.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, clean, free_port
from hosts import SwarmCluster, trust_ci_hosts
from staging import RunWorkbench, Staged, stage
from swarm_staging import converged, put_services, remove_swarm, swarm_env

pytestmark = pytest.mark.integration

TRIES = 60  # a generous cap on `logs` calls while the health checks write their first lines


@pytest.fixture
def project(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
            ssh_target: SSHTarget, swarm_cluster: SwarmCluster,
            docker_client: docker.DockerClient) -> Iterator[Staged]:
    """A staged project whose ``prod`` is on the Swarm, with site at two replicas."""
    if swarm_cluster.nodes != 2:
        pytest.fail("the CI Swarm has one node: this test needs the worker too")
    staged = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target,
                   [ssh_target.spec])
    trust_ci_hosts(isolated_env, ssh_target)
    with (staged.root / "workbench.yaml").open("a") as handle:
        handle.write(swarm_env("prod", swarm_cluster.manager, swarm_cluster.worker,
                               free_port(), base_image))
    staged.edit("endpoints/site/endpoint.yaml", "data: false", "data: false\nreplicas: 2")
    subprocess.run(["git", "-C", str(staged.root / "endpoints" / "site"), "-c",
                    "user.name=Test", "-c", "user.email=test@example.com", "commit", "-qam",
                    "two replicas"], check=True, capture_output=True)
    yield staged
    remove_swarm(swarm_cluster, staged.name)
    clean(docker_client, staged.name, Path("/var/lib/workbench"))


def test_logs_merge_every_task_of_a_service_on_every_node(
        project: Staged, base_image: str, swarm_cluster: SwarmCluster) -> None:
    import asyncio

    wanted = asyncio.run(put_services(project.root, "prod", base_image))
    running = converged(swarm_cluster.manager.client, wanted)
    manager, worker = swarm_cluster.manager, swarm_cluster.worker
    assert running[f"wb_{project.name}_prod_site"] == sorted([manager.node_id, worker.node_id])

    hosts = {manager.spec.rpartition("@")[2], worker.spec.rpartition("@")[2]}
    lines: list[dict[str, object]] = []
    for _ in range(TRIES):  # until both tasks' health checks have been logged
        done = project.workbench("logs", "--env", "prod", "-e", "site", "--json", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        lines = [line for line in lines if "source" in line]
        if {line["host"] for line in lines} == hosts:
            break
        time.sleep(1)
    sources = {str(line["source"]) for line in lines}
    # one source per task, named by its slot, each on the node that runs it
    assert {s.partition("@")[2] for s in sources} == hosts, sources
    assert {s.partition("@")[0] for s in sources} <= {"site.1", "site.2"}, sources
    assert len({s.partition("@")[0] for s in sources}) == 2, sources
    assert any("GET /health" in str(line["raw"]) for line in lines)
    times = [str(line["time"]) for line in lines]
    assert times == sorted(times)  # merged in time order across the nodes
