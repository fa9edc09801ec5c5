"""Observing a Swarm environment: services and tasks as the docker API lists them -> one
instance per service (pure parts), and the reads through fake engines: one services list and
one tasks list on the manager, one container list per node, secrets sealed as they are read."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from workbench.observed import Sealed, seal
from workbench.ops.observe import observe_keyed
from workbench.swarm import facts
from workbench.swarm.secrets import env_file

KEY = b"k" * 32
MANAGER, WORKER = "root@10.0.0.1", "root@10.0.0.2"
M_NODE, W_NODE = "nmvi4aisbji86lj82iy81tetg", "eitac26ztb7zsm6vrvzosq500"


def service(endpoint: str = "orders", replicas: int = 2, **spec: Any) -> dict[str, Any]:
    """A service as ``api.services()`` lists one that a Swarm deploy made."""
    labels = {"dev.workbench.project": "shop", "dev.workbench.env": "prod",
              "dev.workbench.endpoint": endpoint, "dev.workbench.role": "app",
              "dev.workbench.version": "v2", "dev.workbench.git-sha": "1a2b3c",
              "dev.workbench.config-hash": "cfg", "dev.workbench.dirty": "false",
              "dev.workbench.secrets": "TOKEN", "dev.workbench.health": "/health",
              "dev.workbench.spec-hash": "eef98f882e7dd0e2"}
    found = {
        "ID": f"svc-{endpoint}", "Version": {"Index": 420},
        "Spec": {"Name": f"wb_shop_prod_{endpoint}", "Labels": labels,
                 "TaskTemplate": {
                     "ContainerSpec": {
                         "Image": "sha256:54d96f574ec69b14382f3cda07451e152e67c91f",
                         "Labels": {**labels, "dev.workbench.task-hash": "99"},
                         "Env": ["LOG_LEVEL=debug", "MODE=fast"],
                         "Mounts": [{"Type": "volume", "Source": f"wb_shop_prod_{endpoint}_data",
                                     "Target": "/data"}],
                         "Secrets": [{"SecretID": "s1", "SecretName":
                                      f"wb_shop_prod_{endpoint}_0123456789ab"}]},
                     "Resources": {"Limits": {"MemoryBytes": 268435456}},
                     "RestartPolicy": {"Condition": "any", "MaxAttempts": 0},
                     "Placement": {"Constraints": [f"node.id=={M_NODE}", "node.role==manager"]}},
                 "Mode": {"Replicated": {"Replicas": replicas}},
                 "EndpointSpec": {"Mode": "dnsrr"}},
        "Endpoint": {"Spec": {}},
        "UpdateStatus": {"State": "completed", "StartedAt": "2024-05-01T10:00:00Z",
                         "Message": "update completed"}}
    found["Spec"].update(spec)
    return found


def task(slot: int, node: str, state: str = "running", desired: str = "running",
         endpoint: str = "orders", version: str = "v2", err: str = "",
         at: str = "2024-05-01T10:00:00Z") -> dict[str, Any]:
    status: dict[str, Any] = {"Timestamp": at, "State": state, "Message": state}
    if err:
        status["Err"] = err
    if state in ("running", "failed", "shutdown"):
        status["ContainerStatus"] = {"ContainerID": f"c-{endpoint}-{slot}-{node[:4]}-{state}"}
    return {"ID": f"t-{endpoint}-{slot}-{node[:4]}-{state}", "ServiceID": f"svc-{endpoint}",
            "Slot": slot, "NodeID": node, "Status": status, "DesiredState": desired,
            "Spec": {"ContainerSpec": {"Labels": {"dev.workbench.version": version}}}}


NAMES = {M_NODE: MANAGER, W_NODE: "vm (eitac26ztb7z)"}


def test_a_service_and_its_tasks_are_one_instance() -> None:
    tasks = [task(1, M_NODE), task(2, W_NODE),
             task(2, W_NODE, "shutdown", "shutdown", version="v1"),  # an update's old task
             task(1, M_NODE, "failed", "shutdown", err="task: non-zero exit (1)")]
    health = {"c-orders-1-nmvi-running": "healthy"}
    got = facts.service_instance(service(), tasks, host=MANAGER, names=NAMES, health=health,
                                 key=KEY, secrets={"TOKEN": "tok-1"})
    assert (got.endpoint, got.host, got.version, got.git_sha, got.config_hash) == \
        ("orders", MANAGER, "v2", "1a2b3c", "cfg")
    assert (got.replicas, got.replicas_desired, got.replicas_running) == ("2/2", 2, 2)
    assert (got.state, got.health) == ("running", "healthy")
    assert (got.update_state, got.update_message) == ("completed", "update completed")
    assert got.placement == (f"node.id=={M_NODE}", "node.role==manager")
    assert got.endpoint_mode == "dnsrr" and got.restart_policy == "any"
    assert got.image == "" and got.image_id.startswith("sha256:54d96f")
    assert got.mounts == ("volume wb_shop_prod_orders_data -> /data (rw)",)
    assert got.resources == {"memory": "268435456"}
    assert got.env["LOG_LEVEL"] == "debug"
    assert got.env["TOKEN"] == seal(KEY, "TOKEN", "tok-1")  # sealed as it is read
    assert got.restarts == 1  # the failed task of this version
    shown = [(t.slot, t.node, t.state, t.health) for t in got.tasks]
    assert shown == [(1, MANAGER, "running", "healthy"), (2, "vm (eitac26ztb7z)", "running", "")]


def test_too_few_running_tasks_are_starting_or_unhealthy_with_the_count() -> None:
    starting = [task(1, M_NODE), task(2, W_NODE, "preparing")]
    got = facts.service_instance(service(), starting, host=MANAGER, names=NAMES, health={},
                                 key=KEY)
    assert (got.state, got.health, got.replicas) == ("running", "starting (1/2 running)", "1/2")
    failing = [task(1, M_NODE), task(2, W_NODE, "failed", "shutdown", err="no such image")]
    got = facts.service_instance(service(), failing, host=MANAGER, names=NAMES, health={},
                                 key=KEY)
    assert got.health == "unhealthy (1/2 running)"
    # the slot that runs nothing shows its last failure, with the error
    assert [(t.slot, t.state, t.desired, t.error) for t in got.tasks] == \
        [(1, "running", "running", ""), (2, "failed", "shutdown", "no such image")]
    none = facts.service_instance(service(), [], host=MANAGER, names=NAMES, health={}, key=KEY)
    assert (none.state, none.replicas) == ("no tasks", "0/2")


def test_secrets_not_read_are_sealed_as_unread_never_a_value() -> None:
    got = facts.service_instance(service(), [task(1, M_NODE)], host=MANAGER, names=NAMES,
                                 health={}, key=KEY)
    token = got.env["TOKEN"]
    assert isinstance(token, Sealed) and token.digest.startswith("unread:wb_shop_prod_orders_")
    assert str(token) == "(secret)"


def test_the_secrets_file_is_read_back_exactly() -> None:
    values = {"TOKEN": "it's a \"quoted\" $value", "EMPTY": "", "B": "x=y"}
    assert facts.parse_env_file(env_file(values).decode()) == values


def test_ports_are_written_by_publish_mode() -> None:
    published = service(EndpointSpec={"Mode": "dnsrr", "Ports": [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}]})
    published["Endpoint"] = {"Ports": [{"Protocol": "tcp", "TargetPort": 80,
                                        "PublishedPort": 8080, "PublishMode": "host"}]}
    got = facts.service_instance(published, [], host=MANAGER, names=NAMES, health={}, key=KEY)
    assert got.ports == got.asked_ports == ("host:8080->80/tcp",)


def test_node_names_are_hosts_or_hostname_and_id() -> None:
    nodes = [{"ID": M_NODE, "Description": {"Hostname": "vm"}},
             {"ID": W_NODE, "Description": {"Hostname": "vm"}}]
    assert facts.node_names(nodes, {M_NODE: MANAGER}) == \
        {M_NODE: MANAGER, W_NODE: "vm (eitac26ztb7z)"}
    listing = [{"Id": "a", "Status": "Up 3 minutes (healthy)"}, {"Id": "b", "Status": "Up 1s"},
               {"Id": "c", "Status": "Up 2s (health: starting)"}]
    assert facts.container_health(listing) == {"a": "healthy", "b": "", "c": "starting"}


# -- the reads, through fake engines ------------------------------------------------------------
class FakeAPI:
    """One node's engine: what it lists, and every call made to it."""

    def __init__(self, node: str, manager: bool, containers: list[dict[str, Any]],
                 secrets: bytes = b"", gone: tuple[str, ...] = ()) -> None:
        self.node, self.manager, self.listing, self.secrets = node, manager, containers, secrets
        self.gone = gone  # containers listed as running that stopped before their exec
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in ("services", "tasks", "nodes") and not self.manager:
            raise RuntimeError("503: This node is not a swarm manager.")

    def info(self) -> dict[str, Any]:
        self.calls.append("info")
        return {"Swarm": {"NodeID": self.node, "ControlAvailable": self.manager}}

    def services(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self._call("services")
        assert "dev.workbench.role=app" in filters["label"]
        return [service("orders"), service("site", replicas=1)]

    def tasks(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self._call("tasks")
        assert "dev.workbench.env=prod" in filters["label"]
        return [task(1, M_NODE), task(2, W_NODE), task(1, W_NODE, endpoint="site")]

    def nodes(self) -> list[dict[str, Any]]:
        self._call("nodes")
        return [{"ID": n, "Description": {"Hostname": "vm"}} for n in (M_NODE, W_NODE)]

    def containers(self, all: bool, filters: dict[str, Any]) -> list[dict[str, Any]]:
        if "dev.workbench.role=proxy" in filters["label"]:
            self.calls.append("proxy")
            return []
        self.calls.append("containers")
        return self.listing

    def exec_create(self, container: str, cmd: list[str], stdout: bool,
                    stderr: bool) -> dict[str, str]:
        assert cmd[:2] == ["/bin/sh", "-c"] and cmd[2].endswith("/run/secrets/workbench.env")
        self.calls.append(f"exec {container}")
        if container in self.gone:
            raise RuntimeError(f"409: Container {container} is not running")
        return {"Id": f"exec-{container}"}

    def exec_start(self, exec_id: str, demux: bool) -> tuple[bytes, None]:
        self.calls.append(f"exec_start {exec_id}")
        return self.secrets, None


def container(ident: str, endpoint: str, health: str = "healthy") -> dict[str, Any]:
    return {"Id": ident, "State": "running", "Status": f"Up 2 minutes ({health})",
            "Created": 100, "Labels": {"dev.workbench.endpoint": endpoint,
                                       "dev.workbench.secrets": "TOKEN" if endpoint == "orders"
                                       else ""}}


async def _nothing(path: str) -> bytes | None:
    return None


def site(name: str, api: FakeAPI) -> Any:
    return SimpleNamespace(name=name, engine=SimpleNamespace(api=api, where=name),
                           store=SimpleNamespace(read=_nothing, where=name))


def project_and_env(hosts: tuple[str, ...] = (MANAGER, WORKER)) -> tuple[Any, Any]:
    env = SimpleNamespace(name="prod", engine="swarm", is_local=False,
                          hosts=tuple(SimpleNamespace(spec=h) for h in hosts))
    endpoints = [SimpleNamespace(name="orders", secrets=("TOKEN",)),
                 SimpleNamespace(name="site", secrets=())]
    project = SimpleNamespace(name="shop", endpoints=endpoints, environment=lambda n: env)
    return project, env


def opener(sites: list[Any], failed: dict[str, str]) -> Any:
    @contextlib.asynccontextmanager
    async def opened(project: Any, env: Any) -> AsyncIterator[tuple[list[Any], dict[str, str]]]:
        yield sites, failed

    return opened


def test_one_services_list_and_one_tasks_list_then_secrets_from_one_task() -> None:
    manager = FakeAPI(M_NODE, True, [container("c-orders-1-nmvi-running", "orders")],
                      env_file({"TOKEN": "tok-1"}))
    worker = FakeAPI(W_NODE, False, [container("c-orders-2-eita-running", "orders", "unhealthy"),
                                     container("c-site-1-eita-running", "site")],
                     env_file({"TOKEN": "tok-1"}))
    project, env = project_and_env()
    sites = [site(MANAGER, manager), site(WORKER, worker)]
    state, _key = asyncio.run(observe_keyed(project, env, opener(sites, {}), KEY,
                                            with_secrets=True))
    assert sorted(manager.calls).count("services") == 1 and manager.calls.count("tasks") == 1
    assert "services" not in worker.calls and worker.calls.count("containers") == 1
    reads = [c for c in manager.calls + worker.calls if c.startswith("exec ")]
    assert len(reads) == 1  # one task of orders (site has no secrets)
    assert [h.host for h in state.hosts] == [MANAGER, WORKER]
    assert state.nodes == ((M_NODE, MANAGER), (W_NODE, WORKER))
    orders, site_ = state.hosts[0].instances
    assert state.hosts[1].instances == ()
    assert orders.env["TOKEN"] == seal(KEY, "TOKEN", "tok-1")
    assert orders.health == "unhealthy"  # the worker's task container says so
    assert [(t.node, t.health) for t in orders.tasks] == [(MANAGER, "healthy"),
                                                           (WORKER, "unhealthy")]
    assert (site_.replicas, site_.tasks[0].node) == ("1/1", WORKER)


def test_a_task_that_stopped_before_its_secrets_were_read_gives_way_to_another() -> None:
    """The newest task container of orders (on the manager) went away between the listing
    and the exec (a task replaced meanwhile): the secrets are read from the next one, on the
    worker, rather than left unread (which a diff shows as ``differs``)."""
    manager = FakeAPI(M_NODE, True, [container("c-orders-1-nmvi-running", "orders")],
                      env_file({"TOKEN": "tok-1"}), gone=("c-orders-1-nmvi-running",))
    worker = FakeAPI(W_NODE, False, [container("c-orders-2-eita-running", "orders")],
                     env_file({"TOKEN": "tok-1"}))
    project, env = project_and_env()
    sites = [site(MANAGER, manager), site(WORKER, worker)]
    state, _key = asyncio.run(observe_keyed(project, env, opener(sites, {}), KEY,
                                            with_secrets=True))
    orders = state.hosts[0].instances[0]
    assert orders.env["TOKEN"] == seal(KEY, "TOKEN", "tok-1")
    reads = [c for c in manager.calls + worker.calls if c.startswith("exec ")]
    assert sorted(reads) == ["exec c-orders-1-nmvi-running", "exec c-orders-2-eita-running"]


def test_secrets_of_no_readable_task_are_unread() -> None:
    manager = FakeAPI(M_NODE, True, [container("c-orders-1-nmvi-running", "orders")],
                      env_file({"TOKEN": "tok-1"}), gone=("c-orders-1-nmvi-running",))
    project, env = project_and_env((MANAGER,))
    state, _key = asyncio.run(observe_keyed(project, env, opener([site(MANAGER, manager)], {}),
                                            KEY, with_secrets=True))
    token = state.hosts[0].instances[0].env["TOKEN"]
    assert isinstance(token, Sealed) and token.digest.startswith("unread:")


def test_without_secrets_no_task_is_asked() -> None:
    manager = FakeAPI(M_NODE, True, [container("c-orders-1-nmvi-running", "orders")])
    project, env = project_and_env((MANAGER,))
    state, _key = asyncio.run(observe_keyed(project, env, opener([site(MANAGER, manager)], {}),
                                            KEY))
    assert not [c for c in manager.calls if c.startswith("exec")]
    token = state.hosts[0].instances[0].env["TOKEN"]
    assert isinstance(token, Sealed) and token.digest.startswith("unread:")


def test_a_first_host_that_is_no_manager_is_unreachable_with_the_fix() -> None:
    worker = FakeAPI(W_NODE, False, [])
    project, env = project_and_env((WORKER,))
    state, _key = asyncio.run(observe_keyed(project, env, opener([site(WORKER, worker)], {}),
                                            KEY))
    assert "no Swarm manager" in state.unreachable[WORKER]
    assert "make the first host a manager" in state.unreachable[WORKER]


@pytest.mark.parametrize("down", [MANAGER, WORKER])
def test_an_unreachable_host_is_named_and_the_rest_is_read(down: str) -> None:
    manager = FakeAPI(M_NODE, True, [])
    worker = FakeAPI(W_NODE, False, [])
    project, env = project_and_env()
    sites = [s for s in (site(MANAGER, manager), site(WORKER, worker)) if s.name != down]
    state, _key = asyncio.run(observe_keyed(project, env, opener(sites, {down: "refused"}),
                                            KEY, with_secrets=False))
    assert state.unreachable == {down: "refused"}
    if down == WORKER:  # the manager still tells every task; their health is not known there
        orders = state.hosts[0].instances[0]
        assert orders.replicas == "2/2"
        assert [(t.node, t.health) for t in orders.tasks] == [(MANAGER, ""),
                                                               ("vm (eitac26ztb7z)", "")]
    else:
        assert state.hosts[1].instances == () and not state.hosts[1].unreachable


def test_a_view_of_one_node_of_the_environment_reads_nothing_there() -> None:
    """The live matrix opens each host on its own: a node alone is read through its manager,
    so on its own it holds nothing (and is no error)."""
    worker = FakeAPI(W_NODE, False, [])
    project, whole = project_and_env()
    alone = SimpleNamespace(**{**vars(whole), "hosts": whole.hosts[1:]})
    project.environment = lambda n: whole
    state, _key = asyncio.run(observe_keyed(project, alone, opener([site(WORKER, worker)], {}),
                                            KEY))
    assert state.unreachable == {} and state.hosts[0].instances == ()
    assert worker.calls == []
