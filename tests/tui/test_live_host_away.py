"""A host that goes away turns its cells ``unreachable``, and they come back when it does: the
real app (Pilot), the real watcher, the real sshd and engine, and a relay the test owns.

The environment ``staging`` reaches the CI sshd through a private ``socat`` relay on a port of
its own (its own process group, its own known_hosts entry with the sshd's real key); ``direct``
is the same sshd without the relay. The endpoint is deployed to staging through the relay, and
the matrix shows its version and health. Then the host goes away twice, with no key pressed:

- the relay's process group is killed (the forked child carrying the SSH connection with it):
  the cell turns ``unreachable``, ``direct`` still reads, and when the relay listens again on
  the same port the cell comes back with its version and health;
- the relay is frozen (SIGSTOP: its connections stay open and say nothing, as a host that lost
  its network): SSH keepalive (here ``ServerAliveInterval 1`` in ~/.ssh/config) notices, the
  cell turns ``unreachable``, and comes back once the relay runs again.

Once the app has closed, no watcher thread and no socket of its connections is left. A last
test stops the watcher while its host hangs (keepalive off): it stops at once, leaving nothing.

Only the relay goes away: the shared sshd and engine are never touched. Waits are loops bounded
by a count of short pauses, never by a clock; the hang test runs in a subprocess with a
generous timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import SIZE, build_project, set_environments
from helpers import HANG_GUARD, SSHTarget, clean, free_port
from leftovers import listening, sockets, watcher_threads
from textual.pilot import Pilot
from textual.widgets import DataTable

from screens.app import WorkbenchApp
from screens.deploy_status import DeployStatus
from screens.main import MainScreen
from screens.matrix import LiveCell
from screens.panes import EnvironmentsPane
from workbench.model import PROJECT_FILE, load_project
from workbench.ops.deploy import deploy
from workbench.ops.report import DeployOptions
from workbench.sites import open_sites

pytestmark = pytest.mark.integration

PAUSES = 2400
"""Most short pauses a wait takes (a safety cap: each wait ends on its condition)."""
LOOKS = 500
"""Most looks at /proc for the relay's listening socket."""
KEEPALIVE = ("ServerAliveInterval 1", "ServerAliveCountMax 2", "ConnectTimeout 3")
"""~/.ssh/config settings that notice a silent host in about 3 s (the default takes ~40 s)."""


# -- the relay ------------------------------------------------------------------------------------
class Relay:
    """``socat`` from 127.0.0.1:``port`` to the CI sshd, in a process group of its own (its
    forked children, which carry the connections, are in it too)."""

    def __init__(self, port: int, target: int) -> None:
        self.port, self.target = port, target
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork",
             f"TCP:127.0.0.1:{self.target}"], start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(LOOKS):
            if listening(self.port):
                return
            if self.process.poll() is not None:
                break
            threading.Event().wait(0.02)
        raise AssertionError(f"the relay does not listen on {self.port}")

    @property
    def group(self) -> int:
        assert self.process is not None
        return self.process.pid

    def freeze(self) -> None:
        os.killpg(self.group, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.group, signal.SIGCONT)

    def kill(self) -> None:
        """The relay and every child of it, with the connections they carry."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.group, signal.SIGKILL)  # stopped or not
        self.process.wait()  # SIGKILL: it is gone at once
        self.process = None


@pytest.fixture
def relay(ssh_target: SSHTarget) -> Iterator[Relay]:
    found = Relay(free_port(), ssh_target.port)
    found.start()
    yield found
    found.kill()


def trust_relay(home: Path, target: SSHTarget, relay: Relay, *settings: str) -> None:
    """~/.ssh: the CI key, ``settings`` for 127.0.0.1, and the sshd's real host key for the
    relay's port as well as its own."""
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    lines = [f"Host {target.host}", f"  IdentityFile {target.key}", "  IdentitiesOnly yes",
             *(f"  {setting}" for setting in settings)]
    (ssh / "config").write_text("\n".join(lines) + "\n")
    known = target.known_hosts.read_text()
    [key] = [line.split(None, 1)[1] for line in known.splitlines()
             if line.startswith(f"[{target.host}]:{target.port} ")]
    (ssh / "known_hosts").write_text(f"{known.rstrip()}\n[127.0.0.1]:{relay.port} {key}\n")


def project_behind(parent: Path, target: SSHTarget, relay: Relay, base_image: str) -> Path:
    """A project whose ``staging`` is reached through the relay, and ``direct`` without it."""
    root = build_project(parent, f"away{uuid.uuid4().hex[:8]}", endpoints=("orders",),
                         environments=None)
    path = root / PROJECT_FILE
    path.write_text(path.read_text(encoding="utf-8").replace(
        "\nbuild_args: {}\n", f"\nbuild_args: {{BASE_IMAGE: {base_image}}}\n"), encoding="utf-8")
    set_environments(root, f"environments:\n  staging:\n"
                           f"    hosts: [{target.user}@127.0.0.1:{relay.port}]\n"
                           f"    proxy_port: {free_port()}\n    proxy_bind: 127.0.0.1\n"
                           f"    proxy_image: {base_image}\n"
                           f"  direct:\n    hosts: [{target.spec}]\n")
    return root


