"""`workbench --batch deploy` to a Swarm environment with ``registry:`` (docs/swarm.md): the
manager pushes each image to the registry, every node pulls it from there, nothing is streamed.

The registry is tests/registry.py, one process in each node's network namespace on the same
port, both serving the same folder: ``registry: 127.0.0.1:PORT`` is the manager's own loopback
for its push and the worker's own for its pull (both engines take 127.0.0.0/8 registries as
insecure). The project, the environment ``cluster`` and the cleanup are test_swarm_deploy's; the
registry's processes and folder are removed afterwards.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import test_swarm_deploy
from helpers import HANG_GUARD
from hosts import SwarmCluster, SwarmNode
from registry import Store
from test_swarm_deploy import SwarmProject
from test_swarm_rollback import image_of, rollback, served
from traffic import set_release

pytestmark = pytest.mark.integration
swarm_project = test_swarm_deploy.swarm_project  # the fixture

SCRIPT = Path(__file__).parent.parent / "registry.py"
TRIES = 300
"""Polls of a registry's ``GET /v2/`` before it counts as not answering (a safety cap)."""
PORTS = 8
"""Ports tried before giving up on finding one free in both namespaces."""

ASK = """
import sys, urllib.request
try:
    with urllib.request.urlopen("http://127.0.0.1:{port}/v2/", timeout=600) as reply:
        sys.exit(0 if reply.status == 200 else 1)
except OSError:
    sys.exit(1)
"""


def answers(node: SwarmNode, port: int) -> bool:
    """Whether ``GET /v2/`` on 127.0.0.1:PORT answers 200 in ``node``'s namespace."""
    done = subprocess.run(["nsenter", f"--net=/run/netns/{node.netns}", sys.executable, "-c",
                           ASK.format(port=port)], capture_output=True, timeout=HANG_GUARD,
                          check=False)
    return done.returncode == 0


@dataclass(frozen=True)
class Registries:
    """The registry on 127.0.0.1:``port`` in each node's namespace, all on one folder."""

    port: int
    store: Store

    @property
    def where(self) -> str:
        return f"127.0.0.1:{self.port}"


def _start(nodes: list[SwarmNode], root: Path, logs: Path, port: int,
           stack: ExitStack) -> bool:
    """One registry process per node on ``port``; False when one could not listen there."""
    procs = []
    for node in nodes:
        log = stack.enter_context((logs / f"{node.name}-{port}.log").open("wb"))
        proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{node.netns}", sys.executable,
                                 str(SCRIPT), str(root), str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
        stack.callback(_stop, proc)
        procs.append((node, proc))
    for node, proc in procs:
        for _ in range(TRIES):  # a safety cap
            if proc.poll() is not None or answers(node, port):
                break
        if proc.poll() is not None:
            text = (logs / f"{node.name}-{port}.log").read_text()
            assert "cannot listen" in text, f"the registry in {node.netns} ended: {text}"
            return False  # the port is taken there
        assert answers(node, port), f"the registry in {node.netns} does not answer GET /v2/"
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    proc.wait()


@pytest.fixture
def registries(tmp_path: Path, swarm_cluster: SwarmCluster) -> Iterator[Registries]:
    """tests/registry.py in the manager's and the worker's namespace, same port, same folder;
    stopped and removed afterwards."""
    root, logs = tmp_path / "registry", tmp_path / "registry-logs"
    logs.mkdir()
    store = Store(root)
    nodes = [swarm_cluster.manager, swarm_cluster.worker]
    try:
        for _ in range(PORTS):
            port = random.randint(30000, 39999)  # only tests publish in those namespaces
            with ExitStack() as stack:
                if _start(nodes, root, logs, port, stack):
                    yield Registries(port, store)
                    return
        pytest.fail(f"no port free in both namespaces after {PORTS} tries")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)


def use_registry(project: SwarmProject, where: str) -> None:
    swarm = "    swarm: {endpoint_mode: dnsrr, publish_mode: host}\n"
    project.edit("workbench.yaml", swarm, f"{swarm}    registry: {where}\n")


def project_images(node: SwarmNode, project: SwarmProject) -> list[str]:
    return [image.id for image in node.client.images.list(filters={
        "label": f"dev.workbench.project={project.name}"})]


def task_repo_digests(node: SwarmNode, project: SwarmProject) -> list[list[str]]:
    """The RepoDigests of the image each of the node's running ``orders`` tasks runs."""
    found = node.client.containers.list(filters={"label": [
        f"dev.workbench.project={project.name}", "dev.workbench.endpoint=orders",
        "dev.workbench.role=app"]})
    return [list(node.client.images.get(c.attrs["Image"]).attrs.get("RepoDigests") or [])
            for c in found]


