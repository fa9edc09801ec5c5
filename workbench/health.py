"""Waiting for a new container to become healthy: the one loop the test loop and deploys share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from .errors import OperationFailed


class Unhealthy(OperationFailed):
    """The container exited or its health path did not answer 200; with its last log lines."""

    def __init__(self, problem: str, last_lines: Sequence[str]) -> None:
        super().__init__(problem, "see its last log lines")
        self.last_lines = tuple(last_lines)


async def wait_healthy(path: str, timeout: float, *,
                       exited: Callable[[], Awaitable[int | None]],
                       status: Callable[[], Awaitable[int | str]],
                       tail: Callable[[], Awaitable[list[str]]],
                       interval: float = 0.2, what: str = "the container",
                       first: float = 0.05, eager: float = 2.0) -> None:
    """Poll ``status`` (GET ``path``) until 200; fail when ``exited`` gives a code or time
    runs out.

    For the first ``eager`` seconds polls come ``first`` seconds apart (most apps answer a few
    hundred ms after their start, and each poll they wait for delays the deploy); after that
    the pause grows by half each time, up to ``interval``.
    """
    started = time.monotonic()
    deadline = started + timeout
    pause = min(first, interval)
    while True:
        code = await exited()
        if code is not None:
            raise Unhealthy(f"{what} exited with code {code} before it became healthy",
                            await tail())
        last = await status()
        if str(last) == "200":
            return
        if time.monotonic() >= deadline:
            raise Unhealthy(f"GET {path} did not answer 200 within {timeout:g}s (last: {last})",
                            await tail())
        await asyncio.sleep(pause)
        if time.monotonic() - started >= eager:
            pause = min(interval, pause * 1.5)
