"""Judging a Swarm rollout, placement against nodes, and the rails around `engine: swarm`, as
pure data and through the CLI without any host (no Docker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import HANG_GUARD

from workbench.errors import BadInput
from workbench.model import Endpoint, Environment
from workbench.ops.rails import require_single_host
from workbench.swarm import converge, placement
from workbench.swarm.converge import TaskView, Verdict, judge, summary, view
from workbench.swarm.spec import TASK_HASH
from workbench.swarmconfig import UpdateSettings

OURS = "hash-new"


def task(ident: str, slot: int, state: str, desired: str = "running", spec: str = OURS,
         err: str = "", node: str = "n1") -> dict[str, Any]:
    return {"ID": ident, "Slot": slot, "NodeID": node, "DesiredState": desired,
            "Status": {"State": state, "Err": err,
                       "ContainerStatus": {"ContainerID": f"c-{ident}"}},
            "Spec": {"ContainerSpec": {"Labels": {TASK_HASH: spec}}}}


def views(*tasks: dict[str, Any]) -> list[TaskView]:
    return [view(t, {"n1": "vm (n1)"}, OURS) for t in tasks]


def test_a_task_view_says_which_spec_it_runs() -> None:
    new, old = views(task("a", 1, "running"), task("b", 2, "running", spec="hash-old"))
    assert new.new and not old.new and new.node == "vm (n1)" and new.container == "c-a"
    assert new.line("svc") == "svc.1 (new) on vm (n1): running"
    failed = views(task("c", 1, "failed", err="task: non-zero exit (1)"))[0]
    assert failed.line("svc") == "svc.1 (new) on vm (n1): failed: task: non-zero exit (1)"
    nowhere = view(task("d", 1, "pending", node=""), {}, OURS)
    assert nowhere.node == "no node yet"


def test_a_new_service_converges_when_its_replicas_run() -> None:
    args: dict[str, Any] = {"created": True, "rolling": False, "before": "", "status": None,
                            "replicas": 2}
    assert judge(tasks=views(task("a", 1, "running"), task("b", 2, "starting")), **args) is None
    done = judge(tasks=views(task("a", 1, "running"), task("b", 2, "running")), **args)
    assert done == Verdict(True, "running")
    failed = judge(tasks=views(task("a", 1, "running"), task("b", 2, "failed", err="boom")),
                   **args)
    assert failed is not None and not failed.ok and failed.state == "failed"
    assert "task 2 on vm (n1) failed: boom" in failed.reason
    # an app that exits 0 when stopped as unhealthy ends "complete": still a failure
    ended = judge(tasks=views(task("a", 1, "complete", desired="shutdown")), **args)
    assert ended is not None and not ended.ok


def test_an_update_is_done_only_when_swarm_completes_this_update() -> None:
    args: dict[str, Any] = {"created": False, "rolling": True, "before": "T0",
                            "tasks": views(task("a", 1, "running")), "replicas": 1}
    # the previous update's "completed" is not this one's
    assert judge(status={"State": "completed", "StartedAt": "T0"}, **args) is None
    assert judge(status=None, **args) is None
    assert judge(status={"State": "updating", "StartedAt": "T1"}, **args) is None
    assert judge(status={"State": "rollback_started", "StartedAt": "T1"}, **args) is None
    assert judge(status={"State": "completed", "StartedAt": "T1"}, **args) == Verdict(
        True, "completed")


@pytest.mark.parametrize(("state", "words"), [
    ("rollback_completed", "Swarm rolled the update back"),
    ("rollback_paused", "Swarm's rollback of the update paused"),
    ("paused", "Swarm paused the update"),
])
def test_a_rollback_or_a_pause_is_a_failure(state: str, words: str) -> None:
    """docker-stack-wait #1: rollback_completed is not a success."""
    verdict = judge(created=False, rolling=True, before="T0",
                    status={"State": state, "StartedAt": "T1", "Message": "why"},
                    tasks=views(task("a", 1, "running", spec="hash-old")), replicas=1)
    assert verdict is not None and not verdict.ok and verdict.state == state
    assert verdict.reason == f"{words}: why"


def test_a_scale_alone_converges_on_the_count_of_running_tasks() -> None:
    args: dict[str, Any] = {"created": False, "rolling": False, "before": "T0", "status": None,
                            "replicas": 3}
    two = views(task("a", 1, "running"), task("b", 2, "running"), task("c", 3, "starting"))
    assert judge(tasks=two, **args) is None
    three = views(task("a", 1, "running"), task("b", 2, "running"), task("c", 3, "running"))
    assert judge(tasks=three, **args) == Verdict(True, "running")
    down = views(task("a", 1, "running"), task("b", 2, "running", desired="shutdown"))
    assert judge(tasks=down, **{**args, "replicas": 1}) is None  # b is still stopping