# -- what the app shows ---------------------------------------------------------------------------
async def wait_for(pilot: Pilot[Any], predicate: Callable[[], object], what: str) -> None:
    """Pause until ``predicate`` holds (at most :data:`PAUSES` short pauses)."""
    for _ in range(PAUSES):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"{what}: not reached after {PAUSES} pauses")


def shown(app: WorkbenchApp, env: str) -> str:
    """The text of the orders x ``env`` cell, as the matrix draws it."""
    found = app.screen.query("#matrix")
    if not isinstance(app.screen, MainScreen) or not found:
        return ""
    table = found.first(DataTable)
    return str(table.get_cell("orders", env)) if table.row_count else ""


def cell(app: WorkbenchApp, env: str) -> LiveCell | None:
    found = app.screen.query(EnvironmentsPane)
    if not isinstance(app.screen, MainScreen) or not found:
        return None
    got = found.first().matrix.get("orders", env)
    return got if isinstance(got, LiveCell) else None


def health(app: WorkbenchApp, env: str) -> str:
    got = cell(app, env)
    return got.summary.health if got is not None else ""


def why(app: WorkbenchApp, env: str) -> str:
    """Why the cell's host cannot be read (as the detail panel says it)."""
    got = cell(app, env)
    return got.update.rows[0].unreachable if got is not None and got.update else ""


# -- the tests ------------------------------------------------------------------------------------
async def test_a_host_that_goes_away_is_unreachable_and_comes_back(
        tmp_path: Path, isolated_env: Path, base_image: str, ssh_target: SSHTarget,
        docker_client: docker.DockerClient, relay: Relay) -> None:
    trust_relay(isolated_env, ssh_target, relay)
    root = project_behind(tmp_path / "work", ssh_target, relay, base_image)
    name = root.name
    ports = {relay.port, ssh_target.port}
    before = sockets(ports)
    try:
        report = await deploy(load_project(root), "staging", ["orders"], lambda _event: None,
                              DeployOptions(build_args={"BASE_IMAGE": base_image}), open_sites)
        assert report.ok, report.summary()
        [outcome] = report.outcomes
        serving = f"● {outcome.version[:7]}\n"

        app = WorkbenchApp(root, status=DeployStatus())
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: health(app, "staging") == "healthy", "healthy")
            assert shown(app, "staging").startswith(serving)
            await wait_for(pilot, lambda: shown(app, "direct") == "not\ndeployed", "direct")

            # killed: its connection ends with it
            relay.kill()
            await wait_for(pilot, lambda: shown(app, "staging") == "unreachable", "unreachable")
            assert why(app, "staging")
            assert shown(app, "direct") == "not\ndeployed"  # the other host still reads
            trust_relay(isolated_env, ssh_target, relay, *KEEPALIVE)  # for the next connection
            relay.start()  # back on the same port
            await wait_for(pilot, lambda: health(app, "staging") == "healthy", "back")
            assert shown(app, "staging").startswith(serving)

            # frozen: its connection stays open and silent; keepalive notices
            relay.freeze()
            await wait_for(pilot, lambda: shown(app, "staging") == "unreachable", "silent host")
            assert why(app, "staging")
            assert shown(app, "direct") == "not\ndeployed"
            relay.thaw()
            await wait_for(pilot, lambda: health(app, "staging") == "healthy", "back again")
            assert shown(app, "staging").startswith(serving)
        await nothing_left(ports, before)
    finally:
        clean(docker_client, name, Path("/var/lib/workbench"))


async def nothing_left(ports: set[int], before: dict[str, str]) -> None:
    """The watcher's threads end and its connections close once the app has closed (a bounded
    count of looks)."""
    import asyncio

    def left() -> list[str]:
        now = sockets(ports)
        return watcher_threads() + [now[inode] for inode in set(now) - set(before)]

    for _ in range(PAUSES):
        if not left():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"left behind: {left()}")


WATCH = """\
import asyncio, os, signal, sys, threading
from pathlib import Path
from leftovers import sockets, watcher_threads
from workbench.model import load_project
from workbench.ops.watch import watch_until

project = load_project(Path(sys.argv[1]))
group, port = int(sys.argv[2]), int(sys.argv[3])
read, stopped = threading.Event(), threading.Event()

def report(updates):
    if any(u.env == "staging" and u.rows and not u.rows[0].unreachable for u in updates):
        read.set()

thread = threading.Thread(target=asyncio.run, args=(watch_until(project, report, stopped),))
thread.start()
read.wait()
os.killpg(group, signal.SIGSTOP)  # the host hangs: the connection stays open and silent
stopped.set()  # what closing the app does
thread.join()
print("left:", sorted(sockets({port}).values()) + watcher_threads())
"""


def test_the_watcher_stops_at_once_while_its_host_hangs(
        tmp_path: Path, isolated_env: Path, base_image: str, ssh_target: SSHTarget,
        relay: Relay) -> None:
    """Closing the app waits for the watcher: it must not wait for a host that never answers
    (keepalive off here, so only the way it closes can end it)."""
    trust_relay(isolated_env, ssh_target, relay, "ServerAliveInterval 0")
    root = project_behind(tmp_path / "work", ssh_target, relay, base_image)
    tests = str(Path(__file__).parents[1])
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [tests, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", WATCH, str(root), str(relay.group),
                           str(relay.port)], env=environ, capture_output=True, text=True,
                          timeout=HANG_GUARD, check=False)  # a hang test: generous
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "left: []", done.stdout + done.stderr
