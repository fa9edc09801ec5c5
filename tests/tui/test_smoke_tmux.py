"""Smoke test: the real ``workbench`` console script in a real terminal (tmux).

It opens a project, creates an endpoint through the ``n`` form with keys sent by
``tmux send-keys``, reads the screen with ``tmux capture-pane -p`` and quits with ``q``.
A private tmux server (``-L``) is started and killed, so no other tmux session is touched.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MakeProject
from helpers import HANG_GUARD, require_part

from workbench.model import load_project


def workbench_command() -> list[str]:
    script = Path(sys.executable).with_name("workbench")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "workbench"]


class Tmux:
    """One detached session on a private tmux server."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=HANG_GUARD, check=False)
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "wb")

    def wait_for(self, *texts: str, rounds: int = 1000) -> str:
        """The screen once it shows ``texts`` (looked at up to ``rounds`` times, 0.2 s apart:
        bounded by count, not by a clock)."""
        shown = ""
        for _ in range(rounds):
            shown = self.screen()
            if all(text in shown for text in texts):
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{texts} not on screen after {rounds} looks:\n{shown}")

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "wb", *keys)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        require_part("tmux", "not installed (apt-get install tmux)")
    session = Tmux(f"wb-test-{os.getpid()}-{tmp_path.name}")
    try:
        yield session
    finally:
        session("kill-server")


def start(tmux: Tmux, root: Path, tmp_path: Path) -> Path:
    """Run the real ``workbench`` on ``root`` in a 120x40 tmux session; returns the file its
    exit code is written to."""
    variables = {name: os.environ[name] for name in ("HOME", "XDG_CONFIG_HOME",
                                                      "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                                      "GIT_CONFIG_NOSYSTEM", "PATH")
                 if name in os.environ}
    exit_file = tmp_path / "exit-code"
    assignments = [f"{k}={v}" for k, v in variables.items()]
    command = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", *assignments,
                          "TERM=xterm-256color", *workbench_command(), "-C", str(root)])
    tmux("new-session", "-d", "-s", "wb", "-x", "120", "-y", "40",
         f"{command}; echo $? > {shlex.quote(str(exit_file))}; sleep 30")
    return exit_file


def quit_code(tmux: Tmux, exit_file: Path) -> str:
    """Press q, then read the exit code (looked for a bounded number of times)."""
    tmux.keys("q")
    for _ in range(1000):  # bounded by count
        if exit_file.exists():
            break
        time.sleep(0.2)
    return exit_file.read_text().strip()


def test_new_endpoint_in_a_real_terminal(tmux: Tmux, make_project: MakeProject,
                                         tmp_path: Path) -> None:
    root = make_project()
    exit_file = start(tmux, root, tmp_path)
    tmux.wait_for("2 Endpoints", "orders", "production")
    tmux.keys("n")
    tmux.wait_for("New endpoint, model or utility")
    tmux.keys("-l", "billing")
    tmux.keys("Enter")
    shown = tmux.wait_for("Created endpoint billing")
    assert "billing" in shown.split("2 Endpoints", 1)[1]
    log = subprocess.run(["git", "-C", str(root / "endpoints" / "billing"), "log", "--oneline"],
                         capture_output=True, text=True, check=True).stdout
    assert "Create endpoint billing" in log
    assert [e.name for e in load_project(root).endpoints] == ["orders", "billing"]
    assert quit_code(tmux, exit_file) == "0"


def test_compare_and_logs_in_a_real_terminal(tmux: Tmux, make_project: MakeProject,
                                             tmp_path: Path) -> None:
    """``c`` compares two environments and ``l`` opens an endpoint's logs, in the real
    ``workbench``: staging's host does not exist, so its side says unreachable; the logs
    screen follows orders in local (nothing runs there yet). Both go back with esc."""
    root = make_project()
    exit_file = start(tmux, root, tmp_path)
    tmux.wait_for("2 Endpoints", "orders", "production")
    tmux.keys("3")
    tmux.keys("c")
    tmux.wait_for("Compare")
    tmux.keys("Enter")  # the first environment: the highlighted one
    tmux.wait_for("with")
    tmux.keys("Enter")  # the second: the first other one
    shown = tmux.wait_for("local against staging", "B deploy@staging.invalid:22 unreachable",
                          "ignored by normalization")
    assert "A local: local" in shown
    tmux.keys("Escape")
    tmux.wait_for("2 Endpoints", "production")
    tmux.keys("l")
    tmux.wait_for("orders in local", "logs of orders in local", "following")
    tmux.keys("Escape")
    tmux.wait_for("2 Endpoints", "production")
    assert quit_code(tmux, exit_file) == "0"
