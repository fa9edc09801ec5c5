"""The main screen: Projects | Endpoints | Environments, side by side.

It renders and routes only: reading the registry, listing a project and asking the status
provider run in thread workers, and their results come back as messages. Its actions for
environments (deploy, rollback, lock), for the team's repos (sync, update) and its filter
bar live in mixins beside it; its palette entries in :mod:`screens.main_commands`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header

from workbench.model import Environment, Project, load_project
from workbench.ops.listing import Listing, list_project

from .common import failure_line
from .deploy_status import reasons
from .detail import CSS_PATH as DETAIL_CSS
from .discovery import Discovery, discover
from .guard import has_environment_actions, hidden
from .main_commands import main_commands
from .main_deploy import DeployActions
from .main_filter import FilterActions
from .main_inspect import InspectActions
from .main_live import LiveActions
from .main_local import LocalActions
from .main_team import TeamActions
from .matrix import CellUpdate, StatusProvider
from .palette import Command
from .panes import EndpointsPane, EnvironmentsPane, Pane, ProjectsPane

__all__ = ["Discovery", "MainScreen", "discover"]

PANES = ("projects", "endpoints", "environments")


class MainScreen(LocalActions, DeployActions, TeamActions, FilterActions, InspectActions,
                 LiveActions, Screen[None]):
    """Three panes over one project; the project is chosen in the first pane."""

    CSS_PATH = [Path(__file__).with_name("main.tcss"), DETAIL_CSS]
    AUTO_FOCUS = "#endpoint-table"
    HELP_TITLE = "Main screen"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "focus_pane('projects')", "Projects", id="focus_projects", show=False,
                tooltip="Go to the projects pane; enter opens the highlighted project"),
        Binding("2", "focus_pane('endpoints')", "Endpoints", id="focus_endpoints", show=False,
                tooltip="Go to the endpoints, models and utilities"),
        Binding("3", "focus_pane('environments')", "Environments", id="focus_environments",
                show=False, tooltip="Go to the endpoint x environment matrix"),
        Binding("tab", "next_pane", "Next pane", id="focus_next", show=False,
                tooltip="Go to the next pane"),
        Binding("shift+tab", "previous_pane", "Previous pane", id="focus_previous",
                show=False, tooltip="Go to the previous pane"),
        Binding("n", "new('endpoint')", "New", id="new",
                tooltip="Create an endpoint, model or utility (a form)"),
        Binding("t", "test", "Test", id="test",
                tooltip="Build, run, health-check and test the highlighted endpoint in "
                "throwaway containers (in pane 1: every endpoint)"),
        Binding("d", "deploy", "Deploy", id="deploy",
                tooltip="Deploy the highlighted endpoint (in pane 1: every endpoint) to an "
                "environment you pick; a protected one asks for its name"),
        Binding("r", "rollback", "Rollback", id="rollback",
                tooltip="Roll the highlighted endpoint back to a release picked from its "
                "history"),
        Binding("c", "compare", "Compare", id="compare", show=False,
                tooltip="Compare two environments, or one against the repo, side by side"),
        Binding("L", "lock", "Lock", id="lock", show=False,
                tooltip="Show an environment's deploy lock (and release it)"),
        Binding("s", "sync", "Sync", id="sync", show=False,
                tooltip="Fetch every repo of the project, fast-forward the ones behind, and "
                "show each one's branch, ahead/behind and dirty state (p there also pushes)"),
        Binding("u", "update", "Update", id="update", show=False,
                tooltip="Show what the newer template version changes in the highlighted "
                "folder (in pane 1: every folder), then apply it with y"),
        Binding("l", "logs", "Logs", id="logs", show=False,
                tooltip="Follow the logs of the highlighted endpoint in the highlighted "
                "environment (pane 3), every host merged in time order; s picks a host"),
        Binding("h", "releases", "Releases", id="releases", show=False,
                tooltip="The release history of the highlighted endpoint in the highlighted "
                "environment (pane 3); enter rolls back to the picked release"),
        Binding("D", "diff", "Diff", id="diff", show=False,
                tooltip="The highlighted environment (pane 3) against the repo, side by side"),
        Binding("slash", "filter", "Filter", id="filter",
                tooltip="Filter the focused list as you type; esc clears it"),
        Binding("ctrl+r", "refresh", "Refresh", id="refresh",
                tooltip="Read the projects, endpoints and git state again"),
        Binding("escape", "back", "Back", id="back", show=False,
                tooltip="Close the filter, or clear the focused list's filter"),
    ]

    class ProjectsFound(Message):
        def __init__(self, discovery: Discovery) -> None:
            super().__init__()
            self.discovery = discovery

    class Loaded(Message):
        def __init__(self, root: Path, project: Project, select: str | None) -> None:
            super().__init__()
            self.root, self.project, self.select = root, project, select

    class Listed(Message):
        def __init__(self, root: Path, listing: Listing, select: str | None) -> None:
            super().__init__()
            self.root, self.listing, self.select = root, listing, select

    class ListingFailed(Message):
        def __init__(self, root: Path, line: str) -> None:
            super().__init__()
            self.root, self.line = root, line

    class CellsUpdated(Message):
        def __init__(self, root: Path, updates: list[CellUpdate]) -> None:
            super().__init__()
            self.root, self.updates = root, updates

    def __init__(self, start: Path, discovery: Discovery,
                 status: StatusProvider | None = None) -> None:
        super().__init__()
        self.start = start
        self.discovery = discovery
        self.status = status
        self.current: Path | None = discovery.first
        self.listing: Listing | None = None
        self._filter_target: Pane | None = None
        self._env_allowed = False
        self._env_actions = has_environment_actions(self)
        self._status_reasons: dict[str, str] = {}
        self._live_stop: threading.Event | None = None

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            yield ProjectsPane(id="projects")
            yield EndpointsPane(id="endpoints")
            yield EnvironmentsPane(id="environments")
        yield Footer()  # the filter bar is mounted above it on the first "/"

    def on_unmount(self) -> None:
        self._stop_live()

    def on_mount(self) -> None:
        if self.discovery.error:
            self.notify(self.discovery.error, title="Project registry", severity="error")
        if self.current is not None:
            project = self.discovery.project
            ready = project if project is not None and project.root == self.current else None
            self.open_project(self.current, project=ready)
        else:
            self.query_one(ProjectsPane).show(list(self.discovery.items), None)
            self.query_one(EndpointsPane).note("Choose a project in pane 1 (enter opens it).")

    def pane(self, name: str) -> Pane:
        return self.query_one(f"#{name}", Pane)

    @property
    def focused_pane(self) -> Pane | None:
        node = self.focused
        while node is not None and not isinstance(node, Pane):
            node = node.parent  # type: ignore[assignment]
        return node

    @property
    def selected_environment(self) -> Environment | None:
        return self.query_one(EnvironmentsPane).selected_environment

    # -- loading (workers) ----------------------------------------------------------------
    def open_project(self, root: Path, select: str | None = None, *,
                     project: Project | None = None) -> None:
        """Show ``root`` in the panes: its files are read in a worker (unless ``project`` is
        that, already read), then its git state."""
        if root != self.current or self.listing is None:
            self._stop_live()
            had_listing = self.listing is not None
            self.listing = None
            self.query_one(EnvironmentsPane).clear()
            self.query_one(EndpointsPane).show_loading(root.name)
            if had_listing:
                self.refresh_bindings()  # "new" waits for the listing
        self.current = root
        self.sub_title = str(root)
        self.query_one(ProjectsPane).show(list(self.discovery.items), root)
        if project is not None:
            self._show_loaded(root, project, select)
        else:
            self._load(root, select)

    @work(thread=True, exclusive=True, group="listing")
    def _load(self, root: Path, select: str | None) -> None:
        """The project's files: fast, so the panes fill at once."""
        try:
            project = load_project(root)
        except Exception as exc:  # every failure is shown, none crashes the app
            self.post_message(self.ListingFailed(root, failure_line(exc)))
            return
        self.post_message(self.Loaded(root, project, select))

    @work(thread=True, exclusive=True, group="listing")
    def _list(self, root: Path, select: str | None, project: Project) -> None:
        """Every repo's git state (one ``git status`` each, in parallel)."""
        try:
            listing = list_project(root, project)
        except Exception as exc:
            self.post_message(self.ListingFailed(root, failure_line(exc)))
            return
        self.post_message(self.Listed(root, listing, select))

    @work(thread=True, exclusive=True, group="projects")
    def _discover(self) -> None:
        try:
            found = discover(self.start)
        except Exception as exc:
            found = Discovery(None, self.discovery.items, failure_line(exc))
        self.post_message(self.ProjectsFound(found))

    @work(thread=True, exclusive=True, group="status")
    def _fill_status(self, root: Path, listing: Listing, provider: StatusProvider) -> None:
        batch: list[CellUpdate] = []
        try:
            for update in provider(listing):
                batch.append(update)
                if len(batch) >= 16:
                    self.post_message(self.CellsUpdated(root, batch))
                    batch = []
        except Exception as exc:
            self.app.call_from_thread(self.notify, failure_line(exc), title="Status",
                                      severity="error")
        if batch:
            self.post_message(self.CellsUpdated(root, batch))

    # -- results ----------------------------------------------------------------------------
    def _show_projects(self, discovery: Discovery) -> None:
        self.discovery = discovery
        self.query_one(ProjectsPane).show(list(discovery.items), self.current)
        if discovery.error:
            self.notify(discovery.error, title="Project registry", severity="error")

    def on_main_screen_projects_found(self, message: ProjectsFound) -> None:
        self._show_projects(message.discovery)

    def on_main_screen_loaded(self, message: Loaded) -> None:
        if message.root == self.current:  # else the user switched projects meanwhile
            self._show_loaded(message.root, message.project, message.select)

    def _show_loaded(self, root: Path, project: Project, select: str | None) -> None:
        if self.listing is None:  # a refresh keeps the shown git state until the new one
            self.query_one(EndpointsPane).show_project(project)
            self.query_one(EnvironmentsPane).show(project)
        # git runs once this frame is painted, so its threads do not slow the paint down
        self.call_after_refresh(self._list, root, select, project)

    def on_main_screen_listed(self, message: Listed) -> None:
        if message.root != self.current:
            return  # the user switched projects meanwhile
        first = self.listing is None
        self.listing = message.listing
        self.query_one(EndpointsPane).show(message.listing.rows)
        self.query_one(EnvironmentsPane).show(message.listing.project)
        if message.select and self.query_one(EndpointsPane).select(message.select):
            self.query_one(EndpointsPane).focus_list()
        if first:
            self.refresh_bindings()
        if self.status is not None and self.live:
            self._start_live(message.root, message.listing, self.status)  # type: ignore[arg-type]
        elif self.status is not None:
            self._fill_status(message.root, message.listing, self.status)

    def on_main_screen_listing_failed(self, message: ListingFailed) -> None:
        if message.root != self.current:
            return
        self.listing = None
        self.query_one(EndpointsPane).show_error(message.line)
        self.query_one(EnvironmentsPane).clear()
        self.notify(message.line, title=f"Cannot read {message.root.name}", severity="error")
        self.refresh_bindings()

    def on_main_screen_cells_updated(self, message: CellsUpdated) -> None:
        if message.root == self.current and self.query(EnvironmentsPane):  # not closing
            self.query_one(EnvironmentsPane).update_cells(message.updates)
            for update in message.updates:  # a later read of an environment clears its reason
                self._status_reasons.pop(update.environment, None)
            self._status_reasons.update(reasons(message.updates))
            self._show_status_reason()

    def _show_status_reason(self) -> None:
        """Why the selected environment's cells show ``?`` (as the matrix's tooltip)."""
        env = self.selected_environment
        reason = self._status_reasons.get(env.name) if env is not None else None
        self.query_one(EnvironmentsPane).list_widget.tooltip = (
            f"{env.name}: {reason}" if env is not None and reason else None)

    def on_projects_pane_chosen(self, message: ProjectsPane.Chosen) -> None:
        item = message.item
        if not item.exists:
            self.notify(f"project '{item.name}' is missing: {item.path} was moved or deleted; "
                        f"'workbench --batch projects --forget {item.path}' removes it",
                        title="Missing project", severity="error")
            return
        self.open_project(item.path)
        self.query_one(EndpointsPane).focus_list()

    def on_environments_pane_selected(self, message: EnvironmentsPane.Selected) -> None:
        env = message.environment
        if self._status_reasons:
            self._show_status_reason()
        allowed = env is not None and not env.readonly
        if allowed != self._env_allowed:  # only then can a binding appear or hide
            self._env_allowed = allowed
            if self._env_actions:
                self.refresh_bindings()

    # -- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if hidden(self, action, self.selected_environment):
            return False
        if action in ("new", "test", "deploy", "rollback", "lock", "sync", "update", "releases",
                      "logs", "diff"):
            return True if self.listing is not None else None
        if action == "open_project":
            return bool(parameters) and Path(str(parameters[0])) != self.current
        return True

    def action_focus_pane(self, name: str) -> None:
        self.pane(name).focus_list()

    def action_next_pane(self) -> None:
        self.focus_next()

    def action_previous_pane(self) -> None:
        self.focus_previous()

    def action_refresh(self) -> None:
        self._discover()
        if self.current is not None:
            self.open_project(self.current)

    def action_open_project(self, path: str) -> None:
        self.open_project(Path(path))

    def action_open_demo(self) -> None:
        self._open_demo()

    @work(thread=True, exclusive=True, group="demo")
    def _open_demo(self) -> None:
        from workbench.ops.demo import ensure_demo

        try:
            root = ensure_demo()
        except Exception as exc:
            self.app.call_from_thread(self.notify, failure_line(exc), title="Demo project",
                                      severity="error")
            return
        self.app.call_from_thread(self._demo_ready, root)

    def _demo_ready(self, root: Path) -> None:
        self._discover()  # the demo is registered now
        self.open_project(root)

    # -- palette ----------------------------------------------------------------------------
    def commands(self) -> Iterable[Command]:
        """Every action of this screen, for the command palette."""
        return main_commands(self.discovery.items)
