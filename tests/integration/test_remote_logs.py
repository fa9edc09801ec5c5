"""``logs`` on real deployments: staging on BOTH CI hosts, with python endpoints orders and
billing (plus the static site).

Requests through each host's proxy make the apps log known JSON lines; ``logs`` shows them
merged in time order and tagged ``endpoint@host``, parsed (level, message, fields), filtered by
``--grep``, with the environment's secret values masked. ``--follow`` streams new lines and
stops on SIGINT with exit 130, leaving no reader thread and no SSH connection behind. A host
that cannot be reached is named and the other's lines still show (exit 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from helpers import HANG_GUARD, SSHTarget, clean, free_port
from hosts import SecondHost
from staging import RunWorkbench, Staged, stage

pytestmark = pytest.mark.integration

TOKEN = 'tok"9x-5ecret-' + uuid.uuid4().hex[:6]  # a quote: JSON escapes it as \"
STARTED = 'log("started", port=port,'
LOUD = ('print("plain hello " + os.environ.get("TOKEN", "-"), flush=True)\n'
        '    log("started", token=os.environ.get("TOKEN", ""), port=port,')


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=Test", "-c",
                    "user.email=test@example.com", *args], check=True, capture_output=True)


@pytest.fixture
def pair(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
         ssh_target: SSHTarget, docker_client: docker.DockerClient,
         second_host: SecondHost) -> Iterator[Staged]:
    """orders and billing (python) and site (static) deployed to staging on both hosts; orders
    has a secret TOKEN and prints it at start, plainly and in its JSON "started" line."""
    hosts = [ssh_target.spec,
             f"{{host: '{second_host.spec}', docker_socket: {second_host.docker_socket}}}"]
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target, hosts)
    done = project.workbench("new", "-e", "billing")
    assert done.returncode == 0, done.stdout + done.stderr
    project.edit("workbench.yaml", "  staging:\n",
                 "  staging:\n    secrets_file: .workbench/secrets/staging.env\n")
    secrets = project.root / ".workbench" / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "staging.env").write_text(f"TOKEN='{TOKEN}'\n")
    project.edit("endpoints/orders/endpoint.yaml", "secrets: []", "secrets: [TOKEN]")
    project.edit("endpoints/orders/app.py", STARTED, LOUD)
    git(project.root / "endpoints" / "orders", "commit", "-qam", "print the token")
    done = project.deploy()
    assert done.returncode == 0, done.stdout + done.stderr
    yield project
    clean(docker_client, project.name, Path("/var/lib/workbench"))
    clean(second_host.client, project.name, second_host.state)


def hit(pair: Staged, second: SecondHost, host: int, endpoint: str, marker: str) -> None:
    """GET /<endpoint>/items/<marker> through host 1's or host 2's proxy (the app logs it)."""
    path = f"/{endpoint}/items/{marker}"
    status = pair.get(path)[0] if host == 1 else second.get(pair.port, path)[0]
    assert status == 404  # no such item: the app answered, and logged the request


def logs(pair: Staged, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = pair.workbench("logs", "--env", "staging", *args)
    assert done.returncode == code, done.stdout + done.stderr
    return done


def test_logs_of_two_hosts_are_merged_in_order_parsed_filtered_and_masked(
        pair: Staged, second_host: SecondHost) -> None:
    h1, h2 = "127.0.0.1:42022", second_host.spec.rpartition("@")[2]
    run = uuid.uuid4().hex[:8]
    plan = [(1, "orders"), (2, "billing"), (1, "billing"), (2, "orders"), (1, "orders")]
    markers = [f"m{i}-{run}" for i in range(len(plan))]
    for (host, endpoint), marker in zip(plan, markers, strict=True):
        hit(pair, second_host, host, endpoint, marker)

    done = logs(pair, "--since", "30m", "--json")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows and all("time" in r for r in rows), done.stdout
    times = [r["time"] for r in rows]
    assert times == sorted(times)  # merged in timestamp order
    sources = {r["source"] for r in rows}
    for endpoint in ("orders", "billing", "site"):
        assert {f"{endpoint}@{h1}", f"{endpoint}@{h2}"} <= sources, sources
    requests = [r for r in rows if r["message"] == "request"
                and str(r["fields"].get("path", "")).endswith(run)]
    assert [r["fields"]["path"] for r in requests] == [f"/items/{m}" for m in markers]
    assert [r["source"] for r in requests] == [f"{e}@{h1 if h == 1 else h2}" for h, e in plan]
    assert all(r["level"] == "info" and r["fields"]["status"] == 404 for r in requests)
    assert json.loads(requests[0]["raw"])["msg"] == "request"
    started = [r for r in rows if r["message"] == "started" and r["endpoint"] == "orders"]
    assert {r["host"] for r in started} == {h1, h2} and started[0]["fields"]["token"] == "***"

    text = logs(pair, "--since", "30m").stdout
    assert f"orders@{h1} INFO request method=GET path=/items/{markers[0]} status=404" in text
    assert f"billing@{h2} INFO request method=GET path=/items/{markers[1]} status=404" in text
    assert f"orders@{h2} plain hello ***" in text  # a plain line passes through, masked
    assert TOKEN not in text + done.stdout
    assert json.dumps(TOKEN)[1:-1] not in text + done.stdout  # nor JSON-escaped

    grep = logs(pair, "--since", "30m", "--grep", markers[3]).stdout.splitlines()
    assert len(grep) == 1 and grep[0].split()[1] == f"orders@{h2}" and markers[3] in grep[0]
    only = logs(pair, "--since", "30m", "-e", "billing", "--json").stdout.splitlines()
    assert only and {json.loads(line)["endpoint"] for line in only} == {"billing"}
    leveled = [json.loads(line) for line in logs(pair, "--since", "30m", "--level", "info",
                                                 "--json").stdout.splitlines()]
    assert {r["level"] for r in leveled} <= {"info", "warning", "error", "critical"}
    assert len([r for r in leveled if r["message"] == "request"
                and str(r["fields"].get("path", "")).endswith(run)]) == len(markers)
    assert not [r for r in leveled if "plain hello" in r["raw"]]  # no level: left out
    assert logs(pair, "--since", "30m", "--level", "CRITICAL").stdout == ""
    tail = logs(pair, "--tail", "1", "-e", "orders", "--json").stdout.splitlines()
    assert len(tail) == 2  # one line per container: orders on each host

    for args, word in ((("--grep", "(unclosed"), "--grep"), (("--since", "yesterday"), "--since"),
                       (("--tail", "-3"), "--tail"), (("-e", "nope"), "nope"),
                       (("--level", "loud"), "--level")):
        bad = logs(pair, *args, code=2)
        assert len(bad.stderr.strip().splitlines()) == 1 and word in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr and bad.stdout == ""

    dead = free_port()  # nothing listens there
    pair.edit("workbench.yaml", "    hosts: [", f"    hosts: [root@127.0.0.1:{dead}, ")
    gone = logs(pair, "--since", "30m", code=3)
    assert "unreachable: " in gone.stderr and f"127.0.0.1:{dead}" in gone.stderr
    for marker in markers:  # both other hosts' lines still show
        assert marker in gone.stdout
    body = [json.loads(line) for line in logs(pair, "--since", "30m", "--json",
                                              code=3).stdout.splitlines()]
    assert any(f"127.0.0.1:{dead}" in str(r.get("unreachable")) for r in body)
    assert any(markers[1] in r.get("raw", "") for r in body)


def read_lines(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's stdout lines, read on a thread (None at the end)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for(proc: subprocess.Popen[str], lines: queue.Queue[str | None], wanted: str,
             seen: list[str]) -> None:
    """Read lines until one holds ``wanted`` (the get timeout only guards against a hang)."""
    for _ in range(100_000):
        line = lines.get(timeout=HANG_GUARD)
        if line is None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the stream ended early:\n{''.join(seen)}\n{err}")
        seen.append(line)
        if wanted in line:
            return
    raise AssertionError(f"{wanted} never came")


def test_follow_streams_new_lines_and_stops_on_sigint(pair: Staged,
                                                       second_host: SecondHost) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "--batch", "logs", "--env",
                             "staging", "--follow", "--tail", "5"], cwd=pair.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
                            preexec_fn=default_sigint)
    try:
        lines, seen = read_lines(proc), []
        run = uuid.uuid4().hex[:8]
        # The backlog shows first; then each new request, as it happens, from either host.
        wait_for(proc, lines, "plain hello ***", seen)
        for index, (host, endpoint) in enumerate(((1, "billing"), (2, "orders"), (2, "billing"))):
            marker = f"f{index}-{run}"
            hit(pair, second_host, host, endpoint, marker)
            wait_for(proc, lines, marker, seen)
            assert f"{endpoint}@" in seen[-1] and " INFO request " in seen[-1]
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=HANG_GUARD)  # a hang guard only
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack on stderr
            proc.wait(timeout=HANG_GUARD)
            raise AssertionError("no exit after SIGINT:\n" + (proc.stderr.read()
                                                               if proc.stderr else "")) from None
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


def addresses(container: Any) -> list[str]:
    """The container's addresses on its networks, as the engine says now."""
    container.reload()
    return sorted(n["IPAddress"] for n in container.attrs["NetworkSettings"]["Networks"].values())


