"""Deploys to an environment with two hosts: no mixed versions when one host fails.

Host 1 is the sshd from .ci/setup on this machine's engine; host 2 is the second host .ci/setup
makes: its own network namespace, dockerd (own socket, data root, bridge, published ports) and
sshd (own host key, own /var/lib/workbench), reached on 127.0.0.1:42023. Both publish the
staging proxy on the same port, each in its own namespace.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, clean
from hosts import SecondHost
from staging import RunWorkbench, Staged, stage

from workbench import naming

pytestmark = pytest.mark.integration

HEALTH = 'self._send(HTTPStatus.OK, {"status": "ok"})'
# Version 2 of orders: answers "v2", and is unhealthy where /data/unhealthy exists.
HEALTH_V2 = ('self._send(HTTPStatus.SERVICE_UNAVAILABLE if Path("/data/unhealthy").exists() '
             'else HTTPStatus.OK, {"status": "v2"})')
OLD, NEW = '{"status": "ok"}\n', '{"status": "v2"}\n'
# Stands in front of nginx in host 2's proxy: `nginx -t` refuses every config from then on.
REFUSING_NGINX = ('#!/bin/sh\ncase " $* " in *" -t "*) '
                  'echo "nginx: [emerg] refused by the test" >&2; exit 1;; esac\n'
                  'exec /usr/sbin/nginx "$@"\n')


@pytest.fixture
def pair(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
         ssh_target: SSHTarget, docker_client: docker.DockerClient,
         second_host: SecondHost) -> Iterator[Staged]:
    hosts = [ssh_target.spec,
             f"{{host: '{second_host.spec}', docker_socket: {second_host.docker_socket}}}"]
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target, hosts)
    yield project
    clean(docker_client, project.name, Path("/var/lib/workbench"))
    clean(second_host.client, project.name, second_host.state)


def executable(name: str, text: str) -> bytes:
    """A tar archive holding one executable file."""
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o755
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def orders_containers(client: docker.DockerClient, project: str) -> dict[str, str]:
    """name -> status of the project's orders containers on one engine."""
    found = client.containers.list(all=True, filters={"label": [
        f"dev.workbench.project={project}", "dev.workbench.endpoint=orders"]})
    return {c.name: c.status for c in found}


def deploy_v1_everywhere(pair: Staged, second: SecondHost, ssh_target: SSHTarget,
                         docker_client: docker.DockerClient) -> None:
    done = pair.deploy("-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    assert pair.get("/orders/health") == (200, OLD)
    assert second.get(pair.port, "/orders/health") == (200, OLD)
    assert {r["host"] for r in pair.releases("orders")} == {ssh_target.spec, second.spec}
    assert list(orders_containers(docker_client, pair.name).values()) == ["running"]
    assert list(orders_containers(second.client, pair.name).values()) == ["running"]


def test_deploy_to_two_hosts_when_the_second_fails_its_health_check(
        pair: Staged, second_host: SecondHost, ssh_target: SSHTarget,
        docker_client: docker.DockerClient) -> None:
    deploy_v1_everywhere(pair, second_host, ssh_target, docker_client)
    # The same new version, unhealthy on host 2 only (its /data volume says so).
    [old2] = second_host.client.containers.list(filters={"label": [
        f"dev.workbench.project={pair.name}", "dev.workbench.endpoint=orders"]})
    assert old2.exec_run(["touch", "/data/unhealthy"]).exit_code == 0
    pair.edit("endpoints/orders/app.py", HEALTH, HEALTH_V2)

    done = pair.deploy("-e", "orders", "--health-timeout", "3")
    assert done.returncode == 1, done.stdout + done.stderr
    failed = next(line for line in done.stdout.splitlines() if line.startswith("orders  FAILED"))
    assert f"on {second_host.spec}: GET /health did not answer 200 within 3s" in failed
    assert "no host was switched" in failed
    healthy = [line for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert any(f"orders: health check on {ssh_target.spec}" in line for line in healthy)
    assert f"[orders/build@{second_host.spec}] " in done.stdout  # each host's logs apart
    # Host 1 was healthy but never switched: no mixed versions; both keep the old one.
    assert pair.get("/orders/health") == (200, OLD)
    assert second_host.get(pair.port, "/orders/health") == (200, OLD)
    assert list(orders_containers(docker_client, pair.name).values()) == ["running"]
    assert list(orders_containers(second_host.client, pair.name).values()) == ["running"]
    last = {r["host"]: r for r in pair.releases("orders") if r["outcome"] == "failed"}
    assert set(last) == {ssh_target.spec, second_host.spec}
    assert "did not answer 200" in str(last[second_host.spec]["reason"])


def test_deploy_to_two_hosts_when_the_second_refuses_the_switch(
        pair: Staged, second_host: SecondHost, ssh_target: SSHTarget,
        docker_client: docker.DockerClient) -> None:
    deploy_v1_everywhere(pair, second_host, ssh_target, docker_client)
    proxy2 = second_host.client.containers.get(naming.proxy(pair.name, "staging"))
    assert proxy2.put_archive("/usr/local/sbin", executable("nginx", REFUSING_NGINX))
    assert proxy2.exec_run(["nginx", "-t"]).exit_code == 1
    pair.edit("endpoints/orders/app.py", HEALTH, HEALTH_V2)

    done = pair.deploy("-e", "orders", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    result = [json.loads(line) for line in done.stdout.splitlines()][-1]
    [outcome] = result["data"]["endpoints"]
    assert outcome["ok"] is False and "refused by nginx -t" in outcome["reason"]
    assert outcome["reverted"] == [ssh_target.spec]  # host 1 had switched: switched back
    assert f"switched back on {ssh_target.spec}" in result["summary"]
    assert pair.get("/orders/health") == (200, OLD)
    assert second_host.get(pair.port, "/orders/health") == (200, OLD)
    assert list(orders_containers(docker_client, pair.name).values()) == ["running"]
    assert list(orders_containers(second_host.client, pair.name).values()) == ["running"]

    assert proxy2.exec_run(["rm", "/usr/local/sbin/nginx"]).exit_code == 0
    again = pair.deploy("-e", "orders")
    assert again.returncode == 0, again.stdout + again.stderr
    assert pair.get("/orders/health") == (200, NEW)
    assert second_host.get(pair.port, "/orders/health") == (200, NEW)
    outcomes = [(r["host"], r["outcome"]) for r in pair.releases("orders")]
    assert sorted(outcomes) == sorted([(h, o) for h in (ssh_target.spec, second_host.spec)
                                       for o in ("ok", "failed", "ok")])
