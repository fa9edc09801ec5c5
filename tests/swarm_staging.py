"""Swarm environments of a staged project (tests/staging.py) on the CI cluster, for the tests of
what workbench reads from them (status, diff), without ``workbench deploy``.

:func:`put_services` does, through workbench's own parts and over its own SSH connections,
what a Swarm deploy leaves behind: the overlay network, each endpoint's secret, a service per
endpoint from :func:`workbench.swarm.spec.service_spec` and :func:`~workbench.swarm.spec.to_api`
(so its labels, on the service and on its tasks, are exactly a deploy's) and a release record
in the manager's state root. The image is the nodes' base image (nothing can be pulled, and
there is no build here) running ``python3 -m http.server`` on the endpoint's port, with a
``health`` file for its health path. :func:`scale` changes a service's replicas as ``docker
service scale`` does; :func:`remove_swarm` removes what they (or a real deploy) made.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import time
from collections.abc import Mapping
from pathlib import Path

import docker
import docker.errors
from helpers import clean
from hosts import SwarmCluster, SwarmNode

from workbench import envkey, naming, releases
from workbench.engine import LABEL, blocking
from workbench.model import load_project
from workbench.ops.inputs import gather, keyed
from workbench.releases import Release
from workbench.sites import open_sites
from workbench.swarm import services
from workbench.swarm.network import ensure_network
from workbench.swarm.recorded import recorded_config
from workbench.swarm.secrets import ensure_secrets
from workbench.swarm.spec import Image, service_spec, to_api

PAUSE = 0.25
TRIES = 960  # a generous cap on polling loops (each waits PAUSE)


def serve(port: int, health: str) -> str:
    """The task's command: the health path as a file, served on the endpoint's port."""
    path = health.strip("/") or "health"
    return (f"mkdir -p /srv/$(dirname {path}) && echo ok > /srv/{path} && cd /srv && "
            f"exec python3 -m http.server {port}")


def swarm_env(name: str, manager: SwarmNode, worker: SwarmNode, proxy_port: int,
              base_image: str) -> str:
    """A workbench.yaml environment on the CI Swarm (dnsrr, host-mode ports)."""
    hosts = ", ".join(f"{{host: '{n.spec}', docker_socket: {n.docker_socket}}}"
                      for n in (manager, worker))
    return (f"  {name}:\n    engine: swarm\n    hosts: [{hosts}]\n"
            f"    swarm: {{endpoint_mode: dnsrr, publish_mode: host}}\n"
            f"    proxy_port: {proxy_port}\n    proxy_image: {base_image}\n")


async def put_services(root: Path, env_name: str, base_image: str) -> dict[str, int]:
    """Services for every endpoint of the project at ``root`` in ``env_name`` (made or
    updated), with their release records; returns endpoint -> replicas."""
    project = load_project(root)
    env = project.environment(env_name)
    async with open_sites(project, env) as sites:
        manager = sites[0]
        engine = manager.engine
        key = await envkey.env_key(manager.store)
        inputs = await asyncio.to_thread(gather, project, env, project.endpoints)
        info = await blocking(lambda: engine.api.info())
        pin = f"node.id=={info['Swarm']['NodeID']}"
        image_id = str((await blocking(lambda: engine.api.inspect_image(base_image)))["Id"])
        network_id, network = await blocking(lambda: ensure_network(engine, project.name,
                                                                    env.name))
        wanted = {}
        for endpoint in project.endpoints:
            item = keyed(inputs[endpoint.name], key)
            refs = await ensure_secrets(engine, project.name, env.name, endpoint.name,
                                        item.secrets, key) if item.secrets else []
            command = ("sh", "-c", serve(endpoint.port, endpoint.health))
            spec = service_spec(project.name, env, endpoint, Image(image_id, base_image, (),
                                                                   command),
                                version=item.context.version, network=network,
                                variables=item.env, secrets=refs, git_sha=item.git_sha,
                                config_hash=item.config_hash, dirty=item.dirty, pin=pin)
            body = to_api(spec, network_id)
            container = body["TaskTemplate"]["ContainerSpec"]
            container["StopSignal"] = "SIGINT"  # python as PID 1 ignores SIGTERM
            if not refs:
                container["Command"] = list(command)
            identity = services.identity(project.name, env.name, "app", endpoint.name)
            current = await blocking(lambda s=spec, i=identity: services.find(engine, s.name, i))
            await blocking(lambda b=body, c=current: services.put(engine, b, c))
            await releases.append(manager.store, Release(
                endpoint=endpoint.name, version=item.context.version, host=manager.name,
                outcome="ok", kind="deploy", container=spec.name,
                image=naming.image(project.name, endpoint.name, item.context.version),
                git_sha=item.git_sha, dirty=item.dirty, config_hash=item.config_hash,
                secrets_generation=item.secrets_generation,
                variables=dict(sorted(item.env.items())),
                secret_names=tuple(sorted(item.secrets)),
                endpoint_config=recorded_config(endpoint), user=getpass.getuser(),
                time=releases.now(), engine="swarm", replicas=endpoint.replicas,
                image_ref=image_id))
            wanted[spec.name] = endpoint.replicas
    return wanted


def converged(client: docker.DockerClient, wanted: Mapping[str, int]) -> dict[str, list[str]]:
    """service -> the node ids of its running tasks, once each runs as many as ``wanted`` and
    no other task of it is on its way (asserts it does, within a generous count of polls)."""
    found: dict[str, list[str]] = {}
    for _ in range(TRIES):
        found = {}
        for name, count in wanted.items():
            tasks = client.api.tasks(filters={"service": name, "desired-state": "running"})
            running = [t["NodeID"] for t in tasks if t["Status"]["State"] == "running"]
            if len(running) == count == len(tasks):
                found[name] = sorted(running)
        if len(found) == len(wanted):
            return found
        time.sleep(PAUSE)
    raise AssertionError(f"not converged: {found} of {dict(wanted)}")


def scale(client: docker.DockerClient, service: str, replicas: int) -> None:
    """``docker service scale SERVICE=REPLICAS``: the spec's replicas alone (the SDK's own
    ``scale`` rewrites the task template too, which Swarm runs as an update)."""
    found = client.api.inspect_service(service)
    spec = found["Spec"]
    client.api.update_service(
        found["ID"], found["Version"]["Index"], task_template=spec["TaskTemplate"],
        name=spec["Name"], labels=spec["Labels"], mode={"Replicated": {"Replicas": replicas}},
        update_config=spec.get("UpdateConfig"), rollback_config=spec.get("RollbackConfig"),
        endpoint_spec=spec.get("EndpointSpec"))


def remove_swarm(cluster: SwarmCluster, project: str) -> None:
    """Remove the project's services, secrets and networks from the Swarm, and its
    containers, volumes, images and state roots from every node (what a test made, or a real
    deploy: tests/integration/test_swarm_deploy.py)."""
    manager = cluster.manager.client
    label = {"label": f"{LABEL}project={project}"}
    for service in manager.services.list(filters=label):
        with contextlib.suppress(docker.errors.NotFound):
            service.remove()
    for node in cluster.members:  # at once (Swarm takes ~6 s to stop and remove them)
        for container in node.client.containers.list(all=True, filters=label, sparse=True):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                container.remove(force=True)
    for node in cluster.members:  # the tasks' containers go, then their volumes can
        for _ in range(TRIES):
            if not node.client.containers.list(all=True, filters=label, sparse=True):
                break
            time.sleep(PAUSE)
    for secret in manager.secrets.list(filters=label):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            secret.remove()
    for _ in range(TRIES):  # a network is in use until the manager saw every task go
        for network in manager.networks.list(filters=label):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.remove()
        if not manager.networks.list(filters=label):
            break
        time.sleep(PAUSE)
    for node in (cluster.manager, cluster.worker):
        clean(node.client, project, node.state)
