"""The CI Swarm cluster (.ci/swarm.sh) does what the Swarm tests rely on: the manager swarm1
and the worker swarm2, joined over a veth, reached like any host through workbench's own
RemoteEngine (the manager's docker socket forwarded over SSH).

- The swarm has the nodes target.env promises (``WB_SWARM_NODES``), labelled by host; the
  main engine and the second host stay plain engines.
- A ``dnsrr`` service with one task per node on an attachable overlay: a task on the manager
  resolves every task by the service name and gets an answer from each node; a ``mode: host``
  published port answers in each node's namespace, and across the veth.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import docker
import docker.errors
import docker.types
import pytest
from helpers import SSHTarget
from hosts import SecondHost, SwarmCluster, trust_ci_hosts

from workbench.engine import Engine
from workbench.tunnel import RemoteEngine

pytestmark = pytest.mark.integration

PAUSE = 0.25
TRIES = 480  # a generous cap on polling loops (each waits PAUSE between tries)
# Serves the node's id (the task's hostname is the node id) on port 8000.
SERVE = ("mkdir -p /srv && hostname >/srv/node && cd /srv && "
         "exec python3 -m http.server 8000")
# In a task: the addresses NAME resolves to (until there are N: a remote task's name arrives
# by gossip) and what each answers on /node (retried while refused: the server starts).
FETCH = """
import json, socket, sys, time, urllib.request
name, n = sys.argv[1], int(sys.argv[2])
addrs = []
for _ in range(480):
    try:
        addrs = sorted({a[4][0] for a in socket.getaddrinfo(name, 8000, proto=socket.IPPROTO_TCP)})
    except socket.gaierror:
        pass
    if len(addrs) >= n:
        break
    time.sleep(0.25)
answers = {}
for addr in addrs:
    for _ in range(480):
        try:
            with urllib.request.urlopen(f"http://{addr}:8000/node", timeout=600) as answer:
                answers[addr] = answer.read().decode().strip()
            break
        except OSError as error:
            if not isinstance(getattr(error, "reason", error), ConnectionRefusedError):
                answers[addr] = repr(error)
                break
            time.sleep(0.25)
print(json.dumps(answers))
"""


@asynccontextmanager
async def manager_engine(home: Path, target: SSHTarget,
                         swarm: SwarmCluster) -> AsyncIterator[Engine]:
    """The manager's engine through workbench's RemoteEngine (SSH, forwarded docker socket)."""
    trust_ci_hosts(home, target)
    async with RemoteEngine(swarm.manager.host(), "swarm-test") as engine:
        yield engine


def wait_running(client: docker.DockerClient, service: str, count: int) -> dict[str, str]:
    """task id -> node id once COUNT tasks of SERVICE run (asserts they do)."""
    running: dict[str, str] = {}
    for _ in range(TRIES):
        tasks = client.services.get(service).tasks(filters={"desired-state": "running"})
        running = {t["ID"]: t["NodeID"] for t in tasks if t["Status"]["State"] == "running"}
        if len(running) == count:
            return running
        time.sleep(PAUSE)
    raise AssertionError(f"{len(running)} of {count} tasks of {service} run: {tasks}")


def remove(client: docker.DockerClient, service: str, network: str) -> None:
    """Remove what the test made: the service, then its network once its tasks are gone."""
    with suppress(docker.errors.NotFound):
        client.services.get(service).remove()
    for _ in range(TRIES):
        try:
            client.networks.get(network).remove()
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:  # still in use by a stopping task
            pass
        time.sleep(PAUSE)  # until the manager no longer lists it


def test_the_swarm_has_its_nodes_and_the_other_engines_stay_plain(
        swarm_cluster: SwarmCluster, docker_client: docker.DockerClient,
        second_host: SecondHost) -> None:
    nodes = swarm_cluster.manager.client.nodes.list()
    assert len(nodes) == swarm_cluster.nodes
    seen = {n.id: (n.attrs["Spec"]["Role"], n.attrs["Status"]["State"],
                   n.attrs["Spec"]["Labels"].get("host"), n.attrs["Status"]["Addr"])
            for n in nodes}
    manager, worker = swarm_cluster.manager, swarm_cluster.worker
    assert seen[manager.node_id] == ("manager", "ready", "swarm1", manager.addr)
    if swarm_cluster.nodes == 2:
        assert seen[worker.node_id] == ("worker", "ready", "swarm2", worker.addr)
    else:
        assert worker.client.info()["Swarm"]["LocalNodeState"] == "inactive"
    for plain in (docker_client, second_host.client):
        assert plain.info()["Swarm"]["LocalNodeState"] == "inactive"


async def test_a_dnsrr_service_answers_across_nodes_and_on_a_host_mode_port(
        swarm_cluster: SwarmCluster, ssh_target: SSHTarget, isolated_env: Path,
        base_image: str) -> None:
    name = f"wbtest-swarm-{uuid.uuid4().hex[:8]}"
    port = random.randint(20000, 29999)  # in the nodes' namespaces, where only tests publish
    count = swarm_cluster.nodes
    members = swarm_cluster.members
    async with manager_engine(isolated_env, ssh_target, swarm_cluster) as engine:
        client = engine.client  # calls through the tunnel run in threads (to_thread)

        def deploy() -> dict[str, str]:
            client.networks.create(name, driver="overlay", attachable=True,
                                   labels={"dev.workbench.test": name})
            client.services.create(
                base_image, ["sh", "-c", SERVE], name=name, networks=[name],
                hostname="{{.Node.ID}}", labels={"dev.workbench.test": name},
                stop_signal="SIGINT",  # python as PID 1 ignores SIGTERM: 10 s per task
                mode=docker.types.ServiceMode("replicated", replicas=count),
                maxreplicas=1, endpoint_spec=docker.types.EndpointSpec(
                    mode="dnsrr", ports={port: (8000, "tcp", "host")}))
            return wait_running(client, name, count)

        def fetch_from_a_manager_task() -> dict[str, str]:
            [task] = client.containers.list(filters={"label": [
                f"com.docker.swarm.service.name={name}",
                f"com.docker.swarm.node.id={swarm_cluster.manager.node_id}"]})
            result = task.exec_run(["python3", "-c", FETCH, name, str(count)])
            assert result.exit_code == 0, result.output
            return dict(json.loads(result.output))

        try:
            tasks = await asyncio.to_thread(deploy)
            assert sorted(tasks.values()) == sorted(n.node_id for n in members)  # one per node
            answers = await asyncio.to_thread(fetch_from_a_manager_task)
            # every task by the service name, each answering from its own node (over the
            # overlay, across the veth when there are two)
            assert sorted(answers.values()) == sorted(n.node_id for n in members), answers
            for node in members:  # the host-mode port, in each node's namespace
                assert node.get(port, "/node") == (200, node.node_id + "\n")
            if count == 2:  # and from the worker's namespace to the manager's address
                assert swarm_cluster.worker.get(port, "/node", host=swarm_cluster.manager.addr) \
                    == (200, swarm_cluster.manager.node_id + "\n")
        finally:
            await asyncio.to_thread(remove, client, name, name)
