"""Scale and rollback on a Swarm, their pure parts and their refusals before any host (no
Docker): the data policy, the scaled service body, the scale's verdict, its release record,
which image a rollback runs, which release it goes back to, and the rails through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import HANG_GUARD

from workbench.errors import BadInput, OperationFailed
from workbench.releases import Release
from workbench.swarm import scale
from workbench.swarm.converge import Verdict, view
from workbench.swarm.rollback import image_source
from workbench.swarm.spec import SPEC_HASH, TASK_HASH, spec_hash


def test_more_than_one_replica_with_local_data_is_refused_with_the_fix() -> None:
    local = {"data": True, "volume_driver": None}
    with pytest.raises(BadInput) as caught:
        scale.check_policy("orders", local, 2, "its release v1")
    line = caught.value.line
    assert "orders keeps /data on a local volume (its release v1: data: true" in line
    assert "2 replicas would give each node its own /data" in line
    assert "set volume_driver" in line and "or keep 1 replica" in line
    with pytest.raises(BadInput):
        scale.check_policy("orders", {"data": True, "volume_driver": "local"}, 3, "v1")
    scale.check_policy("orders", local, 1, "v1")
    scale.check_policy("orders", {"data": True, "volume_driver": "rexray/ebs"}, 3, "v1")
    scale.check_policy("orders", {"data": False}, 5, "v1")


SPEC: dict[str, Any] = {
    "Name": "wb_shop_cluster_orders",
    "Labels": {"dev.workbench.version": "v1", SPEC_HASH: "before"},
    "TaskTemplate": {"ContainerSpec": {"Image": "sha256:aa", "Labels": {TASK_HASH: "t1"},
                                       "Healthcheck": {"StartPeriod": 30_000_000_000}}},
    "Mode": {"Replicated": {"Replicas": 1}},
}


def test_the_scaled_body_changes_the_count_and_the_spec_hash_only() -> None:
    body = scale.scaled_body(SPEC, 3)
    assert body["Mode"] == {"Replicated": {"Replicas": 3}}
    assert body["TaskTemplate"] == SPEC["TaskTemplate"]  # no task restarts
    assert body["Labels"]["dev.workbench.version"] == "v1"
    assert body["Labels"][SPEC_HASH] not in ("before", spec_hash(SPEC))  # a deploy sees it
    assert body["Labels"][SPEC_HASH] == spec_hash(body)
    assert SPEC["Mode"] == {"Replicated": {"Replicas": 1}}  # the spec read is left alone
    assert scale.scaled_body(SPEC, 3) == body  # the same count, the same hash
    assert scale.deadline(SPEC) == 2 * (30 + 11 + 30) + 60


def task(ident: str, slot: int, state: str, desired: str = "running",
         err: str = "") -> dict[str, Any]:
    return {"ID": ident, "Slot": slot, "NodeID": "n1", "DesiredState": desired,
            "Status": {"State": state, "Err": err, "ContainerStatus": {"ContainerID": ident}},
            "Spec": {"ContainerSpec": {"Labels": {TASK_HASH: "t1"}}}}


def test_a_scale_up_fails_at_the_first_failed_task_a_scale_down_waits_for_the_count() -> None:
    up, down = scale.judge_for(True), scale.judge_for(False)

    def tasks(*raw: dict[str, Any]) -> list[Any]:
        return [view(t, {"n1": "vm (n1)"}, "t1") for t in raw]

    args: dict[str, Any] = {"created": False, "rolling": False, "before": "", "status": None}
    growing = tasks(task("a", 1, "running"), task("b", 2, "starting"), task("c", 3, "running"))
    assert up(tasks=growing, replicas=3, **args) is None
    done = tasks(task("a", 1, "running"), task("b", 2, "running"), task("c", 3, "running"))
    assert up(tasks=done, replicas=3, **args) == Verdict(True, "running")
    failing = tasks(task("a", 1, "running"), task("b", 2, "failed", "shutdown", "unhealthy"))
    verdict = up(tasks=failing, replicas=2, **args)
    assert verdict is not None and not verdict.ok
    assert verdict.reason == "task 2 on vm (n1) failed: unhealthy"
    # stopped as unhealthy, an app that exits 0 on SIGTERM ends complete: a failure too
    ended = up(tasks=tasks(task("a", 1, "running"), task("b", 2, "complete", "shutdown")),
               replicas=2, **args)
    assert ended is not None and ended.reason == "task 2 on vm (n1) failed: complete"
    # a scale down: tasks stopped by it may end failed (exit 143); only the count matters
    stopping = tasks(task("a", 1, "running"), task("b", 2, "failed", "shutdown", "exit 143"))
    assert down(tasks=stopping, replicas=1, **args) == Verdict(True, "running")
    still = tasks(task("a", 1, "running"), task("b", 2, "running", "shutdown"))
    assert down(tasks=still, replicas=1, **args) is None


CURRENT = Release(endpoint="orders", version="v2", host="root@m", outcome="ok", kind="deploy",
                  image="wb/shop-orders:v2", config_hash="c1", secrets_generation="g1",
                  endpoint_config={"port": 8000, "replicas": 1, "routes": ["/orders"]},
                  engine="swarm", replicas=1, image_ref="sha256:bb", durations={"total": 9.0},
                  reason="", last_lines=())


def test_a_scale_is_recorded_as_the_current_release_with_the_new_count() -> None:
    record = scale.scaled_release(CURRENT, 3, "ok", user="ann", when="2026-11-30T15:00:00+00:00",
                                  durations={"total": 4.0})
    assert (record.kind, record.outcome, record.replicas) == ("scale", "ok", 3)
    assert (record.version, record.image_ref, record.config_hash, record.secrets_generation) == \
        ("v2", "sha256:bb", "c1", "g1")
    assert record.endpoint_config == {"port": 8000, "replicas": 3, "routes": ["/orders"]}
    assert (record.user, record.durations) == ("ann", {"total": 4.0})
    failed = scale.scaled_release(CURRENT, 3, "failed", user="ann", when="t", durations={},
                                  reason="task 2 failed", last_lines=["x"] * 50)
    assert failed.outcome == "failed" and failed.reason == "task 2 failed"
    assert len(failed.last_lines) == 40


class FakeApi:
    def __init__(self, images: dict[str, str]) -> None:
        self.images = images

    def inspect_image(self, name: str) -> dict[str, Any]:
        import docker.errors

        if name not in self.images:
            raise docker.errors.ImageNotFound(name)
        return {"Id": self.images[name]}


class FakeSite:
    def __init__(self, images: dict[str, str]) -> None:
        self.name = "root@m"
        self.engine = type("E", (), {"api": FakeApi(images)})()


def test_a_rollback_runs_the_recorded_id_and_refuses_an_image_that_is_gone() -> None:
    tag, ref = "wb/shop-orders:v1", "sha256:aa"
    same = FakeSite({tag: ref, ref: ref})
    assert image_source(same, tag, ref, False) == tag  # nodes get it by its name
    rebuilt = FakeSite({tag: "sha256:cc", ref: ref})
    assert image_source(rebuilt, tag, ref, False) == ref  # the recorded id, not the new build
    with pytest.raises(OperationFailed) as caught:
        image_source(FakeSite({tag: "sha256:cc"}), tag, ref, False)
    assert "image wb/shop-orders:v1 of that release is no longer on root@m" in caught.value.line
    assert "deploy that version again from its commit" in caught.value.line
    registry = FakeSite({tag: "sha256:dd"})  # pinned by digest; the tag gives its command
    assert image_source(registry, tag, "reg/shop-orders@sha256:ee", True) == tag


async def test_a_rollback_goes_back_past_scales_to_another_version_of_this_engine() -> None:
    from workbench.model import Environment
    from workbench.ops.rollback import target_release

    def rec(version: str, kind: str = "deploy", outcome: str = "ok",
            engine: str = "swarm") -> Release:
        return Release(endpoint="orders", version=version, host="root@m", outcome=outcome,
                       kind=kind, engine=engine)

    records = [rec("v0", engine="docker"), rec("v1"), rec("v1", "scale"), rec("v3", "deploy",
               "failed"), rec("v2"), rec("v2", "scale")]

    class Store:
        async def read(self, path: str) -> bytes:
            assert path == "releases/orders.jsonl"
            return b"".join(r.dump() for r in records)

    site: Any = type("S", (), {"name": "root@m", "store": Store()})()
    endpoint: Any = type("Ep", (), {"name": "orders"})()
    env = Environment("cluster", engine="swarm", hosts=())
    found = await target_release(env, site, endpoint, None)
    assert (found.version, found.kind) == ("v1", "scale")  # the newest record of v1
    with pytest.raises(BadInput) as caught:
        await target_release(env, site, endpoint, "v0")  # a docker-engine release
    assert "pick one of: v1, v2" in caught.value.line


PROJECT = """\
project: shop
endpoints: [orders]
environments:
  cluster:
    engine: swarm
    hosts: [deploy@manager.invalid]
  guarded:
    engine: swarm
    protected: true
    hosts: [deploy@manager.invalid]
  frozen:
    engine: swarm
    readonly: true
    hosts: [deploy@manager.invalid]
  staging:
    hosts: [deploy@staging.invalid]
