"""Lines per second into LogView, headless, against raw ``Log.write_lines`` in the same run.

    .venv/bin/python bench/log_view.py [--lines 200000] [--batch 1000]

Feeds LogLines batches and stops the clock when the Log holds every line that should show
(its row count), after one final idle pause so the last frame is included. Cases:

- raw:        Log.write_lines(batch) on a bare Log (the baseline)
- add/off:    LogView.add(batch), no filter
- add/on:     LogView.add(batch), a regex that matches about half of the lines
- post/off:   LogView.post(batch) from a producer thread (the path operations use)
- post/on:    the same with the regex filter

The event loop gets a turn after every batch (``asyncio.sleep(0)``) so refreshes can run, as
they would with a live producer. Bounded in count and time; prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
import time

from textual.app import App, ComposeResult
from textual.widgets import Log

from screens.log_view import LogView
from workbench.events import LogLines

SIZE = (120, 40)
TIMEOUT = 120.0
# Matches lines whose request number is even: half of them.
HALF = r"request \d*[02468] "


def make_batches(total: int, size: int) -> list[LogLines]:
    sources = ("build", "app", "tests")
    batches = []
    for start in range(0, total, size):
        lines = tuple(
            f"2024-05-06T12:03:04Z INFO app.handler request {i} handled in {i % 97} ms "
            f"path=/api/v1/items/{i} status=200"
            for i in range(start, min(total, start + size))
        )
        batches.append(LogLines(sources[(start // size) % 3], lines))
    return batches


class RawHost(App[None]):
    def __init__(self, max_lines: int) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield Log(max_lines=self.max_lines)


class ViewHost(App[None]):
    def __init__(self, max_lines: int) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=self.max_lines)


async def bench_raw(batches: list[LogLines], expected: int) -> float:
    app = RawHost(max_lines=expected)
    async with app.run_test(size=SIZE) as pilot:
        log = app.query_one(Log)
        await pilot.pause()
        started = time.perf_counter()
        for event in batches:
            log.write_lines(event.lines)
            await asyncio.sleep(0)
        await pilot.pause()
        elapsed = time.perf_counter() - started
        assert_count(len(log.lines), expected, "raw")
    return elapsed


async def bench_view(
    batches: list[LogLines], expected: int, pattern: str | None, threaded: bool
) -> float:
    app = ViewHost(max_lines=sum(len(b.lines) for b in batches))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.set_filter(pattern)
        await pilot.pause()
        started = time.perf_counter()
        if threaded:

            def produce() -> None:
                for event in batches:
                    view.post(event)

            producer = threading.Thread(target=produce, daemon=True)
            producer.start()
            deadline = started + TIMEOUT
            while view.shown_count < expected and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            producer.join(timeout=TIMEOUT)
        else:
            for event in batches:
                view.add(event)
                await asyncio.sleep(0)
        await pilot.pause()
        elapsed = time.perf_counter() - started
        assert_count(view.shown_count, expected, "view")
        if view.dropped:
            print(f"  note: the view dropped {view.dropped} lines")
    return elapsed


def assert_count(got: int, expected: int, what: str) -> None:
    if got != expected:
        print(f"  warning: {what} holds {got} lines, expected {expected}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per case")
    args = parser.parse_args()

    batches = make_batches(args.lines, args.batch)
    total = args.lines
    half = re.compile(HALF)
    matching = sum(1 for b in batches for line in b.lines if half.search(line))
    print(
        f"{total:,} lines in batches of {args.batch:,}; filter {HALF!r} matches {matching:,}; "
        f"best of {args.repeat}"
    )

    async def best(run) -> float:  # type: ignore[no-untyped-def]
        return min([await run() for _ in range(args.repeat)])

    raw = await best(lambda: bench_raw(batches, total))
    add_off = await best(lambda: bench_view(batches, total, None, threaded=False))
    add_on = await best(lambda: bench_view(batches, matching, HALF, threaded=False))
    post_off = await best(lambda: bench_view(batches, total, None, threaded=True))
    post_on = await best(lambda: bench_view(batches, matching, HALF, threaded=True))

    def rate(seconds: float) -> float:
        return total / seconds

    print(f"{'case':<10} {'seconds':>8} {'lines/s in':>12} {'vs raw':>7}")
    for name, seconds in (
        ("raw", raw),
        ("add/off", add_off),
        ("add/on", add_on),
        ("post/off", post_off),
        ("post/on", post_on),
    ):
        print(f"{name:<10} {seconds:8.3f} {rate(seconds):12,.0f} {raw / seconds:7.2f}")
    print(
        f"rate off {rate(add_off):,.0f} lines/s, rate on {rate(add_on):,.0f} lines/s, "
        f"raw {rate(raw):,.0f} lines/s; off/raw {raw / add_off:.2f}, on/raw {raw / add_on:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
