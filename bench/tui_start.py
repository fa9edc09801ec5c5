"""Time to first paint of the main screen, against a bare Textual app with the same widgets.

A project of 30 endpoints x 3 environments is written in a temp folder (endpoint folders with
endpoint.yaml and a one-commit git repo each, no remotes). Both apps run headless at 120x40 in
this process, alternately, several rounds; the results are printed with their ratio (goal: the
workbench app within 1.25x of the bare one). No asserts.

- ``first paint``: from finding and reading the project (as ``screens.app.run`` does before
  the app starts) to the first refresh after the screen with the three panes is mounted;
- ``rows shown``: until the endpoints and the matrix are painted (the same frame when the
  project was read before the start);
- ``git shown``: until the git state of every repo is painted too (31 ``git status`` calls in a
  thread pool). The bare app fills the same rows synchronously in its first frame and runs no
  git at all, so the last two ratios are for information.

Run: ``.venv/bin/python bench/tui_start.py [ROUNDS]`` (default 15). Timings on a shared machine
are noisy, so the median and the minimum of the rounds are both printed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

ENDPOINTS = 30
SIZE = (120, 40)
ENVIRONMENTS = """environments:
  local:
    proxy_port: 8080
  staging:
    hosts: [deploy@staging.invalid]
  production:
    engine: swarm
    hosts: [deploy@prod-1.invalid, deploy@prod-2.invalid]
    protected: true
"""


def build_project(base: Path) -> Path:
    """Write a 30-endpoint project quickly: files and ``git init`` only."""
    root = base / "bench"
    names = [f"service-{index:02d}" for index in range(1, ENDPOINTS + 1)]
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for name in names:
        folder = root / "endpoints" / name
        folder.mkdir(parents=True)
        (folder / "endpoint.yaml").write_text(f"port: 8000\nroutes: [/{name}]\n")
        (folder / ".workbench-answers.yaml").write_text("kind: endpoint\ntemplate: python\n")
        subprocess.run([*git, "init", "-q", "-b", "main", str(folder)], check=True)
        subprocess.run([*git, "-C", str(folder), "add", "-A"], check=True)
        subprocess.run([*git, "-C", str(folder), "commit", "-q", "-m", "init"], check=True)
    (root / "models").mkdir()
    (root / "utilities").mkdir()
    (root / "workbench.yaml").write_text(
        f"project: bench\nendpoints: [{', '.join(names)}]\nmodels: []\nutilities: []\n"
        + ENVIRONMENTS)
    subprocess.run([*git, "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run([*git, "-C", str(root), "add", "workbench.yaml"], check=True)
    subprocess.run([*git, "-C", str(root), "commit", "-q", "-m", "init"], check=True)
    return root


def isolate(base: Path) -> None:
    """Keep the user's registry and settings out of the measurement."""
    for variable, folder in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"),
                             ("XDG_DATA_HOME", "data")):
        (base / folder).mkdir(exist_ok=True)
        os.environ[variable] = str(base / folder)


async def time_workbench(root: Path) -> tuple[float, float, float]:
    from screens.app import WorkbenchApp
    from screens.main import MainScreen, discover

    marks: dict[str, float] = {}

    class TimedMain(MainScreen):
        def on_mount(self) -> None:
            self.call_after_refresh(lambda: marks.setdefault("paint", time.perf_counter()))

        def _show_loaded(self, *args: Any) -> None:
            super()._show_loaded(*args)
            self.call_after_refresh(lambda: marks.setdefault("rows", time.perf_counter()))

        def on_main_screen_listed(self, _message: MainScreen.Listed) -> None:
            def done() -> None:
                marks["git"] = time.perf_counter()
                self.app.exit()

            self.call_after_refresh(done)

    class TimedApp(WorkbenchApp):
        MAIN_SCREEN = TimedMain

    started = time.perf_counter()
    app = TimedApp(root, discovery=discover(root, read_first=True))  # as screens.app.run does
    await app.run_async(headless=True, size=SIZE)
    return (marks["paint"] - started, marks["rows"] - started, marks["git"] - started)


