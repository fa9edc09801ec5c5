"""The workbench TUI: ``workbench [-C DIR]``.

:func:`run` parses the arguments, reads the user's settings (key remaps), finds the projects
(:func:`~screens.main.discover`) and runs :class:`WorkbenchApp`. The app opens the main screen
(a project here, or registered ones) or else the welcome screen, and owns the app-wide keys:
help, palette, quit. Given no discovery (tests, embedding), it finds the projects in a worker.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, NoReturn

from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.message import Message

from workbench import settings as user_settings
from workbench.errors import BadInput, ExitCode, Interrupted, WorkbenchError
from workbench.logstream import favour_throughput

from .common import failure_line
from .compare_view import ComparePicker, CompareScreen
from .confirm import ConfirmByName
from .deploy_run import DeployRunScreen
from .help import HelpScreen, describe
from .main import Discovery, MainScreen, discover
from .matrix import StatusProvider
from .new_child import NewChildForm
from .palette import ActionsProvider
from .releases_view import EnvironmentPicker, LockView, ReleasePicker
from .sync_view import SyncScreen
from .test_run import TestRunScreen
from .update_view import UpdateScreen
from .welcome import WelcomeScreen

PROG = "workbench"


class WorkbenchApp(App[int]):
    """Projects | Endpoints | Environments, driven by the keyboard."""

    TITLE = PROG
    MAIN_SCREEN: ClassVar[type[MainScreen]] = MainScreen
    COMMANDS: ClassVar[set[type[ActionsProvider]]] = {ActionsProvider}  # type: ignore[assignment]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit workbench"),
        Binding("question_mark,f1", "help", "Help", id="help",
                tooltip="Show the keys of this screen"),
        Binding("ctrl+p", "command_palette", "Palette", id="palette", priority=True, show=False,
                tooltip="Search every action of this screen"),
    ]

    class Discovered(Message):
        def __init__(self, discovery: Discovery) -> None:
            super().__init__()
            self.discovery = discovery

    def __init__(self, start: Path, *, settings: user_settings.Settings | None = None,
                 status: StatusProvider | None = None,
                 discovery: Discovery | None = None) -> None:
        """``discovery``: what :func:`~screens.main.discover` found before the app started
        (``run`` does that, so the first screen paints at once); None finds it in a worker."""
        first_css = None
        if discovery is not None:  # read the first screen's stylesheet while starting
            first = WelcomeScreen if discovery.empty else self.MAIN_SCREEN
            first_css = first.CSS_PATH
        super().__init__(css_path=first_css)
        self.start = start
        self.settings = settings
        self.status = status
        self.discovery = discovery
        self._clashes_reported: set[str] = set()

    def on_mount(self) -> None:
        if self.settings is not None and self.settings.keys:
            self.set_keymap(dict(self.settings.keys))
        if self.discovery is None:
            self._discover()
        else:  # pushed rather than made the default screen: that paints sooner (measured)
            self._show_first(self.discovery)

    def _show_first(self, found: Discovery) -> None:
        if found.empty:
            if found.error:
                self.notify(found.error, title="Project registry", severity="error")
            self.push_screen(WelcomeScreen(self.start))
        else:
            self.push_screen(self.MAIN_SCREEN(self.start, found, self.status))

    @work(thread=True, exclusive=True, group="discover")
    def _discover(self) -> None:
        try:
            found = discover(self.start)
        except Exception as exc:
            found = Discovery(None, (), failure_line(exc))
        self.post_message(self.Discovered(found))

    def on_workbench_app_discovered(self, message: Discovered) -> None:
        self._show_first(message.discovery)

    def on_welcome_screen_opened(self, message: WelcomeScreen.Opened) -> None:
        self.open_project(message.root)

    @work(thread=True, exclusive=True, group="discover")
    def open_project(self, root: Path) -> None:
        """Switch to the main screen showing ``root`` (after the registry is read again)."""
        found = discover(self.start)
        self.call_from_thread(self._show_main, Discovery(root, found.items, found.error))

    def _show_main(self, found: Discovery) -> None:
        self.switch_screen(self.MAIN_SCREEN(self.start, found, self.status))

    # -- app-wide actions -----------------------------------------------------------------
    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            screen.dismiss(None)
            return
        title = getattr(screen, "HELP_TITLE", type(screen).__name__)
        self.push_screen(HelpScreen(title, describe(screen)))

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: DOMNode) -> None:
        """Tell the user once when a key of config.yaml replaced another action's key."""
        for binding in clashed_bindings:
            if binding.id and binding.id not in self._clashes_reported:
                self._clashes_reported.add(binding.id)
                self.notify(f"key {binding.key} of '{binding.id}' is taken by another action "
                            "in config.yaml keys:", title="Key clash", severity="warning")

    def _fatal_error(self) -> None:
        """A bug: one line unless WORKBENCH_DEBUG asks for Textual's traceback."""
        if os.environ.get("WORKBENCH_DEBUG"):
            super()._fatal_error()
            return
        error = self._exception
        self.bell()
        line = failure_line(error) if error is not None else "internal error"
        self._exit_renderables.append(Text(f"{PROG}: error: {line}"))
        self._close_messages_no_wait()


# -- entry ------------------------------------------------------------------------------------
SCREENS: tuple[type[DOMNode], ...] = (
    WorkbenchApp, MainScreen, WelcomeScreen, NewChildForm, ConfirmByName, HelpScreen,
    TestRunScreen, DeployRunScreen, EnvironmentPicker, ReleasePicker, LockView, SyncScreen,
    UpdateScreen, ComparePicker, CompareScreen,
)


def binding_ids() -> set[str]:
    """Every binding id of the TUI: what ``keys:`` in config.yaml may remap."""
    return {binding.id for cls in SCREENS for base in cls.__mro__
            for binding in base.__dict__.get("BINDINGS", ())
            if isinstance(binding, Binding) and binding.id}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(message, f"see '{PROG} --help'")


def parse_args(argv: Sequence[str]) -> Path:
    """The start folder from ``-C DIR`` (default: the current folder)."""
    parser = _Parser(prog=PROG, add_help=False)
    parser.add_argument("-C", dest="directory", metavar="DIR")
    args = parser.parse_args(list(argv))
    start = Path(args.directory or os.getcwd())
    if not start.is_dir():
        raise BadInput(f"folder {start} does not exist", "pass an existing folder to -C")
    return start.resolve()


def run(argv: list[str]) -> int:
    """Start the TUI; returns the exit code. Errors print one line, never a traceback."""
    try:
        start = parse_args(argv)
        favour_throughput()
        settings = user_settings.load(binding_ids())
        from .deploy_status import DeployStatus

        app = WorkbenchApp(start, settings=settings, discovery=discover(start, read_first=True),
                           status=DeployStatus())
        app.run()
    except WorkbenchError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return _fail(Interrupted("interrupted", "nothing was left half-made"))
    except Exception as exc:
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        return _fail(WorkbenchError(failure_line(exc)))
    return app.return_code or ExitCode.OK


def _fail(exc: WorkbenchError) -> int:
    print(f"{PROG}: error: {exc.line}", file=sys.stderr)
    return int(exc.exit_code)
