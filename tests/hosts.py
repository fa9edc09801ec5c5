"""The hosts .ci/setup makes in network namespaces, for tests that deploy to more than one:

- the second host (``second_host`` fixture in conftest.py): its own network namespace, dockerd
  and sshd on 127.0.0.1:42023 (target.env ``WB_HOST2_*``);
- the Swarm cluster (``swarm_cluster`` fixture, below; .ci/swarm.sh): the manager ``swarm1``
  (127.0.0.1:42024) and the worker ``swarm2`` (127.0.0.1:42025), two more such hosts joined by
  a veth pair (10.231.0.1 and 10.231.0.2; target.env ``WB_SWARM_*`` and ``WB_SWARM2_*``).

Reaching them:

- ssh: root with the CI key (``SSHTarget.key``); their host keys are in the CI known_hosts.
  ``trust_ci_hosts(home, target)`` writes ~/.ssh/config and known_hosts so that workbench's
  own ``RemoteEngine(node.host())`` forwards a node's docker socket over SSH.
- docker, directly: ``node.client`` on ``node.docker_socket`` (a unix socket in the root
  namespace; as root).
- A port published on a host (the proxy's, a Swarm service's ``mode: host`` port) answers in
  that host's namespace only, never on the root namespace's 127.0.0.1: ``node.get(port,
  path)`` runs python3 there (nsenter, as root) against 127.0.0.1. On the Swarm, the worker
  reaches the manager's ports across the veth: ``worker.get(port, path,
  host=manager.addr)``. Workbench itself reaches containers through its SSH tunnel, whose far
  end is in the host's namespace (``Site.connect``).

What the Swarm deploy code should know: the kernel has no IPVS, so service VIPs and the
ingress routing mesh do not answer; use ``endpoint_mode: dnsrr`` and ``mode: host`` published
ports. Overlay networks (attachable, MTU 1450 over the veth's 1500) take /24s of
10.232.0.0/16. The nodes hold only ``workbench/base:bookworm`` (python3, nginx-light), also
the proxy image in tests (``proxy_image``); nothing can be pulled. Both nodes have the
machine's hostname: tell them apart by node id, or by the labels ``host=swarm1`` and
``host=swarm2`` (placement ``node.labels.host==swarm2``). ``nodes`` is 2, or 1 where the
overlay did not work across the veth (then swarm2 is a plain engine, for image transfers).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from helpers import HANG_GUARD, SSHTarget, require_part, target_env, tcp_reachable

from workbench.environments import Host


@dataclass(frozen=True)
class SecondHost:
    """The second host from .ci/setup: its engine, namespace and state folder."""

    spec: str
    netns: str
    docker_socket: str
    state: Path
    client: docker.DockerClient

    def get(self, port: int, path: str, host: str = "127.0.0.1") -> tuple[int, str]:
        """GET http://HOST:PORT/PATH inside the host's network namespace (HOST: its loopback,
        or the address of another host its namespace reaches)."""
        code = ("import sys, urllib.error, urllib.request\n"
                "try:\n"
                f"    r = urllib.request.urlopen('http://{host}:{port}{path}', timeout=600)\n"
                "except urllib.error.HTTPError as e:\n"
                "    r = e\n"
                "sys.stdout.write(str(r.status) + ' ' + r.read().decode())\n")
        done = subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", "python3", "-c",
                               code], capture_output=True, text=True, timeout=HANG_GUARD,
                              check=False)
        assert done.returncode == 0, done.stderr
        status, _, body = done.stdout.partition(" ")
        return int(status), body


@dataclass(frozen=True)
class SwarmNode(SecondHost):
    """A node of the CI Swarm cluster: a host like the second one, and its veth address."""

    name: str
    """``swarm1`` (the manager) or ``swarm2`` (the worker); also its node label ``host``."""
    ssh_port: int
    addr: str
    """Its address on the veth between the nodes (the swarm's advertise and data address)."""

    @property
    def node_id(self) -> str:
        """Its Swarm node id ("" when it is not in a swarm)."""
        return str(self.client.info()["Swarm"]["NodeID"])

    def host(self) -> Host:
        """The node as a workbench.yaml host (``RemoteEngine(node.host())``)."""
        user, _, address = self.spec.rpartition("@")
        return Host(host=address.rsplit(":", 1)[0], user=user, port=self.ssh_port,
                    docker_socket=self.docker_socket)


@dataclass(frozen=True)
class SwarmCluster:
    """The CI Swarm: ``manager`` (swarm1) and ``worker`` (swarm2)."""

    manager: SwarmNode
    worker: SwarmNode
    nodes: int
    """How many nodes the swarm has: 2, or 1 where the overlay did not work across the veth
    (then the worker is a plain engine)."""

    @property
    def members(self) -> list[SwarmNode]:
        """The nodes in the swarm (the manager first)."""
        return [self.manager, self.worker][:self.nodes]


def trust_ci_hosts(home: Path, target: SSHTarget) -> None:
    """~/.ssh/config and known_hosts under ``home`` (the test's HOME) for every CI host: the
    CI key for 127.0.0.1, and the CI known_hosts (the first sshd, host2, swarm1, swarm2)."""
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "config").write_text(f"Host {target.host}\n  IdentityFile {target.key}\n"
                                "  IdentitiesOnly yes\n")
    (ssh / "known_hosts").write_text(target.known_hosts.read_text())


SWARM_PART = "CI Swarm cluster"


def _swarm_node(values: dict[str, str], prefix: str, name: str,
                target: SSHTarget) -> SwarmNode:
    port = int(values[f"{prefix}_PORT"])
    if not tcp_reachable(target.host, port):
        require_part(SWARM_PART, f"nothing listens on {target.host}:{port} ({name})")
    socket = values[f"{prefix}_DOCKER_SOCKET"]
    client = docker.DockerClient(base_url=f"unix://{socket}", timeout=HANG_GUARD)
    try:
        client.ping()
    except Exception as exc:
        client.close()
        require_part(SWARM_PART, f"the engine of {name} does not answer on {socket} ({exc})")
    return SwarmNode(f"{target.user}@{target.host}:{port}", values[f"{prefix}_NETNS"], socket,
                     Path(values[f"{prefix}_STATE"]), client, name, port, values[f"{prefix}_ADDR"])


@pytest.fixture(scope="session")
def swarm_cluster(ssh_target: SSHTarget) -> Iterator[SwarmCluster]:
    """The CI Swarm cluster from .ci/setup, its manager verified to manage a swarm."""
    values = target_env()
    keys = [f"{prefix}_{key}" for prefix in ("WB_SWARM", "WB_SWARM2")
            for key in ("PORT", "DOCKER_SOCKET", "NETNS", "STATE", "ADDR")] + ["WB_SWARM_NODES"]
    missing = [key for key in keys if key not in values]
    if missing:
        require_part(SWARM_PART, f"target.env names no {', '.join(missing)}")
    if os.geteuid() != 0:
        require_part(SWARM_PART, "its engines' sockets and namespaces are root's")
    with contextlib.ExitStack() as opened:
        manager = _swarm_node(values, "WB_SWARM", "swarm1", ssh_target)
        opened.callback(manager.client.close)
        worker = _swarm_node(values, "WB_SWARM2", "swarm2", ssh_target)
        opened.callback(worker.client.close)
        if not manager.client.info()["Swarm"].get("ControlAvailable"):
            require_part(SWARM_PART, f"swarm1 ({manager.docker_socket}) is not a swarm manager")
        yield SwarmCluster(manager, worker, int(values["WB_SWARM_NODES"]))
