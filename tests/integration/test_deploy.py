"""`workbench --batch deploy/rollback/releases/lock/plan` over the real sshd, engine and nginx.

Each test deploys a fresh project (unique name) to a `staging` environment whose one host is
the sshd from .ci/setup (which drives this machine's Docker Engine); the proxy is published on
127.0.0.1 at a free port. Everything labelled with the project, and its state root on the
server, is removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading

import docker
import pytest
from staging import Staged
from traffic import Load, release_of, served, set_release

from workbench import naming
from workbench.lock import EnvLock
from workbench.model import load_project
from workbench.sites import open_sites

pytestmark = pytest.mark.integration


def test_deploy_two_endpoints_then_only_the_changed_one(staged: Staged) -> None:
    done = staged.deploy()
    assert done.returncode == 0, done.stdout + done.stderr
    assert staged.get("/orders/health") == (200, '{"status": "ok"}\n')
    status, page = staged.get("/site/")
    assert status == 200 and "<html" in page
    assert staged.get("/_workbench/health")[0] == 200
    first = {e: staged.releases(e)[-1]["version"] for e in ("orders", "site")}

    staged.edit("endpoints/site/public/index.html", "<body>", "<body><p>changed</p>")
    again = staged.deploy()
    assert again.returncode == 0, again.stdout
    assert "site: build" in again.stdout and "orders: build" not in again.stdout
    assert f"orders  unchanged  {first['orders']}" in again.stdout
    assert "<p>changed</p>" in staged.get("/site/")[1]
    assert len(staged.releases("orders")) == 1 and len(staged.releases("site")) == 2
    assert staged.releases("site")[-1]["version"] != first["site"]


def test_a_recreated_proxy_gets_its_routes_back(staged: Staged,
                                                docker_client: docker.DockerClient) -> None:
    assert staged.deploy().returncode == 0
    docker_client.containers.get(naming.proxy(staged.name, "staging")).remove(force=True)
    done = staged.deploy()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "orders  unchanged" in done.stdout and "restored its config" in done.stdout
    assert staged.get("/orders/health")[0] == 200 and staged.get("/site/")[0] == 200


def test_data_survives_deploy_and_rollback(staged: Staged) -> None:
    assert staged.deploy("-e", "orders").returncode == 0
    status, item = staged.post("/orders/items", {"name": "kept"})
    assert status == 201
    staged.edit("endpoints/orders/endpoint.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug")
    done = staged.deploy("-e", "orders")
    assert done.returncode == 0, done.stdout
    assert json.loads(staged.get(f"/orders/items/{item['id']}")[1])["name"] == "kept"
    back = staged.workbench("rollback", "--env", "staging", "-e", "orders")
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads(staged.get(f"/orders/items/{item['id']}")[1])["name"] == "kept"
    kinds = [(r["kind"], r["outcome"]) for r in staged.releases("orders")]
    assert kinds == [("deploy", "ok"), ("deploy", "ok"), ("rollback", "ok")]


def test_a_version_that_fails_its_health_check_changes_nothing(staged: Staged) -> None:
    assert staged.deploy("-e", "orders").returncode == 0
    staged.edit("endpoints/orders/endpoint.yaml", "health: /health", "health: /broken")
    done = staged.deploy("-e", "orders", "--health-timeout", "3")
    assert done.returncode == 1
    assert ("orders  FAILED  GET /broken did not answer 200 within 3s (last: 404); see its last "
            "log lines") in done.stdout  # the problem, then what to do
    assert staged.get("/orders/health")[0] == 200  # the old version keeps answering
    last = staged.releases("orders")[-1]
    assert last["outcome"] == "failed" and "did not answer 200" in str(last["reason"])
    assert any('"path": "/broken"' in line for line in last["last_lines"])  # type: ignore[union-attr]


def test_a_second_deploy_waits_for_the_lock_or_names_its_holder(staged: Staged) -> None:
    """The lock is held by this test (a real holder over SSH, released by an event): a deploy
    that may not wait is refused naming it; one that may wait says so, and goes on once the
    lock is free. No clock decides anything."""
    assert staged.deploy("-e", "site").returncode == 0
    ready, release, failed = threading.Event(), threading.Event(), []

    def hold() -> None:
        async def main() -> None:
            project = load_project(staged.root)
            async with open_sites(project, project.environment("staging")) as sites, \
                    EnvLock(sites[0].store, "staging", "deploy by the test"):
                ready.set()
                for _ in range(100_000):  # a safety cap; the test sets ``release``
                    if release.is_set():
                        return
                    await asyncio.sleep(0.05)

        try:
            asyncio.run(main())
        except BaseException as exc:
            failed.append(exc)
            ready.set()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        ready.wait()
        assert not failed, failed
        busy = staged.deploy("-e", "site", "--lock-wait", "0")
        assert busy.returncode == 4
        assert "environment 'staging' is locked by " in busy.stderr
        assert f"(pid {os.getpid()}, deploy by the test" in busy.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "workbench", "--batch", "--json",
                                    "deploy", "--env", "staging", "-e", "site", "--lock-wait",
                                    "3600"], cwd=staged.root, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert waiting.stdout is not None
        said = next((json.loads(line) for line in iter(waiting.stdout.readline, "")
                     if "waiting up to" in line), None)  # until the deploy says it waits
        release.set()
        out, err = waiting.communicate(timeout=600)
        assert said is not None and said["event"] == "warning", out + err
        assert "is locked by " in said["message"] and "deploy by the test" in said["message"]
        assert waiting.returncode == 0, out + err
    finally:
        release.set()
        holder.join()
    assert "is not locked" in staged.workbench("lock", "status", "--env", "staging").stdout


def test_plan_touches_nothing(staged: Staged, docker_client: docker.DockerClient) -> None:
    staged.edit("endpoints/orders/endpoint.yaml", "consumes: []", "consumes: [site-pages]")
    staged.edit("endpoints/site/endpoint.yaml", "produces: []", "produces: [site-pages]")
    done = staged.workbench("plan", "--env", "staging")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "phase 1: site" and "phase 2: orders" in lines
    assert docker_client.containers.list(all=True, filters={
        "label": f"dev.workbench.project={staged.name}"}) == []


def test_zero_failed_requests_during_redeploys_and_a_rollback(staged: Staged) -> None:
    """Four threads send requests through the proxy from before the first redeploy until each
    of them has had an answer after the rollback's switch (an event stops them, not a clock);
    a refused or reset connection is a failed request. Each redeploy is a new version whose
    answer names it, and the proxy serves it as soon as the deploy returns."""
    releases = ("r0", "r1", "r2", "r3")
    set_release(staged, releases[0])
    first = staged.deploy("-e", "orders")
    assert first.returncode == 0, first.stdout + first.stderr
    assert served(staged) == releases[0]

    def expected(status: int, body: str) -> str:
        ok = status == 200 and release_of(body) in releases
        return "" if ok else f"{status} {body[:120]!r}"

    with Load(staged.url("/orders/health"), expected) as load:
        load.mark()
        load.wait_marked()  # each thread has had an answer: the load runs before the switch
        for release in releases[1:]:
            set_release(staged, release)
            done = staged.deploy("-e", "orders")
            assert done.returncode == 0, done.stdout + done.stderr
            assert served(staged) == release  # it switched
        back = staged.workbench("rollback", "--env", "staging", "-e", "orders")
        assert back.returncode == 0, back.stdout + back.stderr
        assert served(staged) == "r2"  # the release before r3, from its image
        load.mark()
        load.wait_marked()  # and each thread had an answer after the last switch
    assert not load.capped, "the load hit its safety cap before the last switch"
    assert load.failures == [], f"{len(load.failures)} of {load.count} requests failed"
    kinds = [(r["kind"], r["outcome"]) for r in staged.releases("orders")]
    assert kinds == [("deploy", "ok")] * 4 + [("rollback", "ok")]


def test_lock_release_and_bad_input(staged: Staged) -> None:
    done = staged.workbench("rollback", "--env", "staging", "-e", "orders")
    assert done.returncode == 2 and "was never deployed to 'staging'" in done.stderr
    done = staged.workbench("deploy", "--env", "stagin")
    assert done.returncode == 2 and "staging" in done.stderr
    assert "was not locked" in staged.workbench("lock", "release", "--env", "staging").stdout
    assert "Traceback" not in done.stderr