async def time_bare(root: Path) -> tuple[float, float, float]:
    """Header, OptionList | DataTable | DataTable, Footer with the same five keys shown:
    filled synchronously on mount."""
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.containers import Horizontal
    from textual.widgets import DataTable, Footer, Header, OptionList, Static

    names = [f"service-{index:02d}" for index in range(1, ENDPOINTS + 1)]
    marks: dict[str, float] = {}

    class Bare(App[None]):
        BINDINGS: ClassVar[list[Binding]] = [
            Binding("n", "nothing", "New"), Binding("slash", "nothing", "Filter"),
            Binding("ctrl+r", "nothing", "Refresh"), Binding("q", "quit", "Quit"),
            Binding("question_mark", "nothing", "Help"),
        ]
        CSS = """
        Horizontal { height: 1fr; }
        OptionList { width: 18; border: round $panel; }
        DataTable { width: 1fr; border: round $panel; }
        """

        def compose(self) -> ComposeResult:
            yield Header()
            with Horizontal():
                yield OptionList("bench", str(root))
                yield DataTable(id="endpoints", cursor_type="row")
                yield DataTable(id="matrix", cursor_type="cell", header_height=4)
            yield Static("local: docker on the local Docker engine")
            yield Footer()

        def action_nothing(self) -> None:
            """The bare app's keys do nothing; they are there for the footer."""

        def on_mount(self) -> None:
            endpoints = self.query_one("#endpoints", DataTable)
            endpoints.add_columns("kind", "name", "template", "git")
            for name in names:
                endpoints.add_row("endpoint", name, "python", "main clean", key=name)
            matrix = self.query_one("#matrix", DataTable)
            for env in ("local", "staging", "production"):
                matrix.add_column(f"{env}\ndocker\n1 host\n ", key=env)
            for name in names:
                matrix.add_row("-", "-", "-", key=name, label=name)

            def done() -> None:
                marks["paint"] = time.perf_counter()
                self.exit()

            self.call_after_refresh(done)

    started = time.perf_counter()
    app = Bare()
    await app.run_async(headless=True, size=SIZE)
    done = marks["paint"] - started
    return done, done, done  # it paints its rows (and fake git text) in its first frame


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as temp:
        base = Path(temp)
        isolate(base)
        built = time.perf_counter()
        root = build_project(base)
        print(f"project: {ENDPOINTS} endpoints x 3 environments in {root} "
              f"(built in {time.perf_counter() - built:.1f}s)")
        import screens.app  # noqa: F401 - imports are not part of the measurement

        asyncio.run(time_bare(root))  # warm-up: Textual's first run loads more code
        asyncio.run(time_workbench(root))
        bare: list[tuple[float, float, float]] = []
        ours: list[tuple[float, float, float]] = []
        for _ in range(rounds):
            gc.collect()  # the garbage of the previous round is not this round's cost
            bare.append(asyncio.run(time_bare(root)))
            gc.collect()
            ours.append(asyncio.run(time_workbench(root)))
    print(f"{rounds} rounds each, headless {SIZE[0]}x{SIZE[1]}; median (min)")
    for label, index in (("first paint", 0), ("rows shown", 1), ("git shown", 2)):
        ours_ms = [t[index] * 1000 for t in ours]
        bare_ms = [t[index] * 1000 for t in bare]
        mid, low = statistics.median(ours_ms), min(ours_ms)
        bare_mid, bare_low = statistics.median(bare_ms), min(bare_ms)
        print(f"{label:12} workbench {mid:6.1f} ms ({low:6.1f})   bare textual {bare_mid:6.1f} ms "
              f"({bare_low:6.1f})   ratio {mid / bare_mid:.2f}x ({low / bare_low:.2f}x)")


if __name__ == "__main__":
    main()