def history(project: SwarmProject) -> list[tuple[str, str, str, str]]:
    """Every task of ``orders`` (node, state, error, image): what a failed assertion shows."""
    manager = project.swarm.manager.client.api
    return [(t["NodeID"][:12], t["Status"]["State"], str(t["Status"].get("Err", "")),
             t["Spec"]["ContainerSpec"]["Image"][-12:])
            for t in manager.tasks(filters={"service": project.services()["orders"]["ID"]})]


def check_pinned(project: SwarmProject, registries: Registries) -> str:
    """The service's image: the registry's reference by digest, whose manifest and blobs are
    in the registry's folder."""
    ref = image_of(project)
    found = re.fullmatch(rf"127\.0\.0\.1:{registries.port}/([a-z0-9_]+)@(sha256:[0-9a-f]{{64}})",
                         ref)
    assert found, ref
    manifest = registries.store.manifest(found[1], found[2])
    assert manifest is not None and manifest[2] == found[2]
    for blob in re.findall(r'"digest":\s*"(sha256:[0-9a-f]{64})"', manifest[0].decode()):
        assert registries.store.blob(blob).is_file()
    return ref


def test_a_deploy_with_a_registry_is_pulled_by_every_node_and_rolls_back_by_digest(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster,
        registries: Registries) -> None:
    use_registry(swarm_project, registries.where)
    worker = swarm_cluster.worker
    assert project_images(worker, swarm_project) == []
    refs = []
    for release in ("r1", "r2"):
        set_release(swarm_project, release)
        done = swarm_project.deploy("-e", "orders")
        assert done.returncode == 0, done.stdout + done.stderr
        ref = check_pinned(swarm_project, registries)
        refs.append(ref)
        out = done.stdout
        assert re.search(rf"^ok .* push \S+ to {re.escape(registries.where)}$", out, re.M), out
        assert f"pushed {ref}" in out
        # nothing streamed: no "send IMAGE to NODE" step, no "sent N MB to NODE"
        assert not re.search(r" send \S+ to |\bsent [0-9.]+ MB to ", out), out
        assert served(swarm_project) == {release}
        tasks = swarm_project.running_tasks("orders")
        assert len(tasks) == 2
        assert {t["Spec"]["ContainerSpec"]["Image"] for t in tasks} == {ref}
        digests = task_repo_digests(worker, swarm_project)
        assert all(ref in each for each in digests), digests  # the worker's tasks pulled it
        if swarm_cluster.nodes == 2 and release == "r1":  # created: spread, one on each node
            assert sorted(t["NodeID"] for t in tasks) == sorted(
                node.node_id for node in swarm_cluster.members), history(swarm_project)
            assert len(digests) == 1
        *_, record = swarm_project.releases("orders")
        assert (record["outcome"], record["image_ref"]) == ("ok", ref)
        name, _, digest = ref.removeprefix(f"{registries.where}/").partition("@")
        tagged = registries.store.manifest(name, str(record["version"]))
        assert tagged is not None and tagged[2] == digest  # pushed under its version too
    again = swarm_project.deploy("-e", "orders")  # the same image pushes to the same digest
    assert again.returncode == 0 and "orders  unchanged" in again.stdout, again.stdout
    assert image_of(swarm_project) == refs[1]
    assert refs[0] != refs[1]
    v1 = swarm_project.releases("orders")[0]["version"]

    code, out = rollback(swarm_project)
    assert code == 0, out
    assert f"orders  deployed  {v1}" in out
    assert image_of(swarm_project) == refs[0]
    assert not re.search(r" send \S+ to |\bsent [0-9.]+ MB to ", out), out
    assert served(swarm_project) == {"r1"}
    tasks = swarm_project.running_tasks("orders")
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in tasks} == {refs[0]}
    digests = task_repo_digests(worker, swarm_project)
    assert all(refs[0] in each for each in digests), digests
    *_, last = swarm_project.releases("orders")
    assert (last["kind"], last["outcome"], last["image_ref"]) == ("rollback", "ok", refs[0])


def test_a_registry_that_does_not_answer_fails_the_deploy_with_one_line_naming_it(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster) -> None:
    for _ in range(PORTS):
        port = random.randint(30000, 39999)
        if not answers(swarm_cluster.manager, port):
            break
    where = f"127.0.0.1:{port}"
    use_registry(swarm_project, where)
    done = swarm_project.deploy("-e", "orders")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out and "internal error" not in out.lower(), out
    [line] = [line for line in done.stdout.splitlines() if line.startswith("orders  FAILED")]
    assert f"push of {where}/" in line and "connection refused" in line, line
    assert "orders" not in swarm_project.services()
    [record] = swarm_project.releases("orders")
    assert record["outcome"] == "failed" and where in str(record["reason"])
