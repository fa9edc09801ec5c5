"""Images reaching other engines (workbench/swarm/images.py) on real engines, each reached over
its own SSH connection like a Swarm node: the main CI engine is the "manager", the second CI
host the "node" (both plain engines; neither is put in swarm mode).

- ``distribute`` streams an image built from the base image, replacing another image under the
  same tag, through both forwarded sockets, with a bounded amount of memory; the node runs it,
  and a second ``distribute`` sends nothing.
- ``push`` to a registry: a small v2 registry (tests/registry.py, in this process, on
  127.0.0.1; the engine treats 127.0.0.0/8 as an insecure registry) checks every blob's
  digest; the reference returned pulls back to the same image id.
- On the CI Swarm: the worker's host is found by its node id, gets an image built on the
  manager only, and a service placed on the worker runs it by id.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import sys
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import pytest
from helpers import SSHTarget
from hosts import SecondHost, SwarmCluster, trust_ci_hosts
from registry import Store, serving

from workbench.environments import Host
from workbench.errors import BadInput
from workbench.events import Event, LogLines, StepFinished
from workbench.site import Site
from workbench.swarm.images import distribute, push
from workbench.swarm.nodemap import node_sites
from workbench.tunnel import RemoteEngine

pytestmark = pytest.mark.integration

LABEL = {"dev.workbench.test": "test_swarm_images"}


def build(client: docker.DockerClient, base: str, tag: str, marker: str) -> str:
    """An image from the base image with a file that tells it apart; its id."""
    dockerfile = f"FROM {base}\nRUN echo {marker} > /marker\nCMD [\"cat\", \"/marker\"]\n"
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag,
                                   labels=LABEL, rm=True, forcerm=True)
    return str(image.id)


def remove(client: docker.DockerClient, *refs: str) -> None:
    for ref in refs:
        with suppress(docker.errors.ImageNotFound):
            client.images.remove(ref, force=True)


@asynccontextmanager
async def sites(home: Path, target: SSHTarget, second: SecondHost) -> AsyncIterator[list[Site]]:
    """The main engine and the second host's, each over its own SSH connection."""
    trust_ci_hosts(home, target)
    port2 = int(second.spec.rsplit(":", 1)[1])
    hosts = [Host(host=target.host, user=target.user, port=target.port,
                  docker_socket=target.docker_socket),
             Host(host=target.host, user=target.user, port=port2,
                  docker_socket=second.docker_socket)]
    async with AsyncExitStack() as stack:
        opened = []
        for host in hosts:
            engine = await stack.enter_async_context(RemoteEngine(host, "swarm-test"))
            opened.append(Site(engine.where, engine, None, None))  # type: ignore[arg-type]
        yield opened


@pytest.fixture
def tag(docker_client: docker.DockerClient, second_host: SecondHost) -> Iterator[str]:
    name = f"wb_imgtest{uuid.uuid4().hex[:8]}_app:v1"
    yield name
    remove(docker_client, name)
    remove(second_host.client, name)


MEASURE = """
import asyncio, json, sys
sys.path[:0] = {paths!r}
from test_swarm_image_transfer import measured
print(json.dumps(asyncio.run(measured({args!r}))))
"""


async def measured(args: list[str]) -> dict[str, Any]:
    """In a process of its own (:data:`MEASURE`): ``distribute`` from the main engine to the
    second host, with the peak of Python's memory while it runs, and its events."""
    home, host, user, port, key, known, socket, spec, netns, socket2, state, tag = args
    target = SSHTarget(user, host, int(port), Path(key), Path(known), socket)
    second = SecondHost(spec, netns, socket2, Path(state), None)  # type: ignore[arg-type]
    seen: list[Event] = []
    async with sites(Path(home), target, second) as (manager, node):
        tracemalloc.start()
        try:
            ident = await distribute(manager, [manager, node], tag, seen.append)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return {"ident": ident, "peak": peak, "node": node.name,
            "done": [(e.step, e.ok, e.detail) for e in seen if isinstance(e, StepFinished)],
            "sources": sorted({e.source for e in seen if isinstance(e, LogLines)})}


async def test_an_image_streams_to_the_other_engine_once_and_runs_there(
        docker_client: docker.DockerClient, second_host: SecondHost, ssh_target: SSHTarget,
        base_image: str, isolated_env: Path, tag: str) -> None:
    marker = uuid.uuid4().hex
    ident = build(docker_client, base_image, tag, marker)
    stale = build(second_host.client, base_image, tag, "an older build")  # same tag, other id
    assert stale != ident
    size = docker_client.images.get(ident).attrs["Size"]
    # Measured in a process of its own: tracemalloc counts every thread of a process, and in
    # the whole suite threads that other tests left winding down counted too (38 MB once).
    t = ssh_target
    args = [str(isolated_env), t.host, t.user, str(t.port), str(t.key), str(t.known_hosts),
            t.docker_socket, second_host.spec, second_host.netns, second_host.docker_socket,
            str(second_host.state), tag]
    here = Path(__file__).parent
    code = MEASURE.format(paths=[str(here), str(here.parent)], args=args)
    run = await asyncio.create_subprocess_exec(sys.executable, "-c", code,
                                               stdout=asyncio.subprocess.PIPE)
    out, _ = await run.communicate()
    assert run.returncode == 0
    result = json.loads(out)
    assert result["ident"] == ident
    assert second_host.client.images.get(tag).id == ident
    node = result["node"]
    [(step, ok, detail)] = result["done"]
    assert (step, ok) == (f"image/{tag}@{node}", True)
    sent = float(re.search(r"sent ([0-9.]+) MB", detail).group(1))  # type: ignore[union-attr]
    assert sent * 1_000_000 >= size  # the whole image went, as one tar
    # ... and never was in memory: a bounded pipe, and SSH windows that count what a paused
    # reader still holds (workbench/sshwindow.py; without it ~30 MB, growing with the image)
    assert result["peak"] < 24_000_000 < size / 6, (result["peak"], size)
    assert f"image@{node}" in result["sources"]
    out = second_host.client.containers.run(tag, remove=True)
    assert out.decode().strip() == marker  # the node runs the manager's build

    seen: list[Event] = []
    async with sites(isolated_env, ssh_target, second_host) as (manager, node_site):
        assert await distribute(manager, [manager, node_site], tag, seen.append) == ident
    [again] = [e for e in seen if isinstance(e, StepFinished)]
    assert again.detail == "already there with the same id"


