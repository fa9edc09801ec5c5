"""Benchmark: ``logs`` of 2 hosts x 2 endpoints, merged into a headless Textual ``Log``, against
``ssh HOST docker logs ID > /dev/null`` per container (all four at once), in the same run.

The containers: on each CI host (root@127.0.0.1:42022, and the second host on
root@127.0.0.1:42023 with its own engine), two containers from the base image
(``workbench/base:bookworm``) labelled as the app containers of endpoints ``e0`` and ``e1`` of
the environment ``staging`` of a fresh project, each printing ``--lines`` (50,000) JSON lines
as the python template writes them, then sleeping. They are started directly with those labels
rather than deployed: ``logs`` finds containers by labels only (with no release records, the
running one is current), and a deploy would add minutes and an HTTP server that logs nothing
here. The project (made by ``workbench --batch new``) has no endpoints of its own.

- baseline: ``ssh -p PORT root@127.0.0.1 docker [-H SOCKET] logs ID > /dev/null`` for the four
  containers at once; the clock covers all four commands.
- workbench, read (the default): in a headless Textual app holding the TUI's ``Log``
  (``screens/log_widget.py``: Textual's, with a plain batch's width taken at once),
  ``ops.logs.stream_logs`` (SSH connections, forwarded sockets, container lookup by labels,
  ``timestamps=1`` reads, parse, one sort of all lines by time) and each batch written with
  one ``Log.write_lines`` (``lines.shown()``, as the TUI's log view gets them).
  The clock stops when the Log holds every line (the baseline's when its commands exited:
  what it read is out by then). Closing the streams and connections afterwards is printed on
  its own line: the TUI does it in the background, and the batch command after the last line.
- workbench, follow: the same with ``--follow``: what is there is read and fully sorted, then
  new lines would go through the reorder window (0.5 s, 50,000 lines), and Docker's start
  events are followed (a redeploy); the clock stops, and the stream is stopped, once every
  line is in the Log. Order
  is checked: apart from lines the window marked late, times never go back.

Goals: at least 0.5x the baseline's lines/s, and at least 50,000 lines/s. Missed goals are
printed, not raised. Everything made is removed at the end (containers by label, the project's
state roots).

    .venv/bin/python bench/remote_logs.py [--lines 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from fleet import BASE_IMAGE, DOCKER, HOST, HOST2_SOCKET, PORTS, WORKBENCH, Fleet, sh
from textual.app import App, ComposeResult

from screens.log_widget import FastLog as Log
from workbench.logstream import favour_throughput

SIZE = (120, 40)
GOAL_RATE = 50_000
GOAL_RATIO = 0.5
ENDPOINTS = ("e0", "e1")
SOCKETS = {"staging": "/var/run/docker.sock", "prod": HOST2_SOCKET}
PRINTER = (
    "import json, sys, time\n"
    "w = sys.stdout.write\n"
    "for i in range({n}):\n"
    "    w(json.dumps({{'ts': '2026-11-30T12:00:00.000Z', 'level': 'info' if i % 10 else "
    "'warning', 'msg': 'request', 'method': 'GET', 'path': '/items/%07d' % i, 'status': 200, "
    "'duration_ms': i % 97}}) + '\\n')\n"
    "sys.stdout.flush()\n"
    "time.sleep(100000)\n"
)


class Host(App[None]):
    def __init__(self, max_lines: int) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield Log(max_lines=self.max_lines)


def make_project(fleet: Fleet) -> None:
    sh([WORKBENCH, "--batch", "new", fleet.name], fleet.wb_env, cwd=fleet.tmp)
    file = fleet.root / "workbench.yaml"
    head, _, _ = file.read_text().partition("environments:")
    file.write_text(head + "environments:\n  local: {}\n  staging:\n    hosts:\n"
                    f"      - root@{HOST}:{PORTS['staging']}\n"
                    f"      - {{host: 'root@{HOST}:{PORTS['prod']}', docker_socket: "
                    f"{HOST2_SOCKET}}}\n")


def start_containers(fleet: Fleet, lines: int) -> dict[str, list[str]]:
    """host ('staging'/'prod' port key) -> ids of its two printing containers, once printed."""
    import docker

    made: dict[str, list[str]] = {}
    for key, socket in SOCKETS.items():
        client = docker.DockerClient(base_url=f"unix://{socket}", timeout=120)
        made[key] = []
        for endpoint in ENDPOINTS:
            container = client.containers.run(
                BASE_IMAGE, ["python3", "-c", PRINTER.format(n=lines)], detach=True,
                name=f"wb_{fleet.name}_staging_{endpoint}_bench_{key}",
                labels={"dev.workbench.project": fleet.name, "dev.workbench.env": "staging",
                        "dev.workbench.endpoint": endpoint, "dev.workbench.role": "app"})
            made[key].append(container.id)
        for container_id in made[key]:
            for _ in range(100_000):  # until its log holds every line (bounded)
                if count_lines(client, container_id) >= lines:
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"error: container {container_id[:12]} did not print")
        client.close()
    return made


def count_lines(client: Any, container_id: str) -> int:
    return int(client.api.logs(container_id, stdout=True, stderr=True).count(b"\n"))


def baseline(fleet: Fleet, made: dict[str, list[str]]) -> float:
    started = time.perf_counter()
    procs = []
    for key, ids in made.items():
        remote = [DOCKER] if key == "staging" else [DOCKER, "-H", f"unix://{HOST2_SOCKET}"]
        for container_id in ids:
            procs.append(subprocess.Popen(
                ["ssh", "-F", str(fleet.ssh_config), "-p", str(PORTS[key]), "-o",
                 "BatchMode=yes", HOST, *remote, "logs", container_id],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=fleet.env))
    codes = [proc.wait(timeout=600) for proc in procs]
    if any(codes):
        raise SystemExit(f"error: ssh docker logs exited with {codes}")
    return time.perf_counter() - started


async def ours(fleet: Fleet, total: int,
               follow: bool) -> tuple[float, float, int, int, int]:
    """Seconds until the Log holds every line, and until ``stream_logs`` returned (streams and
    connections closed); dropped, late, and order faults (must be 0)."""
    from workbench.model import load_project
    from workbench.ops.logs import LogBatch, LogQuery, stream_logs

    project = load_project(fleet.root)
    app = Host(max_lines=total + 1000)
    counts = {"written": 0, "dropped": 0, "faults": 0}
    last = [""]
    full = [0.0]  # when the Log held every line
    async with app.run_test(size=SIZE) as pilot:
        log = app.query_one(Log)
        await pilot.pause()
        stop = asyncio.Event()

        def show(batch: LogBatch) -> None:
            lines = batch.lines
            shown = lines.shown()  # as the TUI's log view gets them: one write per batch
            log.write_lines(shown)
            counts["written"] += len(shown)
            counts["dropped"] += batch.dropped
            times = [t for i, t in enumerate(lines.times) if i not in lines.late] \
                if lines.late else lines.times
            if times:
                if times[0] < last[0] or times != sorted(times):
                    counts["faults"] += sum(b < a for a, b in zip([last[0], *times[:-1]],
                                                                   times, strict=True))
                last[0] = max(last[0], times[-1])
            if counts["written"] >= total and not stop.is_set():
                full[0] = time.perf_counter()
                stop.set()

        started = time.perf_counter()
        summary = await stream_logs(project, "staging", LogQuery(follow=follow), show, stop=stop)
        closed = time.perf_counter() - started
        await pilot.pause()
        if not full[0]:
            raise SystemExit("error: the stream ended before the Log held every line")
        elapsed = full[0] - started
        if summary.unreachable:
            raise SystemExit(f"error: unreachable: {dict(summary.unreachable)}")
        if log.line_count != total:
            raise SystemExit(f"error: the Log holds {log.line_count:,} lines, expected {total:,}")
    return elapsed, closed, counts["dropped"], summary.late, counts["faults"]


def main() -> int:
    favour_throughput()  # as the TUI does at start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000, help="lines per container")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    total = args.lines * 4
    with tempfile.TemporaryDirectory(prefix="wb-bench-logs-") as tmp:
        fleet = Fleet(Path(tmp), 0)
        try:
            make_project(fleet)
            made = start_containers(fleet, args.lines)
            os.environ.update({k: fleet.env[k] for k in ("HOME", "XDG_CONFIG_HOME",
                                                         "XDG_DATA_HOME", "XDG_STATE_HOME",
                                                         "XDG_CACHE_HOME")})
            for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "SSH_AUTH_SOCK"):
                os.environ.pop(name, None)
            plain: list[float] = []
            read: list[float] = []
            followed: list[float] = []
            closing: dict[bool, list[float]] = {False: [], True: []}
            dropped = late = faults = 0
            for _ in range(args.repeat):
                plain.append(baseline(fleet, made))
                for runs, follow in ((read, False), (followed, True)):
                    seconds, closed, lost, behind, bad = asyncio.run(ours(fleet, total, follow))
                    runs.append(seconds)
                    closing[follow].append(closed - seconds)
                    dropped, late, faults = dropped + lost, late + behind, faults + bad
        finally:
            fleet.clean()

    base_rate = total / statistics.median(plain)
    print(f"{total:,} JSON lines: 2 hosts x 2 containers x {args.lines:,} ({BASE_IMAGE}); "
          f"median of {args.repeat}, alternating")
    print(f"{'reader':<44} {'median s':>8} {'lines/s':>12}  {'ratio':>6}   runs (s)")
    ok = True
    for name, runs in (("ssh docker logs > /dev/null (4 at once)", plain),
                       ("logs -> Log (headless), read + merge", read),
                       ("logs --follow -> Log (headless), window", followed)):
        rate = total / statistics.median(runs)
        ratio = rate / base_rate
        shown = " ".join(f"{run:.3f}" for run in runs)
        print(f"{name:<44} {statistics.median(runs):8.3f} {rate:12,.0f}  {ratio:5.2f}x   {shown}")
        if runs is plain:
            continue
        if rate < GOAL_RATE:
            ok = False
            print(f"  goal missed: {rate:,.0f} lines/s, under {GOAL_RATE:,}")
        if ratio < GOAL_RATIO:
            ok = False
            print(f"  goal missed: {ratio:.2f}x the baseline, under {GOAL_RATIO}x")
    print("after the Log held every line, closing the streams and SSH connections took "
          f"(median) {statistics.median(closing[False]):.3f} s (read), "
          f"{statistics.median(closing[True]):.3f} s (follow); not in the clock")
    print(f"dropped: {dropped} (must be 0); released late by the window: {late}; "
          f"order faults outside the window: {faults} (must be 0)")
    print(f"goals (>= {GOAL_RATE:,} lines/s and >= {GOAL_RATIO}x ssh docker logs): "
          f"{'met' if ok else 'NOT met'}")
    return 1 if dropped or faults else 0


if __name__ == "__main__":
    sys.exit(main())
