"""Traffic through a staged project's proxy, and deploys watched through their `--json` events.

- :func:`set_release` bakes a release name into ``orders``' code (a new image version), so
  that the proxy's answer tells which version serves: :func:`served`.
- :class:`Load` sends requests from several threads until it is stopped (an event), counting
  every answer that is not what it should be, and every connection error, as a failure.
- :class:`Watched` runs `workbench --batch ... --json` and reads its events as they come, so a
  test acts at a step (kills the client when ``orders/switch`` starts) instead of sleeping.

There is no wall-clock bound here: loops are bounded by count, with caps no run reaches.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from staging import Staged

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxies
SOCKET_TIMEOUT = 120.0
"""Seconds a request may go without a byte: a safety for a stuck proxy, never reached when it
works, however slow the machine (a timeout counts as a failed request, not as a pass)."""

_HEALTH = re.compile(r'self\._send\(HTTPStatus\.OK, \{"status": "ok"(?:, "release": "[^"]*")?\}\)')


def set_release(staged: Staged, release: str) -> None:
    """Make ``orders`` answer GET /health with ``{"status": "ok", "release": RELEASE}``: a code
    change, so the next deploy builds a new version."""
    path = staged.root / "endpoints" / "orders" / "app.py"
    text = path.read_text()
    answer = f'self._send(HTTPStatus.OK, {{"status": "ok", "release": "{release}"}})'
    new, count = _HEALTH.subn(answer, text)
    assert count == 1, f"the health answer is not in {path}"
    path.write_text(new)


def fetch(url: str) -> tuple[int, str]:
    """GET ``url`` (no proxies): (status, body). Connection errors raise."""
    try:
        with _OPENER.open(url, timeout=SOCKET_TIMEOUT) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def release_of(body: str) -> str | None:
    """The ``release`` an answer of :func:`set_release`'s health path names (None: another)."""
    try:
        found = json.loads(body)
    except ValueError:
        return None
    return found.get("release") if isinstance(found, dict) else None


def served(staged: Staged, path: str = "/orders/health") -> str | None:
    """The release that answers through the proxy now (one request; None unless 200)."""
    status, body = fetch(staged.url(path))
    return release_of(body) if status == 200 else None


class Load:
    """``threads`` threads GET ``url`` until :meth:`stop` (or leaving the ``with``).

    ``expected(status, body)`` says what is wrong with an answer ("" when nothing); a
    connection error, a reset or a timeout is a failure too, and the thread goes on. Each
    thread stops after :attr:`cap` requests at most (a safety only: a run never gets there, as
    after :attr:`calm_after` seconds requests are spaced 0.2 s apart, which changes only how
    much load there is, never the outcome); :attr:`capped` says if one did.
    """

    cap = 1_000_000
    calm_after = 600.0

    def __init__(self, url: str, expected: Callable[[int, str], str], threads: int = 4) -> None:
        self.url, self.expected = url, expected
        self.failures: list[str] = []
        self.answers: Counter[str] = Counter()
        """Releases that answered (see :func:`release_of`), with their counts."""
        self.count = 0
        self.capped = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._after: tuple[int, int] = (0, 0)
        """(generation of the last :meth:`mark`, requests each thread must do after it)."""
        self._marked = [threading.Event() for _ in range(threads)]
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def mark(self, requests: int = 1) -> None:
        """From now on, each thread counts the requests it starts; :meth:`wait_marked` waits
        until each has finished ``requests`` of them."""
        with self._lock:
            self._after = (self._after[0] + 1, requests)
            for event in self._marked:
                event.clear()

    def wait_marked(self) -> None:
        """Wait until each thread finished the requests :meth:`mark` asked for (or stopped)."""
        for event in self._marked:
            event.wait()

    def _run(self, index: int) -> None:
        calm = time.monotonic() + self.calm_after
        generation, done = 0, 0
        for _ in range(self.cap):
            if self._stop.is_set():
                break
            with self._lock:
                after = self._after
            if after[0] != generation:
                generation, done = after[0], 0
            problem = ""
            try:
                status, body = fetch(self.url)
            except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, reset...
                problem = f"{type(exc).__name__}: {exc}"
            else:
                problem = self.expected(status, body)
                with self._lock:
                    self.answers[str(release_of(body))] += 1
            with self._lock:
                self.count += 1
                if problem:
                    self.failures.append(problem)
            done += 1
            with self._lock:
                if generation and generation == self._after[0] and done >= after[1]:
                    self._marked[index].set()
            if time.monotonic() > calm:
                self._stop.wait(0.2)
        else:
            self.capped = True
        self._marked[index].set()  # a stopped thread is waited for no more


class Watched:
    """`workbench --batch ARGS --json` in ``cwd``, its events read as they come (stderr is
    merged into stdout: a line that is not JSON is kept as ``{"raw": line}``; without
    ``as_json``, every line is)."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None,
                 as_json: bool = True) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workbench", "--batch", *args, *(["--json"] * as_json)],
            cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.process.stdout is not None
        self._out: TextIO = self.process.stdout
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The events from here on, as they come, until the output ends."""
        for line in self._out:
            self.lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                event = {"raw": line}
            if not isinstance(event, dict):
                event = {"raw": line}
            self.events.append(event)
            yield event

    def until(self, step: str, event: str = "step_started") -> dict[str, Any]:
        """Read up to the event ``event`` of step ``step`` (it must come)."""
        for found in self:
            if found.get("event") == event and found.get("step") == step:
                return found
        raise AssertionError(f"no {event} of {step} in the output:\n{''.join(self.lines)}")

    def kill(self) -> None:
        """SIGKILL the process and reap it (so that its pid is gone), then read what it
        printed before."""
        self.process.kill()
        self.process.wait()
        for _ in self:
            pass

    def finish(self) -> int:
        """Read to the end; the exit code."""
        for _ in self:
            pass
        return self.process.wait()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def result(self) -> dict[str, Any]:
        """The run's ``result`` event."""
        found = [e for e in self.events if e.get("event") == "result"]
        assert found, self.output
        return found[-1]
