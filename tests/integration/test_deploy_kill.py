"""A deploy client (`workbench --batch deploy`) killed with SIGKILL at three moments: while the
image builds, once the new container has started, and in the middle of the proxy's switch.
The build and the health check are held (an hour's sleep, a health path that never answers) so
that the kill, not the machine's speed, ends them.

The moment is found by reading the client's `--json` events, never by sleeping. In the switch,
the client is held inside the proxy's `nginx -t` (a wrapper in the proxy container waits for a
file), so the kill lands between the new config's check and the reload; the held check is then
let go. Through the kill and after it a load of requests goes through the proxy: every one must
be answered by the old or the new version. Then the lock names a holder whose process is gone,
the next deploy takes it over and succeeds, and only its container runs.
"""

from __future__ import annotations

import getpass
import io
import tarfile

import docker
import pytest
from docker.models.containers import Container
from staging import Staged
from traffic import Load, Watched, release_of, served, set_release

pytestmark = pytest.mark.integration

SLOW_BUILD = "RUN sleep 3600\n"  # never ends by itself: the kill ends it
NEVER_HEALTHY = (("health: /health\n", "health: /never\n"),
                 ("health_timeout: 30\n", "health_timeout: 3600\n"))
"""Edits of endpoint.yaml that hold a deploy in its health check until it is killed."""
AFTER_KILL = 25
"""Requests each load thread makes after the kill (the load is bounded by this count)."""
HELD, GO = "/tmp/wb-test-held", "/tmp/wb-test-go"
# Stands in front of nginx in the proxy: `nginx -t` says it was reached (HELD), then waits
# until GO exists (at most 6000 looks: a safety, never reached).
HOLDING_NGINX = (f'#!/bin/sh\ncase " $* " in *" -t "*)\n  touch {HELD}\n  i=0\n'
                 f'  while [ ! -e {GO} ] && [ "$i" -lt 6000 ]; do sleep 0.05; i=$((i+1)); done;;\n'
                 'esac\nexec /usr/sbin/nginx "$@"\n')


def executable(name: str, text: str) -> bytes:
    """A tar archive holding one executable file."""
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o755
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def wait_for_moment(victim: Watched, moment: str, proxy: Container) -> None:
    """Read the victim's events up to ``moment`` (in the switch: until its `nginx -t` is
    held)."""
    if moment == "build":  # inside the build: its slow step has begun
        for event in victim:
            if event.get("event") == "log_lines" and any(
                    SLOW_BUILD.strip() in line for line in event.get("lines", ())):
                return
        raise AssertionError(f"the build never reached its slow step:\n{victim.output}")
    if moment == "started":  # the new container runs; its health check has not finished
        finished = victim.until("orders/start", "step_finished")
        assert finished["ok"] is True, victim.output
        return
    victim.until("orders/switch", "step_started")
    reached = proxy.exec_run(["sh", "-c", f"i=0; while [ ! -e {HELD} ] && [ $i -lt 6000 ]; do "
                                          "sleep 0.05; i=$((i+1)); done; test -e " + HELD])
    assert reached.exit_code == 0, "the switch never ran nginx -t in the proxy"


@pytest.mark.parametrize("moment", ["build", "started", "switch"])
def test_a_killed_deploy_leaves_a_version_serving_and_the_next_deploy_takes_its_lock_over(
        staged: Staged, docker_client: docker.DockerClient, moment: str) -> None:
    set_release(staged, "old")
    first = staged.deploy("-e", "orders")
    assert first.returncode == 0, first.stdout + first.stderr
    assert served(staged) == "old"
    set_release(staged, "new")
    if moment == "build":
        staged.edit("endpoints/orders/Dockerfile", "EXPOSE 8000", SLOW_BUILD + "EXPOSE 8000")
    if moment == "started":  # its health check never passes: only the kill ends it
        for old, new in NEVER_HEALTHY:
            staged.edit("endpoints/orders/endpoint.yaml", old, new)
    proxy = staged.proxy(docker_client)
    if moment == "switch":
        assert proxy.put_archive("/usr/local/sbin", executable("nginx", HOLDING_NGINX))

    def expected(status: int, body: str) -> str:
        ok = status == 200 and release_of(body) in ("old", "new")
        return "" if ok else f"{status} {body[:120]!r}"

    with Load(staged.url("/orders/health"), expected) as load:
        load.mark()
        load.wait_marked()  # the load runs before the kill
        victim = Watched(staged.root, "deploy", "--env", "staging", "-e", "orders")
        try:
            wait_for_moment(victim, moment, proxy)
        finally:
            victim.kill()
            if moment == "switch":  # let the held check go on, and nginx be itself again
                assert proxy.exec_run(["sh", "-c", f"touch {GO} && rm /usr/local/sbin/nginx"]
                                      ).exit_code == 0
        load.mark(AFTER_KILL)
        load.wait_marked()  # every thread made its requests after the kill
        assert load.failures == [], (f"{len(load.failures)} of {load.count} requests failed "
                                     f"after a kill at {moment}: {load.failures[:5]}")

        held = staged.workbench("lock", "status", "--env", "staging").stdout
        assert f"(pid {victim.pid}, deploy orders" in held, held
        assert "stale (its process is gone)" in held, held
        if moment == "build":
            staged.edit("endpoints/orders/Dockerfile", SLOW_BUILD, "")
        if moment == "started":
            for old, new in NEVER_HEALTHY:
                staged.edit("endpoints/orders/endpoint.yaml", new, old)
        done = staged.deploy("-e", "orders")
        assert done.returncode == 0, done.stdout + done.stderr
        assert (f"warning: took over the lock of environment 'staging' from "
                f"{getpass.getuser()}@" in done.stdout), done.stdout
        assert f"(pid {victim.pid}, deploy orders" in done.stdout
        assert "its process is gone" in done.stdout
        assert served(staged) == "new"
        load.mark(AFTER_KILL)
        load.wait_marked()
    assert not load.capped
    assert load.failures == [], (f"{len(load.failures)} of {load.count} requests failed "
                                 f"during the deploy after a kill at {moment}: "
                                 f"{load.failures[:5]}")
    assert len(staged.apps(docker_client, "orders")) == 1  # what the kill left is stopped
    assert "is not locked" in staged.workbench("lock", "status", "--env", "staging").stdout
    records = staged.releases("orders")
    assert [r["outcome"] for r in records] == ["ok", "ok"]  # the killed run recorded nothing
