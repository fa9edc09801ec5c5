"""Fixtures of the TUI tests: real projects (real git repos) and a Pilot that waits for workers.

HOME and the XDG folders are isolated per test by the autouse fixture of tests/conftest.py.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from workbench.model import PROJECT_FILE
from workbench.ops.new import new_child, new_project

SIZE = (120, 40)
SNAPSHOT_ROOT = Path("/tmp/wb-snapshots")

ENVIRONMENTS = """environments:
  local:
    proxy_port: 8080
  staging:
    hosts: [deploy@staging.invalid]
    proxy_port: 80
  production:
    engine: swarm
    hosts: [deploy@prod-1.invalid, deploy@prod-2.invalid]
    protected: true
  audit:
    hosts: [deploy@audit.invalid]
    readonly: true
"""

MakeProject = Callable[..., Path]


def build_project(parent: Path, name: str = "shop", *, endpoints: tuple[str, ...] = ("orders",),
                  models: tuple[str, ...] = (), environments: str | None = ENVIRONMENTS,
                  remote: str | None = None) -> Path:
    """A real project: git repos made by the core's own ``new`` operations."""
    parent.mkdir(parents=True, exist_ok=True)
    root = new_project(parent, name, remote=remote).path
    for endpoint in endpoints:
        new_child(root, "endpoint", endpoint)
    for model in models:
        new_child(root, "model", model)
    if environments is not None:
        set_environments(root, environments)
    return root


def set_environments(root: Path, block: str) -> None:
    """Replace the ``environments:`` section (the last one of the template) and commit it."""
    import git

    path = root / PROJECT_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("environments:")] + block, encoding="utf-8")
    repo = git.Repo(root)
    repo.git.add(PROJECT_FILE)
    repo.index.commit("Set environments")


@pytest.fixture(autouse=True)
def lasting_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Notifications stay for the whole test: Textual drops them after 5 s of wall clock, and
    on a loaded machine a test could look after that (what a test sees must not depend on the
    machine's speed)."""
    from textual.app import App

    monkeypatch.setattr(App, "NOTIFICATION_TIMEOUT", 24 * 3600.0)


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Build a project under the test's tmp folder (or a given parent)."""

    def make(name: str = "shop", parent: Path | None = None, **options: object) -> Path:
        return build_project(parent or tmp_path / "work", name, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def snapshot_project() -> Iterator[Path]:
    """``/tmp/wb-snapshots/shop``, made again for each test so screenshots are stable. One
    test at a time has it: the tests run in several processes (pytest-xdist), and the path is
    the same for all, so each holds a lock on ``/tmp/wb-snapshots.lock`` while it runs."""
    parent = SNAPSHOT_ROOT
    with open(f"{parent}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(parent, ignore_errors=True)
        root = build_project(parent, "shop", endpoints=("orders", "billing"),
                             models=("customer",))
        try:
            yield root
        finally:
            shutil.rmtree(parent, ignore_errors=True)


async def settle(pilot: Pilot[Any], rounds: int = 50) -> None:
    """Wait until nothing is pending, twice in a row (some work starts after a paint): no
    worker runs, no screen holds a callback for after its refresh (``call_after_refresh``:
    the main screen's git listing, the footer's recompose when bindings change), and the
    current screen has nothing left to lay out or paint."""
    app = pilot.app
    quiet = 0
    for _ in range(rounds):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        quiet = quiet + 1 if not pending(app) else 0
        if quiet == 2:
            return
    raise AssertionError("the app did not settle: a worker or a refresh is still pending")


def pending(app: Any) -> bool:
    """Whether a worker runs or a screen has work queued for its next refresh (Textual keeps
    that in private fields; there is no public way to ask)."""
    if any(worker.is_running for worker in app.workers):
        return True
    if any(screen._callbacks for screen in app.screen_stack):
        return True
    screen = app.screen
    return bool(screen._layout_required or screen._repaint_required
                or screen._recompose_required or screen._dirty_widgets)
