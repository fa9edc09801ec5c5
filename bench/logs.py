"""Lines per second of a container's logs through the event stream into a headless ``Log``.

Measured against plain ``docker logs`` of the same container to /dev/null, in the same run.
Goal: at least 100,000 lines/s, and at least 0.5x the ``docker logs`` rate.

    .venv/bin/python bench/logs.py [--lines 200000] [--repeat 3] [--image IMAGE]

One container from the local base image (``WB_BASE_IMAGE`` or ``--image``; default
``workbench/base:bookworm``) prints the lines (about 60 characters each) and exits; both
readers then read its whole log, alternately, ``--repeat`` times each, and the medians count.

- docker logs: ``docker logs ID > /dev/null`` (``/usr/bin/docker`` when present, else the
  ``docker`` on PATH); the clock covers the whole command.
- event stream: in a headless Textual app holding a ``Log``, ``Engine.follow_logs`` (not
  following) runs in a thread and feeds a ``LogPump``; the ``LogHub`` flushes it on the event
  loop every 100 ms and each ``LogLines`` batch goes to ``Log.write_lines``. The clock stops when
  the Log holds every line, after one idle pause so the last frame is included. The pump's
  limit is above the line count, so nothing may be dropped; that is checked.

The container is labelled ``dev.workbench.bench=logs`` and always removed. Exits non-zero only
on an error; a missed goal is printed, not raised.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, ComposeResult
from textual.widgets import Log

from workbench.engine import LABEL, Engine, Stream
from workbench.events import Event, LogLines
from workbench.logstream import LogHub, favour_throughput

if TYPE_CHECKING:
    from docker.models.containers import Container

SIZE = (120, 40)
DEFAULT_IMAGE = "workbench/base:bookworm"
GOAL_RATE = 100_000
GOAL_RATIO = 0.5
# About 60 characters a line, like a request log.
PRINTER = (
    "import sys\n"
    "w = sys.stdout.write\n"
    "for i in range({n}):\n"
    "    w(f'2024-05-06T12:03:04Z INFO app GET /items/{{i:07d}} 200 in {{i % 97:2d}} ms\\n')\n"
)


class Host(App[None]):
    def __init__(self, max_lines: int) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield Log(max_lines=self.max_lines)


def docker_cli() -> str:
    if Path("/usr/bin/docker").is_file():
        return "/usr/bin/docker"
    found = shutil.which("docker")
    if not found:
        raise SystemExit("error: no docker command found (needed for the baseline)")
    return found


def start_container(engine: Engine, image: str, lines: int) -> Container:
    """A container printing ``lines`` lines, then exiting (wait for it)."""
    return engine.client.containers.run(
        image, ["python3", "-c", PRINTER.format(n=lines)], detach=True,
        labels={f"{LABEL}bench": "logs"})


def wait_for(container: Container) -> None:
    status = container.wait(timeout=300)
    if status.get("StatusCode") != 0:
        raise SystemExit(f"error: the printing container exited with {status}")


def check_baseline(docker: str, container_id: str, expected: int) -> None:
    """Once, untimed: ``docker logs`` gives every line (so both sides read the same log)."""
    out = subprocess.run([docker, "logs", container_id], capture_output=True, check=True)
    got = out.stdout.count(b"\n")
    if got != expected:
        raise SystemExit(f"error: docker logs gave {got:,} lines, expected {expected:,}")


def time_docker_logs(docker: str, container_id: str) -> float:
    started = time.perf_counter()
    subprocess.run([docker, "logs", container_id], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


async def time_event_stream(engine: Engine, container_id: str, expected: int) -> tuple[float, int]:
    """Seconds until the Log holds every line, and the lines the pump dropped."""
    app = Host(max_lines=expected + 1000)
    async with app.run_test(size=SIZE) as pilot:
        log = app.query_one(Log)
        await pilot.pause()
        counts = {"written": 0, "dropped": 0}

        def show(event: Event) -> None:
            assert isinstance(event, LogLines)
            log.write_lines(event.lines)
            counts["written"] += len(event.lines)
            counts["dropped"] += event.dropped

        started = time.perf_counter()
        async with LogHub(show, limit=expected + 1000) as hub:
            pump = hub.pump("app")
            await asyncio.to_thread(engine.follow_logs, container_id, pump.feed, Stream(), False)
        await pilot.pause()
        elapsed = time.perf_counter() - started
        if counts["written"] != expected or log.line_count != expected:
            raise SystemExit(f"error: the Log holds {log.line_count:,} lines "
                             f"({counts['written']:,} written), expected {expected:,}")
        return elapsed, counts["dropped"]


async def main() -> int:
    favour_throughput()  # as the TUI does at start (screens/app.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--image", default=os.environ.get("WB_BASE_IMAGE") or DEFAULT_IMAGE)
    args = parser.parse_args()
    docker = docker_cli()
    engine = Engine.local()
    container: Container | None = None
    try:
        container = start_container(engine, args.image, args.lines)
        await asyncio.to_thread(wait_for, container)
        check_baseline(docker, container.id, args.lines)
        plain: list[float] = []
        ours: list[float] = []
        dropped = 0
        for _ in range(args.repeat):
            plain.append(await asyncio.to_thread(time_docker_logs, docker, container.id))
            seconds, lost = await time_event_stream(engine, container.id, args.lines)
            ours.append(seconds)
            dropped += lost
    finally:
        if container is not None:
            container.remove(force=True)
        engine.close()

    plain_s, ours_s = statistics.median(plain), statistics.median(ours)
    plain_rate, ours_rate = args.lines / plain_s, args.lines / ours_s
    ratio = ours_rate / plain_rate
    print(f"{args.lines:,} lines from one container ({args.image}); median of {args.repeat}, "
          f"alternating; docker client {docker}")
    print(f"{'reader':<34} {'median s':>8} {'lines/s':>12}   runs (s)")
    for name, seconds, runs in (("docker logs > /dev/null", plain_s, plain),
                                ("event stream -> Log (headless)", ours_s, ours)):
        shown = " ".join(f"{run:.3f}" for run in runs)
        print(f"{name:<34} {seconds:8.3f} {args.lines / seconds:12,.0f}   {shown}")
    print(f"dropped by the pump: {dropped} (must be 0)")
    rate_ok, ratio_ok = ours_rate >= GOAL_RATE, ratio >= GOAL_RATIO
    print(f"ratio event stream/docker logs: {ratio:.2f}x   goal: at least {GOAL_RATE:,} lines/s "
          f"({'met' if rate_ok else 'NOT met'}) and at least {GOAL_RATIO}x docker logs "
          f"({'met' if ratio_ok else 'NOT met'})")
    if not (rate_ok and ratio_ok):
        print("goal missed")
    if dropped:
        print(f"error: the pump dropped {dropped} lines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
