"""Fixtures of the integration tests: the second host."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, require_part, target_env, tcp_reachable
from hosts import SecondHost


@pytest.fixture(scope="session")
def second_host(ssh_target: SSHTarget) -> Iterator[SecondHost]:
    values = target_env()
    if "WB_HOST2_PORT" not in values:
        require_part("second host", "target.env names no WB_HOST2_PORT")
    port = int(values["WB_HOST2_PORT"])
    if not tcp_reachable(ssh_target.host, port):
        require_part("second host", f"nothing listens on {ssh_target.host}:{port}")
    if os.geteuid() != 0:
        require_part("second host", "its namespace is entered with nsenter, which needs root")
    socket = values["WB_HOST2_DOCKER_SOCKET"]
    client = docker.DockerClient(base_url=f"unix://{socket}", timeout=120)
    try:
        client.ping()
    except Exception as exc:
        require_part("second host", f"its engine does not answer on {socket} ({exc})")
    yield SecondHost(f"{ssh_target.user}@{ssh_target.host}:{port}", values["WB_HOST2_NETNS"],
                     socket, Path(values["WB_HOST2_STATE"]), client)
    client.close()
