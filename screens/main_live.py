"""The main screen's live matrix and detail keys (a mixin of :class:`~screens.main.MainScreen`).

A live status provider (:class:`~screens.matrix.LiveProvider`) watches every host in a thread
worker from the moment the project is listed (after the first paint) until another project is
opened, the project is read again, or the screen closes; its updates come back as the screen's
``CellsUpdated`` messages. When the cursor rests on an endpoint x environment, the provider
reads its last log lines for the detail panel (in a worker). ``l`` follows that endpoint's logs
on every host of the environment, ``h`` shows its release history there, ``D`` its
environment against the repo (the compare screen).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import get_current_worker

from workbench.model import Environment, Project

from .common import failure_line
from .detail import LAST_LINES
from .endpoint_logs import EndpointLogs
from .guard import guarded
from .matrix import LiveProvider
from .panes import EnvironmentsPane
from .releases_view import ReleasePicker

if TYPE_CHECKING:
    from textual.screen import Screen

    from workbench.ops.listing import Listing

    from .matrix import StatusProvider

    _Base = Screen[None]
else:
    _Base = object

PAUSE = 0.3
"""Seconds the cursor rests on a cell before its last log lines are read."""


class LiveActions(_Base):
    """Keeps the matrix live; ``l`` logs, ``h`` releases and ``D`` diff of the highlighted
    cell."""

    listing: Listing | None
    status: StatusProvider | None
    _live_stop: threading.Event | None

    if TYPE_CHECKING:
        def _deployed(self, _result: object = None) -> None: ...

        CellsUpdated: Any

    DETAIL_KEYS = "l logs · h releases · D diff vs repo · c compare"

    @property
    def live(self) -> bool:
        """Whether the matrix is kept live by the status provider."""
        return isinstance(self.status, LiveProvider) and bool(getattr(self.status, "live", True))

    def _start_live(self, root: Path, listing: Listing, provider: LiveProvider) -> None:
        """Watch the project's hosts (again: a refresh reads the repo's side anew)."""
        self._stop_live()
        stopped = self._live_stop = threading.Event()
        pane = self.query_one(EnvironmentsPane)
        pane.detail_keys = self.DETAIL_KEYS
        pane.show_detail()
        self._watch(root, listing, provider, stopped)

    def _stop_live(self) -> None:
        if self._live_stop is not None:
            self._live_stop.set()
            self._live_stop = None

    @work(thread=True, group="live")
    def _watch(self, root: Path, listing: Listing, provider: LiveProvider,
               stopped: threading.Event) -> None:
        """Runs until ``stopped`` (another project, a refresh, the screen closed)."""
        try:
            provider.watch(listing, lambda found: self.post_message(
                self.CellsUpdated(root, found)), stopped)
        except Exception as exc:
            if not stopped.is_set():
                self.app.call_from_thread(self.notify, failure_line(exc), title="Live status",
                                          severity="error")

    # -- the detail panel's last lines ------------------------------------------------------
    def on_environments_pane_highlighted(self, message: EnvironmentsPane.Highlighted) -> None:
        if (self.live and self.listing is not None and message.endpoint is not None
                and message.environment is not None):
            self._read_last_lines(self.listing.project, message.environment.name,
                                  message.endpoint)

    @work(thread=True, exclusive=True, group="last-lines")
    def _read_last_lines(self, project: Project, env: str, endpoint: str) -> None:
        worker = get_current_worker()
        time.sleep(PAUSE)  # the cursor may only be passing by
        if worker.is_cancelled or not isinstance(self.status, LiveProvider):
            return
        try:
            lines = tuple(self.status.last_lines(project, env, endpoint, LAST_LINES))
        except Exception as exc:  # shown in the panel, never raised
            lines = (f"(cannot read them: {failure_line(exc)})",)
        if not worker.is_cancelled:
            self.app.call_from_thread(self.query_one(EnvironmentsPane).set_last_lines,
                                      endpoint, env, lines)

    # -- keys -------------------------------------------------------------------------------
    def _highlighted_cell(self, what: str) -> tuple[Project, Environment, str] | None:
        """The project, environment and endpoint under the matrix's cursor (else a note)."""
        if self.listing is None:
            return None
        pane = self.query_one(EnvironmentsPane)
        endpoint, env = pane.selected_endpoint, pane.selected_environment
        if endpoint is None or env is None:
            self.notify("Highlight an endpoint in an environment first (pane 3).",
                        title=what)
            return None
        return self.listing.project, env, endpoint

    def action_logs(self) -> None:
        found = self._highlighted_cell("Logs")
        if found is not None:
            project, env, endpoint = found
            self.app.push_screen(EndpointLogs(project, env.name, endpoint))

    def action_diff(self) -> None:
        """The highlighted environment against the repo, on the compare screen."""
        found = self._highlighted_cell("Diff")
        if found is not None:
            from .compare_rows import REPO
            from .compare_view import CompareScreen

            project, env, _endpoint = found
            self.app.push_screen(CompareScreen(project, env.name, REPO))

    def action_releases(self) -> None:
        found = self._highlighted_cell("Releases")
        if found is None:
            return
        project, env, endpoint = found
        name = env.name

        def picked(version: str | None) -> None:
            if version is None:
                return
            from .deploy_run import DeployRunScreen

            guarded(self, env, f"rollback of {endpoint} to {version[:12]}",
                    lambda: self.app.push_screen(DeployRunScreen(
                        project, name, (endpoint,), mode="rollback", to=version),
                        self._deployed))

        self.app.push_screen(ReleasePicker(project, name, endpoint), picked)