async def test_task_errors_name_each_failed_task_with_its_details() -> None:
    tasks = views(task("a", 1, "running", spec="hash-old"),
                  task("b", 2, "failed", err="unhealthy container"),
                  task("c", 2, "complete", desired="shutdown"))

    async def details(seen: TaskView) -> list[str]:
        if seen.id == "c":
            raise OSError("node away")
        return ["last health check (exit 1): GET /broken answered 404"]

    lines = await converge.task_errors(tasks, "svc", details)
    assert lines == ["svc.2 (new) on vm (n1): failed: unhealthy container",
                     "  last health check (exit 1): GET /broken answered 404",
                     "svc.2 (new) on vm (n1): complete", "  (no details from vm (n1): node away)"]
    reason = summary(Verdict(False, "rollback_completed", "Swarm rolled the update back"), lines)
    assert reason == ("Swarm rolled the update back; last health check (exit 1): GET /broken "
                      "answered 404")
    assert summary(Verdict(False, "deadline", "too slow"), ["svc.1 (new) on n: failed: x"]) == \
        "too slow; failed: x"


# -- placement --------------------------------------------------------------------------------
def node(ident: str, role: str = "worker", labels: dict[str, str] | None = None,
         availability: str = "active") -> dict[str, Any]:
    return {"ID": ident, "Spec": {"Role": role, "Labels": labels or {},
                                  "Availability": availability},
            "Description": {"Hostname": "vm", "Platform": {"OS": "linux",
                                                           "Architecture": "x86_64"}}}


NODES = [node("m1", "manager", {"host": "swarm1"}), node("w1", labels={"host": "swarm2",
                                                                      "db": "true"}),
         node("w2", labels={"db": "true"}, availability="drain")]


def ep(**values: Any) -> Endpoint:
    return Endpoint(**{"name": "orders", "path": Path("/p/endpoints/orders"), **values})


def test_local_data_stays_on_exactly_one_node() -> None:
    placement.check_data_pin(ep(), NODES)  # no placement: pinned to the first node
    placement.check_data_pin(ep(placement=("node.labels.db == true",)), NODES)  # w2 drains
    with pytest.raises(BadInput) as caught:
        placement.check_data_pin(ep(placement=("node.platform.os == linux",)), NODES)
    line = caught.value.line
    assert "allows 2 nodes (vm (m1), vm (w1))" in line and "would split" in line
    assert "placement: [node.id == m1]" in line
    placement.check_data_pin(ep(placement=("node.platform.os == linux",), data=False), NODES)
    placement.check_data_pin(ep(placement=("node.role == worker",), replicas=2,
                                volume_driver="rexray/ebs"), NODES)


def test_a_placement_no_node_meets_is_refused() -> None:
    with pytest.raises(BadInput, match="no active node of the Swarm meets its placement"):
        placement.check_placement(ep(data=False, placement=("node.labels.gpu == true",)), NODES)
    assert placement.pin("m1") == "node.id==m1"
    assert placement.attributes(NODES[1])["node.labels.host"] == "swarm2"


# -- rails ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "key"), [
    ({"replicas": 2, "data": False}, "replicas"),
    ({"update": UpdateSettings(parallelism=2)}, "update"),
    ({"placement": ("node.role == worker",)}, "placement"),
    ({"volume_driver": "rexray/ebs"}, "volume_driver"),
])
def test_swarm_keys_are_refused_on_a_docker_environment(values: dict[str, Any],
                                                       key: str) -> None:
    with pytest.raises(BadInput) as caught:
        require_single_host(Environment("staging", hosts=()), [ep(**values)], "deploy")
    assert f"sets {key}, which environment 'staging' (engine: docker" in caught.value.line
    assert f"remove {key} from it, or deploy to an environment with engine: swarm" in \
        caught.value.line
    require_single_host(Environment("staging", hosts=()), [ep()], "deploy")


SWARM_PROJECT = """\
project: shop
endpoints: [orders]
environments:
  cluster:
    engine: swarm
    hosts: [deploy@manager.invalid]
  staging:
    hosts: [deploy@staging.invalid]
"""


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", "--batch", "-C", str(root), *args],
                          capture_output=True, text=True, timeout=HANG_GUARD, check=False)


