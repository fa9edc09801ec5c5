"""A Swarm environment in normalize, compare, status, drift and the live matrix (pure): replicas
and placement are differences, where the scheduler put a task is not; one status row per
service with its tasks per node; a scale is drift; a cell shows running/desired; ``--previous``
reads the manager's release records alone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from workbench.compare import compare, render, to_json
from workbench.drift import RepoEndpoint, RepoFacts, drift, render_drift
from workbench.live import summarize
from workbench.model import load_project
from workbench.normalize import normalize
from workbench.observed import EnvState, HostState, Instance, Task
from workbench.ops.drift import release_changes
from workbench.ops.new import new_child, new_project
from workbench.ops.status import rows_of
from workbench.releasediff import render_release_changes
from workbench.releases import Release, append
from workbench.site import Site
from workbench.state import LocalStore
from workbench.swarm.cells import task_lines

MANAGER, WORKER, SINGLE = "root@10.0.0.1", "root@10.0.0.2", "root@10.0.0.9"
M_NODE, W_NODE = "m" * 25, "w" * 25
CONFIG: dict[str, Any] = {"port": 8000, "health": "/health", "health_timeout": 30.0,
                          "routes": ["/orders"], "data": False, "env": ["LOG_LEVEL"],
                          "secrets": []}
LABELS = {"dev.workbench.project": "shop", "dev.workbench.version": "v1"}


def tasks(n: int) -> tuple[Task, ...]:
    nodes = (MANAGER, WORKER)
    return tuple(Task(slot, nodes[slot % 2], "running", "running", container_id=f"c{slot}",
                      health="healthy", node_id=(M_NODE, W_NODE)[slot % 2], id=f"t{slot}")
                 for slot in range(1, n + 1))


def service(replicas: int = 2, running: int | None = None, env: str = "prod",
            **changes: Any) -> Instance:
    running = replicas if running is None else running
    base = Instance("orders", MANAGER, container="wb_shop_prod_orders", state="running",
                    health="healthy", started_at="2024-05-01T10:00:00Z",
                    image_id="sha256:abc", version="v1", git_sha="1a2b3c", config_hash="cfg-p",
                    env={"LOG_LEVEL": "info"}, labels=LABELS,
                    mounts=(f"volume wb_shop_{env}_orders_data -> /data (rw)",),
                    restart_policy="any", replicas=f"{running}/{replicas}",
                    replicas_desired=replicas, replicas_running=running,
                    update_state="completed", endpoint_mode="dnsrr", tasks=tasks(running))
    return replace(base, **changes)


def record(host: str, replicas: int = 2, engine: str = "swarm") -> Release:
    config = {**CONFIG, "replicas": replicas, "placement": [], "volume_driver": "",
              "update": {"parallelism": 1, "delay": 0.0, "monitor": None}} \
        if engine == "swarm" else CONFIG
    return Release("orders", "v1", host, "ok", git_sha="1a2b3c", config_hash="cfg-p",
                   secrets_generation="", variables={"LOG_LEVEL": "info"},
                   endpoint_config=config, user="ann", time="2024-05-01T10:00:00Z",
                   engine=engine, replicas=replicas)


def swarm(inst: Instance | None = None, *, worker: HostState | None = None,
          env: str = "prod", replicas: int = 2) -> EnvState:
    inst = service(replicas) if inst is None else inst
    rel = record(MANAGER, replicas)
    manager = HostState(MANAGER, instances=(inst,), routes={"orders": ("/orders",)},
                        releases={"orders": rel}, last={"orders": rel})
    return EnvState(env, "swarm", (manager, worker or HostState(WORKER)),
                    ((M_NODE, MANAGER), (W_NODE, WORKER)))


def single(env: str = "staging") -> EnvState:
    inst = Instance("orders", SINGLE, container="wb_shop_staging_orders_v1_x", container_id="i",
                    state="running", health="healthy", image="wb_shop_orders:v1",
                    image_id="sha256:def", version="v1", git_sha="1a2b3c", config_hash="cfg-s",
                    env={"LOG_LEVEL": "info"}, labels=LABELS,
                    mounts=("volume wb_shop_staging_orders_data -> /data (rw)",),
                    restart_policy="unless-stopped")
    rel = record(SINGLE, 1, "docker")
    return EnvState(env, "docker", (HostState(SINGLE, instances=(inst,),
                                              routes={"orders": ("/orders",)},
                                              releases={"orders": rel}, last={"orders": rel}),))


def keys(a: EnvState, b: EnvState) -> dict[str, tuple[str, str | None, str | None]]:
    body = to_json(compare(normalize(a), normalize(b)), all_keys=False)
    return {k["key"]: (k["status"], k["a"], k["b"]) for e in body["endpoints"]
            for k in e["keys"]}


def test_a_swarm_service_against_a_single_host_names_replicas_and_engine_keys() -> None:
    got = keys(single(), swarm())
    assert got["replicas"] == ("differs", "1", "2")
    assert got["containers per host"] == ("differs", "1", "scheduled by Swarm")
    assert got["restart policy"] == ("differs", "unless-stopped", "any")
    assert got["endpoint mode"] == ("only in B", None, "dnsrr")
    assert "endpoint.yaml update" not in got  # at its default: a single host runs the same
    assert normalize(swarm()).ignored["swarm-default"] == 2  # update, volume_driver
    assert "endpoint.yaml replicas" not in got  # compared live, as "replicas"
    # the same version, variables, data mount, routes and health are no difference
    for same in ("version", "git sha", "LOG_LEVEL", "mount /data", "routes", "state"):
        assert same not in got, got
    text = "\n".join(render(compare(normalize(single()), normalize(swarm())), False))
    assert "replicas" in text and "1 task node" not in text


def test_two_swarms_differ_in_replicas_and_placement_not_in_task_nodes() -> None:
    spread = swarm(service(3, tasks=tuple(replace(t, node=MANAGER, node_id=M_NODE)
                                           for t in tasks(3))), replicas=3)
    other = swarm(service(2, env="staging", placement=("node.labels.zone==a",)), env="staging")
    got = keys(spread, other)
    assert got["replicas"] == ("differs", "3", "2")
    assert got["placement"] == ("only in B", None, "node.labels.zone==a")
    assert set(got) == {"replicas", "placement"}, got  # where tasks run is the scheduler's
    ignored = normalize(spread).ignored
    assert ignored["task-node"] == 3


def test_a_pin_to_the_first_node_is_the_same_on_every_swarm() -> None:
    a = swarm(service(placement=(f"node.id=={M_NODE}",)))
    b = EnvState("staging", "swarm", swarm(service(env="staging", placement=(
        "node.id==other-first",))).hosts, (("other-first", MANAGER),))
    assert normalize(a).endpoints["orders"]["deploy"]["placement"] == "node.id==(first node)"
    assert keys(a, b) == {}
    assert normalize(a).ignored["node-id"] == 1


def test_too_few_replicas_and_a_rolled_back_update_show_in_health() -> None:
    degraded = service(2, 1, health="unhealthy (1/2 running)", update_state="rollback_completed")
    got = keys(swarm(), swarm(replace(degraded, mounts=service(env="staging").mounts),
                              env="staging"))
    assert got["state"] == ("differs", "running, healthy", "running, unhealthy (1/2 running)")
    assert got["update"] == ("only in B", None, "rollback_completed")
    assert "replicas" not in got  # both want 2


def test_status_has_one_row_per_service_with_its_tasks_per_node() -> None:
    want = {"orders": SimpleNamespace(context=SimpleNamespace(version="v1"), config_hash="cfg-p",
                                      endpoint=SimpleNamespace(replicas=2))}
    rows = rows_of(swarm(), want, keyed_hash=True)  # type: ignore[arg-type]
    assert [(r.host, r.endpoint, r.drift) for r in rows] == [(MANAGER, "orders", ())]
    assert task_lines(rows[0].instance) == [  # type: ignore[arg-type]
        "update completed", f"tasks on {WORKER}: #1 running (healthy)",
        f"tasks on {MANAGER}: #2 running (healthy)"]
    scaled = rows_of(swarm(service(3), replicas=3), want, True)  # type: ignore[arg-type]
    assert scaled[0].drift == ("replicas",)
    down = rows_of(swarm(worker=HostState(WORKER, unreachable="refused")), want, True)  # type: ignore[arg-type]
    assert [(r.host, r.unreachable) for r in down] == [(MANAGER, ""), (WORKER, "refused")]
    gone = rows_of(swarm(service(2, 0, state="no tasks", tasks=())), want, True)  # type: ignore[arg-type]
    assert gone[0].drift == ("missing",)


def test_the_live_cell_shows_running_of_desired() -> None:
    want = {"orders": SimpleNamespace(context=SimpleNamespace(version="v1"), config_hash="cfg-p",
                                      endpoint=SimpleNamespace(replicas=3))}
    rows = rows_of(swarm(service(3, 2, health="starting (2/3 running)")), want, True)  # type: ignore[arg-type]
    found = summarize(rows)
    assert (found.replicas, found.health, found.version) == ("2/3", "starting", "v1")
    assert summarize(rows_of(single(), {}, False)).replicas == ""


def test_repo_drift_compares_the_manager_and_names_a_scale() -> None:
    config = {**CONFIG, "replicas": 2, "placement": [], "volume_driver": "",
              "update": {"parallelism": 1, "delay": 0.0, "monitor": None}}
    repo = RepoFacts({"orders": RepoEndpoint("orders", "v1", "1a2b3c", config_hash="cfg-p",
                                             variables={"LOG_LEVEL": "info"},
                                             endpoint_config=config)})
    same = drift(swarm(), repo)
    assert [(e.hosts, e.flags) for e in same.endpoints] == [((MANAGER,), ())]  # no node alone
    scaled = drift(swarm(service(4), replicas=2), repo)
    assert scaled.endpoints[0].flags == ("config",)
    assert "the service wants 4 replicas; endpoint.yaml asks for 2" in \
        "\n".join(render_drift(scaled))


async def test_previous_reads_the_managers_records_and_ignores_a_worker_down(
        tmp_path: Path) -> None:
    """Only the manager keeps a Swarm environment's release records: a worker neither adds a
    'no release' item nor makes the report partial."""
    new_project(tmp_path, "shop")
    root = tmp_path / "shop"
    new_child(root, "endpoint", "orders")
    with (root / "workbench.yaml").open("a") as handle:
        handle.write(f"  prod:\n    engine: swarm\n    hosts: [{MANAGER}, {WORKER}]\n")
    shop = load_project(root)
    first = shop.environment("prod").hosts[0].spec  # root@10.0.0.1:22
    store = LocalStore(tmp_path / "state", "prod")
    for version, level in (("v1", "info"), ("v2", "debug")):
        await append(store, replace(record(first, 1), version=version,
                                    variables={"LOG_LEVEL": level},
                                    time=f"2025-01-0{version[-1]}T10:00:00+00:00"))

    @contextlib.asynccontextmanager
    async def opener(_project: Any, _env: Any) -> AsyncIterator[tuple[list[Site], dict[str, str]]]:
        yield [Site(first, None, store, asyncio.open_connection)], \
            {f"{WORKER}:22": "cannot connect: Connection refused"}  # type: ignore[arg-type]

    found = await release_changes(shop, "prod", [], None, opener)
    assert found.unreachable == {} and found.complete
    [item] = found.items
    assert item.hosts == (first,)
    assert "  variable LOG_LEVEL: info -> debug" in render_release_changes(found)
