"""``status`` and ``diff`` of Swarm environments on the CI cluster (swarm1 manager, swarm2
worker), against a single-host one on the first CI sshd host.

The Swarm services are put there as a deploy leaves them (tests/swarm_staging.py: the spec,
labels on services and tasks, secrets, release records), running the nodes' base image.
- status shows one row per service, replicas running/desired and its tasks per node; a scale
  is drift from the repo (status and ``diff --repo``);
- diff against the single-host environment names the replica and placement differences, and a
  secret with the same value on both sides is no difference (its value is in no output);
- two identical Swarm environments have no difference, wherever the scheduler put their tasks;
  a scale of one of them is exactly the replica difference;
- after a real ``workbench deploy`` to the Swarm (image built and streamed, proxy service),
  status and diff against the single-host deploy say the same;
- the live matrix's watcher gives a Swarm environment's cell its running/desired replicas.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, clean, free_port
from hosts import SwarmCluster, trust_ci_hosts
from staging import RunWorkbench, Staged, stage
from swarm_staging import converged, put_services, remove_swarm, scale, swarm_env

from screens.matrix import LiveCell
from workbench.live import LiveUpdate, summarize
from workbench.model import load_project
from workbench.ops.watch import watch_until

pytestmark = pytest.mark.integration

TOKEN = "tok-5e2b91-swarm"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=Test", "-c",
                    "user.email=test@example.com", *args], check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
            ssh_target: SSHTarget, swarm_cluster: SwarmCluster,
            docker_client: docker.DockerClient) -> Iterator[Staged]:
    """A staged project (orders: python, /data and a TOKEN secret; site: static) with
    staging on the first CI host, and prod and canary on the Swarm (nothing deployed yet)."""
    if swarm_cluster.nodes != 2:
        pytest.fail("the CI Swarm has one node: these tests need the worker too")
    staged = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target,
                   [ssh_target.spec])
    trust_ci_hosts(isolated_env, ssh_target)
    staged.edit("workbench.yaml", "  staging:\n",
                "  staging:\n    secrets_file: .workbench/secrets/all.env\n")
    with (staged.root / "workbench.yaml").open("a") as handle:
        for env in ("prod", "canary"):
            handle.write(swarm_env(env, swarm_cluster.manager, swarm_cluster.worker,
                                   free_port(), base_image))
            handle.write("    secrets_file: .workbench/secrets/all.env\n")
    secrets = staged.root / ".workbench" / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "all.env").write_text(f"TOKEN={TOKEN}\n")
    staged.edit("endpoints/orders/endpoint.yaml", "secrets: []", "secrets: [TOKEN]")
    git(staged.root / "endpoints" / "orders", "commit", "-qam", "TOKEN")
    site = staged.root / "endpoints" / "site"
    with (site / ".dockerignore").open("a") as handle:  # a replicas edit is no new version
        handle.write("endpoint.yaml\n")
    git(site, "commit", "-qam", "endpoint.yaml out of the build context")
    yield staged
    remove_swarm(swarm_cluster, staged.name)
    clean(docker_client, staged.name, Path("/var/lib/workbench"))


def two_replicas_of_site(project: Staged) -> None:
    """site runs two replicas on a Swarm (its version stays; the edit is committed)."""
    site = project.root / "endpoints" / "site"
    project.edit("endpoints/site/endpoint.yaml", "data: false", "data: false\nreplicas: 2")
    git(site, "commit", "-qam", "two replicas")


def put(project: Staged, env: str, base_image: str,
        cluster: SwarmCluster) -> dict[str, list[str]]:
    wanted = asyncio.run(put_services(project.root, env, base_image))
    return converged(cluster.manager.client, wanted)


def workbench(project: Staged, *args: str, code: int = 0) -> str:
    done = project.workbench(*args, timeout=900)
    assert done.returncode == code, done.stdout + done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert hashlib.sha256(TOKEN.encode()).hexdigest() not in done.stdout
    return done.stdout


def test_status_shows_replicas_and_tasks_per_node_and_a_scale_is_drift(
        project: Staged, base_image: str, swarm_cluster: SwarmCluster) -> None:
    two_replicas_of_site(project)
    running = put(project, "prod", base_image, swarm_cluster)
    manager, worker = swarm_cluster.manager, swarm_cluster.worker
    site_service = f"wb_{project.name}_prod_site"
    # the scheduler spreads two replicas over the two nodes; orders keeps /data on the first
    assert running[site_service] == sorted([manager.node_id, worker.node_id])
    assert running[f"wb_{project.name}_prod_orders"] == [manager.node_id]

    body = json.loads(workbench(project, "status", "--env", "prod", "--json"))
    rows = {r["endpoint"]: r for r in body["rows"]}
    assert set(rows) == {"orders", "site"} and body["unreachable"] == {}
    assert {r["host"] for r in rows.values()} == {manager.spec}  # one row per service
    site = rows["site"]["running"]
    assert (site["replicas"], site["replicas_desired"], site["replicas_running"]) == \
        ("2/2", 2, 2)
    assert site["state"] == "running" and site["health"] == "healthy", site
    assert sorted(t["node"] for t in site["tasks"]) == sorted([manager.spec, worker.spec])
    assert all(t["state"] == "running" and t["health"] == "healthy" for t in site["tasks"])
    assert site["endpoint_mode"] == "dnsrr"
    orders = rows["orders"]["running"]
    assert orders["replicas"] == "1/1" and orders["placement"] == [
        f"node.id=={manager.node_id}"]
    for row in rows.values():
        assert row["drift"] == [], row
        assert row["running"]["version"] == row["current_release"]
        assert row["last_release"]["outcome"] == "ok"
    text = workbench(project, "status", "--env", "prod")
    assert "REPLICAS" in text.splitlines()[0]
    assert f"tasks on {worker.spec}: " in text and f"tasks on {manager.spec}: " in text
    assert "in sync" in workbench(project, "diff", "prod", "--repo")

    scale(manager.client, site_service, 3)
    converged(manager.client, {site_service: 3})
    body = json.loads(workbench(project, "status", "--env", "prod", "--json"))
    site_row = next(r for r in body["rows"] if r["endpoint"] == "site")
    assert site_row["running"]["replicas"] == "3/3" and site_row["drift"] == ["replicas"]
    drift = json.loads(workbench(project, "diff", "prod", "--repo", "--json"))
    found = {e["endpoint"]: e for e in drift["endpoints"]}
    assert found["site"]["flags"] == ["config"] and found["orders"]["flags"] == []
    assert "the service wants 3 replicas; endpoint.yaml asks for 2" in found["site"]["notes"]


def test_diff_against_a_single_host_names_replicas_and_placement(
        project: Staged, base_image: str, swarm_cluster: SwarmCluster) -> None:
    done = project.deploy()  # staging: one container per endpoint on the first CI host
    assert done.returncode == 0, done.stdout + done.stderr
    two_replicas_of_site(project)
    put(project, "prod", base_image, swarm_cluster)

    body = json.loads(workbench(project, "diff", "staging", "prod", "--json"))
    keys = {(e["name"], k["key"]): (k["status"], k["a"], k["b"])
            for e in body["endpoints"] for k in e["keys"]}
    assert keys[("site", "replicas")] == ("differs", "1", "2")
    assert keys[("orders", "placement")] == ("only in B", None, "node.id==(first node)")
    assert ("orders", "replicas") not in keys  # one replica on both
    assert keys[("site", "containers per host")] == ("differs", "1", "scheduled by Swarm")
    assert body["b"]["engine"] == "swarm" and body["a"]["engine"] == "docker"
    for name in ("orders", "site"):  # the same build, variables and secret: no difference
        for same in ("version", "LOG_LEVEL", "TOKEN", "state", "restarts", "mount /data"):
            assert (name, same) not in keys, keys
    assert not any("node" in key and key != "placement" for _name, key in keys), keys
    assert body["ignored"]["task-node"] == 3  # orders 1 + site 2
    text = workbench(project, "diff", "staging", "prod")
    assert any(line.split()[:3] == ["~", "deploy", "replicas"] for line in text.splitlines())
    workbench(project, "diff", "staging", "prod", "--all")


def test_two_identical_swarm_envs_differ_only_in_a_scale(
        project: Staged, base_image: str, swarm_cluster: SwarmCluster) -> None:
    two_replicas_of_site(project)
    put(project, "prod", base_image, swarm_cluster)
    put(project, "canary", base_image, swarm_cluster)
    text = workbench(project, "diff", "prod", "canary", "--exit-code")
    assert "no differences between prod and canary: 2 endpoints compared" in text

    manager = swarm_cluster.manager.client
    scale(manager, f"wb_{project.name}_canary_site", 3)
    converged(manager, {f"wb_{project.name}_canary_site": 3})
    body = json.loads(workbench(project, "diff", "prod", "canary", "--json", "--exit-code",
                                code=1))
    found = [(e["name"], k["key"], k["a"], k["b"]) for e in body["endpoints"] for k in e["keys"]]
    assert found == [("site", "replicas", "2", "3")], found


def test_a_real_swarm_deploy_against_the_single_host_one(
        project: Staged, swarm_cluster: SwarmCluster) -> None:
    done = project.deploy()
    assert done.returncode == 0, done.stdout + done.stderr
    two_replicas_of_site(project)
    workbench(project, "deploy", "--env", "prod")

    rows = {r["endpoint"]: r for r in json.loads(workbench(
        project, "status", "--env", "prod", "--json"))["rows"]}
    site = rows["site"]["running"]
    assert site["replicas"] == "2/2" and site["health"] == "healthy", site
    assert sorted(t["node"] for t in site["tasks"]) == sorted(
        [swarm_cluster.manager.spec, swarm_cluster.worker.spec])
    assert rows["site"]["drift"] == [] and rows["orders"]["drift"] == []
    body = json.loads(workbench(project, "diff", "staging", "prod", "--json"))
    keys = {(e["name"], k["key"]): (k["status"], k["a"], k["b"])
            for e in body["endpoints"] for k in e["keys"]}
    assert keys[("site", "replicas")] == ("differs", "1", "2")
    assert keys[("orders", "placement")] == ("only in B", None, "node.id==(first node)")
    for name in ("orders", "site"):  # the same build, routes, variables and secret
        for same in ("version", "routes", "LOG_LEVEL", "TOKEN", "state", "path"):
            assert (name, same) not in keys, keys


def test_the_live_matrix_cell_shows_running_of_desired_replicas(
        project: Staged, base_image: str, swarm_cluster: SwarmCluster) -> None:
    two_replicas_of_site(project)
    put(project, "prod", base_image, swarm_cluster)
    stopped = threading.Event()
    seen: list[LiveUpdate] = []

    def report(updates: list[LiveUpdate]) -> None:
        seen.extend(updates)
        found = [u for u in updates if u.endpoint == "site"]
        if (found and summarize(found[-1].rows).replicas == "2/2") or len(seen) > 400:
            stopped.set()  # the cell is there (or a generous cap on the watcher's reports)

    asyncio.run(watch_until(load_project(project.root), report, stopped, env_names=["prod"]))
    site = [u for u in seen if u.endpoint == "site"][-1]
    found = LiveCell.of(site).summary
    assert (found.replicas, found.health, found.deployed) == ("2/2", "healthy", True), site
    assert LiveCell.of(site).render().plain.endswith(" 2/2")
