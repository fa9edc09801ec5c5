"""`workbench --batch scale` on a Swarm environment (the CI cluster; tests/hosts.py).

The project, the environment ``cluster`` and the cleanup are test_swarm_deploy's (a fresh
project with a unique name; what it made is removed, the swarm itself stays).
"""

from __future__ import annotations

import json

import pytest
import test_swarm_deploy
from hosts import SwarmCluster
from test_swarm_deploy import SwarmProject

pytestmark = pytest.mark.integration
swarm_project = test_swarm_deploy.swarm_project  # the fixture


def scale(project: SwarmProject, count: int) -> tuple[int, str, str]:
    done = project.workbench("scale", "--env", "cluster", "-e", "orders", str(count),
                             timeout=900)
    return done.returncode, done.stdout, done.stderr


def replicas(project: SwarmProject) -> int:
    return int(project.services()["orders"]["Spec"]["Mode"]["Replicated"]["Replicas"])


def test_scale_up_and_down_converges_is_recorded_and_shows_in_diff(
        swarm_project: SwarmProject, swarm_cluster: SwarmCluster) -> None:
    swarm_project.edit("endpoints/orders/endpoint.yaml", "replicas: 2", "replicas: 1")
    done = swarm_project.deploy("-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    task_hash = swarm_project.services()["orders"]["Spec"]["TaskTemplate"]["ContainerSpec"][
        "Labels"]["dev.workbench.task-hash"]
    [first] = swarm_project.running_tasks("orders")

    code, out, err = scale(swarm_project, 3)
    assert code == 0, out + err
    assert "orders  scaled  1 -> 3 replica(s)" in out
    assert "orders.3 (new) on " in out and ": running" in out  # per-task progress
    assert replicas(swarm_project) == 3
    tasks = swarm_project.running_tasks("orders")
    assert len(tasks) == 3 and first["ID"] in {t["ID"] for t in tasks}  # none restarted
    assert {t["Spec"]["ContainerSpec"]["Labels"]["dev.workbench.task-hash"]
            for t in tasks} == {task_hash}
    if swarm_cluster.nodes == 2:
        assert {t["NodeID"] for t in tasks} == {n.node_id for n in swarm_cluster.members}
    assert swarm_project.get("/orders/health")[0] == 200
    deployed, scaled = swarm_project.releases("orders")
    assert (scaled["kind"], scaled["outcome"], scaled["replicas"]) == ("scale", "ok", 3)
    assert scaled["version"] == deployed["version"]
    assert scaled["image_ref"] == deployed["image_ref"]
    assert scaled["endpoint_config"]["replicas"] == 3  # type: ignore[index]

    diff = swarm_project.workbench("diff", "cluster", "--previous", "-e", "orders", "--json")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    [item] = [e for e in json.loads(diff.stdout)["endpoints"] if e["endpoint"] == "orders"
              and e["config"] is not None]  # the manager's records (the worker has none)
    found = [c for c in item["config"]["endpoint_config"] if c["key"] == "replicas"]
    assert [(c["old"], c["new"]) for c in found] == [(1, 3)], diff.stdout
    assert (item["old"]["kind"], item["new"]["kind"]) == ("deploy", "scale")
    text = swarm_project.workbench("diff", "cluster", "--previous", "-e", "orders")
    assert text.returncode == 0 and "replicas" in text.stdout, text.stdout + text.stderr

    status = swarm_project.workbench("status", "--env", "cluster", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    [row] = [r for r in json.loads(status.stdout)["rows"] if r["endpoint"] == "orders"]
    assert row["running"]["replicas"] == "3/3" and row["drift"] == ["replicas"], row
    repo = swarm_project.workbench("diff", "cluster", "--repo", "--json")
    assert repo.returncode == 0, repo.stdout + repo.stderr
    [drift] = [e for e in json.loads(repo.stdout)["endpoints"] if e["endpoint"] == "orders"]
    assert "the service wants 3 replicas; endpoint.yaml asks for 1" in drift["notes"], drift

    code, out, err = scale(swarm_project, 1)
    assert code == 0, out + err
    assert "orders  scaled  3 -> 1 replica(s)" in out
    assert replicas(swarm_project) == 1 and len(swarm_project.running_tasks("orders")) == 1
    code, out, err = scale(swarm_project, 1)
    assert code == 0 and "orders  unchanged  1 replica(s)" in out, out + err
    kinds = [(r["kind"], r["replicas"]) for r in swarm_project.releases("orders")]
    assert kinds == [("deploy", 1), ("scale", 3), ("scale", 1)]

    # endpoint.yaml is the source of truth: a deploy applies its replicas again, and says so
    assert scale(swarm_project, 2)[0] == 0
    again = swarm_project.deploy("-e", "orders")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "orders runs 2 replica(s); endpoint.yaml says 1: this deploy applies 1" in \
        again.stdout + again.stderr
    assert replicas(swarm_project) == 1 and len(swarm_project.running_tasks("orders")) == 1
    *_, last = swarm_project.releases("orders")
    assert (last["kind"], last["replicas"]) == ("deploy", 1)


def test_scale_refuses_bad_input_with_one_line(swarm_project: SwarmProject) -> None:
    code, out, err = scale(swarm_project, 2)  # nothing deployed yet
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "'orders' was never deployed to 'cluster'; deploy it first" in err
    swarm_project.edit("endpoints/orders/endpoint.yaml", "data: false\nreplicas: 2",
                       "data: true")
    assert swarm_project.deploy("-e", "orders").returncode == 0
    code, out, err = scale(swarm_project, 2)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, out + err
    assert "keeps /data on a local volume" in lines[0] and "set volume_driver" in lines[0]
    assert replicas(swarm_project) == 1
    assert [r["kind"] for r in swarm_project.releases("orders")] == ["deploy"]


CROWDED = '''

_SEEN: list[bool] = []


def _look() -> None:
    import socket

    try:
        found = set(socket.gethostbyname_ex("orders")[2])
        _SEEN.append(len(found - {socket.gethostbyname(socket.gethostname())}) >= 2)
    except OSError:
        _SEEN.append(False)


threading.Thread(target=_look, daemon=True).start()


def _crowded() -> bool:
    """Whether two other tasks of orders answered when this one started (dnsrr: the alias
    resolves to the healthy tasks only): a third one calls itself unhealthy, the first two
    never do. Looked up once, beside the health checks (a name with no answer is slow)."""
    return not _SEEN or _SEEN[0]


'''


def test_a_scale_whose_new_task_fails_is_set_back_and_recorded_failed(
        swarm_project: SwarmProject) -> None:
    """orders' code makes a third task unhealthy (CROWDED): a scale 2 -> 3 fails at that task,
    the count goes back to 2, the two tasks keep answering, the release is recorded failed."""
    app = swarm_project.root / "endpoints" / "orders" / "app.py"
    text = app.read_text()
    healthy = 'self._send(HTTPStatus.OK, {"status": "ok"})'
    assert healthy in text and '\nif __name__ == "__main__":' in text
    text = text.replace(healthy, 'self._send(HTTPStatus.SERVICE_UNAVAILABLE if _crowded() else '
                        'HTTPStatus.OK, {"status": "ok"})')
    app.write_text(text.replace('\nif __name__ == "__main__":',
                                CROWDED + 'if __name__ == "__main__":'))
    done = swarm_project.deploy("-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(swarm_project.running_tasks("orders")) == 2

    code, out, err = scale(swarm_project, 3)
    assert code == 1, out + err
    assert "orders  FAILED  task " in out and "set back to 2 replica(s)" in out, out
    assert replicas(swarm_project) == 2
    assert swarm_project.get("/orders/health")[0] == 200
    deployed, failed = swarm_project.releases("orders")
    assert (failed["kind"], failed["outcome"], failed["replicas"]) == ("scale", "failed", 3)
    assert "set back to 2 replica(s)" in str(failed["reason"])
    # its failed health checks are recorded (the last may be refused while it stops: no 503)
    assert "last health check (exit 1): GET /health answered" in json.dumps(failed["last_lines"])
    assert deployed["outcome"] == "ok"