def default_sigint() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C gives it (a shell starting pytest in the
    background leaves SIGINT ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ssh_sockets(ports: set[int]) -> int:
    """This process's TCP connections to ``ports`` on 127.0.0.1 (from /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        port = int(parts[2].rpartition(":")[2], 16)
        if parts[9] in inodes and port in ports and parts[3] == "01":  # ESTABLISHED
            count += 1
    return count


def test_an_interrupted_stream_leaves_no_thread_and_no_connection(
        pair: Staged, ssh_target: SSHTarget, second_host: SecondHost) -> None:
    from workbench.model import load_project
    from workbench.ops.logs import LogBatch, LogQuery, stream_logs

    project = load_project(pair.root)
    ports = {ssh_target.port, int(second_host.spec.rpartition(":")[2])}
    seen: dict[str, int] = {"records": 0, "connections": 0}

    async def main() -> None:
        arrived = asyncio.Event()

        def emit(batch: LogBatch) -> None:
            seen["records"] += len(batch.records)
            if batch.records:
                arrived.set()

        task = asyncio.create_task(stream_logs(project, "staging", LogQuery(follow=True),
                                               emit))
        await arrived.wait()
        seen["connections"] = ssh_sockets(ports)
        seen["threads"] = sum(t.name.startswith("workbench") for t in threading.enumerate())
        task.cancel()  # what Ctrl-C does to the batch command, and esc to the TUI's worker
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen["records"] > 0
    assert seen["connections"] == 2 and seen["threads"] >= 6  # 3 endpoints x 2 hosts, live
    assert [t.name for t in threading.enumerate() if t.name.startswith("workbench")] == []
    assert [t for t in threading.enumerate() if t is not threading.main_thread()
            and not t.name.startswith(("asyncio", "ThreadPoolExecutor", "wb-pool"))] == []
    assert ssh_sockets(ports) == 0


def test_follow_picks_up_a_redeployed_container_and_lets_the_old_one_go(
        pair: Staged, second_host: SecondHost, docker_client: docker.DockerClient) -> None:
    """A real redeploy of orders while following it: the new container on each host is found
    through Docker's start events and read from its first line; the old one's log ends (it is
    stopped) without any error, and the stream goes on with the new containers' lines. Then a
    restart in place of one of them, which Docker gives another address: it is read again from
    after its last line shown, and the proxy reaches it at its new address."""
    from workbench.model import load_project
    from workbench.ops.logs import LogBatch, LogQuery, stream_logs

    h1, h2 = "127.0.0.1:42022", second_host.spec.rpartition("@")[2]
    project = load_project(pair.root)
    batches: queue.Queue[LogBatch | None] = queue.Queue()
    running: dict[str, object] = {}
    ready = threading.Event()

    def follow() -> None:
        async def main() -> None:
            running["loop"], running["stop"] = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            running["summary"] = await stream_logs(
                project, "staging", LogQuery(endpoints=("orders",), tail=1, follow=True),
                batches.put, stop=running["stop"])  # type: ignore[arg-type]

        try:
            asyncio.run(main())
        except BaseException as exc:  # shown by the test
            running["error"] = exc
        finally:
            ready.set()
            batches.put(None)

    seen: list[str] = []
    notes: list[str] = []

    def wait_until(done: Callable[[], bool]) -> None:
        for _ in range(100_000):
            if done():
                return
            batch = batches.get(timeout=HANG_GUARD)  # a hang guard only
            if batch is None:
                raise AssertionError(f"the stream ended: {running}\n" + "\n".join(seen))
            seen.extend(batch.lines.shown())
            notes.extend(batch.notes)
            notes.extend(f"unreachable {h}: {why}" for h, why in batch.unreachable.items())
        raise AssertionError("never came:\n" + "\n".join(seen))

    def containers() -> set[str]:
        return {c.id for c in docker_client.containers.list(filters={"label": [
            f"dev.workbench.project={pair.name}", "dev.workbench.endpoint=orders",
            "dev.workbench.role=app"]})}

    thread = threading.Thread(target=follow, name="test-follow")
    thread.start()
    try:
        ready.wait()  # set by the thread in any case, at its start or at its end
        wait_until(lambda: any(f"orders@{h1} " in s for s in seen)
                   and any(f"orders@{h2} " in s for s in seen))  # the backlog of each host
        before = containers()
        pair.edit("endpoints/orders/app.py", 'log("started", token=',
                  'log("started", release="two", token=')
        git(pair.root / "endpoints" / "orders", "commit", "-qam", "release two")
        done = pair.deploy("-e", "orders")
        assert done.returncode == 0, done.stdout + done.stderr
        after = containers()
        assert after and not after & before  # the old container no longer runs here
        for host in (h1, h2):  # the new containers' first lines came, while following
            wait_until(lambda h=host: any(f"orders@{h} INFO started release=two" in s
                                          for s in seen))
        run = uuid.uuid4().hex[:8]
        for host, marker in ((1, f"r1-{run}"), (2, f"r2-{run}")):
            hit(pair, second_host, host, "orders", marker)
            wait_until(lambda m=marker: any(m in s for s in seen))
        # a restart in place (the same container): its lines after the restart come, and
        # none of those shown before comes again
        [restarted] = after & containers()
        container = docker_client.containers.get(restarted)
        address = addresses(container)
        container.restart()
        wait_until(lambda: sum(f"orders@{h1} INFO started release=two" in s
                               for s in seen) == 2)
        # Docker gave it the address the redeploy freed: the proxy must find it there
        assert addresses(container) != address, "the restart kept the address: test nothing"
        marker = f"again-{run}"
        for _ in range(3000):  # through the proxy, until the app listens again (a safety cap)
            if pair.get(f"/orders/items/{marker}")[0] == 404:
                break
            time.sleep(0.1)
        wait_until(lambda: any(marker in s for s in seen))
        assert sum(f"r1-{run}" in s for s in seen) == 1, seen  # not read twice
    finally:
        loop = running.get("loop")
        if isinstance(loop, asyncio.AbstractEventLoop):
            with contextlib.suppress(RuntimeError):  # closed: the stream ended already
                loop.call_soon_threadsafe(running["stop"].set)  # type: ignore[attr-defined]
        thread.join()  # the stop event ends it (or it ended already)
    assert "error" not in running, running
    summary = running["summary"]
    assert notes == [] and summary.unreachable == {}  # type: ignore[attr-defined]
    assert set(summary.sources) == {f"orders@{h1}", f"orders@{h2}"}  # type: ignore[attr-defined]
    assert [t.name for t in threading.enumerate() if t.name.startswith("workbench")] == []