# -- a registry ---------------------------------------------------------------------------------
@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    """tests/registry.py in this process: (its ``127.0.0.1:PORT/team``, its folder)."""
    with serving(tmp_path / "registry") as (port, store):
        yield f"127.0.0.1:{port}/team", store


async def test_push_returns_a_digest_reference_that_pulls_the_same_image(
        docker_client: docker.DockerClient, second_host: SecondHost, ssh_target: SSHTarget,
        base_image: str, isolated_env: Path, tag: str,
        registry: tuple[str, Store]) -> None:
    where, store = registry
    ident = build(docker_client, base_image, tag, uuid.uuid4().hex)
    repo = f"{where}/{tag.split(':')[0]}"
    seen: list[Event] = []
    digest = ""
    try:
        async with sites(isolated_env, ssh_target, second_host) as (manager, _):
            ref = await push(manager, tag, where, seen.append)
        name, _, digest = ref.partition("@")
        assert name == repo
        found = store.manifest(f"team/{tag.split(':')[0]}", "v1")
        assert found is not None
        body, _, stored = found
        assert digest == stored == "sha256:" + hashlib.sha256(body).hexdigest()  # pinned to
        for blob in re.findall(r'"digest":\s*"(sha256:[0-9a-f]{64})"', body.decode()):
            assert store.blob(blob).is_file()  # each one stored, its digest checked
        assert [e.detail for e in seen if isinstance(e, StepFinished)] == [ref]
        remove(docker_client, f"{repo}:v1")
        pulled = docker_client.images.pull(ref)
        assert pulled.id == ident
    finally:
        remove(docker_client, f"{repo}:v1", *([f"{repo}@{digest}"] if digest else []))


# -- on the CI Swarm -------------------------------------------------------------------------------
async def test_the_worker_gets_the_image_and_a_service_pinned_to_its_id_runs_there(
        swarm_cluster: SwarmCluster, ssh_target: SSHTarget, base_image: str,
        isolated_env: Path) -> None:
    """Built on the manager only (moby #29940): node_sites tells the worker's host by its node
    id, distribute sends the image there, and a task placed on the worker runs it by id."""
    lead, worker = swarm_cluster.manager, swarm_cluster.worker
    tag = f"wb_imgtest{uuid.uuid4().hex[:8]}_app:v1"
    marker = uuid.uuid4().hex
    ident = build(lead.client, base_image, tag, marker)
    trust_ci_hosts(isolated_env, ssh_target)
    service = None
    try:
        async with AsyncExitStack() as stack:
            opened = [Site(node.name, await stack.enter_async_context(
                RemoteEngine(node.host(), "swarm-test")), None, None)  # type: ignore[arg-type]
                for node in (lead, worker)]
            if swarm_cluster.nodes == 2:
                mapped = await node_sites(opened[0], opened, "prod")
                assert mapped == {lead.node_id: opened[0], worker.node_id: opened[1]}
                with pytest.raises(BadInput) as caught:
                    await node_sites(opened[0], opened[:1], "prod")
                assert f"({worker.node_id[:12]}) has no host in environment prod" in (
                    caught.value.line)
            seen: list[Event] = []
            assert await distribute(opened[0], opened, tag, seen.append) == ident
        assert worker.client.images.get(tag).id == ident
        if swarm_cluster.nodes == 2:
            service = lead.client.services.create(
                ident, name=f"imgtest{uuid.uuid4().hex[:8]}", labels=LABEL,
                constraints=["node.labels.host==swarm2"],
                restart_policy=docker.types.RestartPolicy(condition="none"))
            for _ in range(3000):  # a safety cap
                tasks = service.tasks()
                state = tasks[0]["Status"]["State"] if tasks else "new"
                if state in ("complete", "failed", "rejected"):
                    break
                await asyncio.sleep(0.1)
            assert state == "complete", tasks[0]["Status"]
            assert tasks[0]["NodeID"] == worker.node_id
    finally:
        if service is not None:
            service.remove()
        remove(lead.client, tag)
        for _ in range(600):  # a safety cap: the task's container goes after the service
            try:
                worker.client.images.remove(tag, force=True)
                break
            except docker.errors.ImageNotFound:
                break
            except docker.errors.APIError:
                await asyncio.sleep(0.1)