@pytest.mark.parametrize(("body", "env", "words"), [
    ("port: 8000\nupdate: {delay: 60}\n", "cluster",
     ["update.delay 60s is longer than the monitor", "moby #37972"]),
    ("port: 8000\ndata: false\nreplicas: 2\n", "staging",
     ["sets replicas, which environment 'staging' (engine: docker"]),
])
def test_bad_input_is_refused_before_any_host_is_asked(tmp_path: Path, body: str, env: str,
                                                       words: list[str]) -> None:
    (tmp_path / "endpoints" / "orders").mkdir(parents=True)
    (tmp_path / "workbench.yaml").write_text(SWARM_PROJECT)
    (tmp_path / "endpoints" / "orders" / "endpoint.yaml").write_text(body)
    done = run(tmp_path, "deploy", "--env", env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert ".invalid" not in lines[0]  # no host was asked


def test_a_placement_change_that_would_leave_data_behind_is_refused() -> None:
    assert placement.data_constraints(ep(), "m1") == ("node.id==m1",)
    assert placement.data_constraints(ep(data=False), "m1") == ()
    own = ep(placement=("node.labels.host == swarm2",))
    assert placement.data_constraints(own, "m1") == ("node.labels.host == swarm2",)
    with pytest.raises(BadInput) as caught:
        placement.check_data_move(own, ["node.id==m1"], ["node.labels.host==swarm2"], NODES)
    line = caught.value.line
    assert "local volume on vm (m1); its new placement would run it on vm (w1)" in line
    assert "leaving /data behind" in line and "docker service rm" in line
    # the same node written another way, no data, or a shared driver: fine
    placement.check_data_move(own, ["node.id==w1"], ["node.labels.host==swarm2"], NODES)
    placement.check_data_move(ep(data=False), ["node.id==m1"], ["node.id==w1"], NODES)
    placement.check_data_move(ep(volume_driver="rexray/ebs"), ["node.id==m1"],
                              ["node.id==w1"], NODES)


def test_the_plan_of_a_swarm_deploy_names_its_own_steps() -> None:
    from workbench.plan import format_plan
    from workbench.swarm.plan import swarm_plan
    from workbench.swarm.services import Current

    env = Environment("cluster", engine="swarm", hosts=())
    running = Current("id1", "wb_shop_cluster_orders", 3, {
        "Labels": {"dev.workbench.version": "v1"}, "Mode": {"Replicated": {"Replicas": 1}}}, None)
    endpoints = [ep(replicas=2, data=False), Endpoint("site", Path("/p/endpoints/site"))]
    made = swarm_plan(env, "m", endpoints, {"orders": "v2", "site": "s1"},
                      {"orders": (True, running), "site": (False, None)}, 1)
    lines = format_plan(made)
    assert lines[0] == "phase 1: orders, site"
    assert "  orders @ m: build (version v2, cached)" in lines
    assert "  orders @ m: service (update from v1)" in lines
    assert "  orders @ m: rollout (2 task(s), start-first, rolled back on failure)" in lines
    assert "  site @ m: service (create)" in lines
    assert "  site @ m: image (stream to the nodes that lack it (1 other host(s)))" in lines
    same = swarm_plan(env, "m", [ep(data=False)], {"orders": "v1"}, {"orders": (True, running)},
                      1)
    assert format_plan(same)[1:] == ["  orders @ m: skip (already at v1)"]
    assert not same.changes


def test_a_volume_with_our_name_but_not_our_labels_is_refused() -> None:
    import docker.errors

    from workbench.errors import OperationFailed
    from workbench.swarm.services import check_volume

    class API:
        def __init__(self, labels: dict[str, str] | None) -> None:
            self.labels = labels

        def inspect_volume(self, name: str) -> dict[str, Any]:
            if self.labels is None:
                raise docker.errors.NotFound("no such volume")
            return {"Name": name, "Labels": self.labels}

    class FakeEngine:
        where = "root@m1:22"

        def __init__(self, labels: dict[str, str] | None) -> None:
            self.api = API(labels)

    ours = {"dev.workbench.project": "shop", "dev.workbench.env": "prod",
            "dev.workbench.role": "data", "dev.workbench.endpoint": "orders"}
    check_volume(FakeEngine(None), "wb_shop_prod_orders_data", ours)  # type: ignore[arg-type]
    check_volume(FakeEngine(ours), "wb_shop_prod_orders_data", ours)  # type: ignore[arg-type]
    with pytest.raises(OperationFailed) as caught:
        check_volume(FakeEngine({"dev.workbench.project": "other"}),  # type: ignore[arg-type]
                     "wb_shop_prod_orders_data", ours)
    assert "belongs to something else (project=other)" in caught.value.line


def test_a_task_names_the_health_check_that_got_an_answer_over_one_refused_as_it_stopped() -> None:
    from types import SimpleNamespace

    from workbench.swarm.deploy import _container_details

    log = [{"ExitCode": 1, "Output": "GET /broken answered 404\n"},
           {"ExitCode": 1, "Output": "GET /broken answered 404\n"},
           {"ExitCode": 1, "Output": "GET /broken answered ConnectionResetError\n"},
           {"ExitCode": -1, "Output": ""}]  # killed by the stop
    api = SimpleNamespace(inspect_container=lambda c: {"State": {"Health": {"Log": log}}})
    site = SimpleNamespace(name="n1", engine=SimpleNamespace(api=api, tail=lambda c, n: []))
    assert _container_details(site, "c1") == [  # type: ignore[arg-type]
        "last health check (exit 1): GET /broken answered 404"]
    log[:2] = []  # none got an answer: the last one that said something
    assert _container_details(site, "c1") == [  # type: ignore[arg-type]
        "last health check (exit 1): GET /broken answered ConnectionResetError"]