"""


@pytest.mark.parametrize(("args", "words"), [
    (["scale", "--env", "staging", "-e", "orders", "2"],
     ["environment 'staging' has engine: docker", "replicas are a Swarm setting"]),
    (["scale", "--env", "cluster", "-e", "orders", "0"], ["cannot scale orders to 0 replicas"]),
    (["scale", "--env", "guarded", "-e", "orders", "2"],
     ["environment 'guarded' is protected: scale needs --confirm guarded"]),
    (["scale", "--env", "frozen", "-e", "orders", "2"],
     ["environment 'frozen' is readonly: scale is refused"]),
    (["scale", "--env", "cluster", "-e", "nope", "2"], ["nope"]),
    (["rollback", "--env", "guarded", "-e", "orders"],
     ["environment 'guarded' is protected: rollback needs --confirm guarded"]),
    (["rollback", "--env", "frozen", "-e", "orders"],
     ["environment 'frozen' is readonly: rollback is refused"]),
])
def test_scale_and_rollback_are_refused_before_any_host_is_asked(
        tmp_path: Path, args: list[str], words: list[str]) -> None:
    (tmp_path / "endpoints" / "orders").mkdir(parents=True)
    (tmp_path / "workbench.yaml").write_text(PROJECT)
    (tmp_path / "endpoints" / "orders" / "endpoint.yaml").write_text("port: 8000\n")
    done = subprocess.run([sys.executable, "-m", "workbench", "--batch", "-C", str(tmp_path),
                           *args], capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert ".invalid" not in lines[0]  # no host was asked
