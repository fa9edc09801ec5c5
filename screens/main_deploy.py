"""The main screen's deploy, rollback and lock actions (a mixin of
:class:`~screens.main.MainScreen`): they pick an environment, guard it, and open the run
screens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.model import Environment, Project

from .deploy_run import DeployRunScreen
from .guard import guarded
from .main_parts import MainParts
from .panes import EndpointsPane, EnvironmentsPane, ProjectsPane, row_key
from .releases_view import EnvironmentPicker, LockView, ReleasePicker

if TYPE_CHECKING:

    from workbench.ops.listing import Listing

    from .matrix import StatusProvider


class DeployActions(MainParts):
    """Deploy, rollback and lock, for the endpoint under the cursor or all of them."""

    if TYPE_CHECKING:
        def _fill_status(self, root: Path, listing: Listing, provider: StatusProvider
                         ) -> Any: ...

    def _highlighted_endpoint(self, what: str) -> str | None:
        """The endpoint under the cursor (pane 2 or the matrix), else None with a note."""
        assert self.listing is not None
        project = self.listing.project
        pane = self.focused_pane
        if isinstance(pane, EnvironmentsPane):
            name = row_key(pane.list_widget)
        else:
            name = self.query_one(EndpointsPane).selected_name
        child = next((c for c in project.children if c.name == name), None)
        if child is None:
            self.notify("Highlight an endpoint first (pane 2).", title=what.capitalize())
            return None
        if child.kind != "endpoint":
            self.notify(f"'{child.name}' is a {child.kind}: only endpoints are deployed (they "
                        "include it).", title=what.capitalize())
            return None
        return child.name

    def _pick_environment(self, what: str, then: Any) -> None:
        assert self.listing is not None
        project = self.listing.project
        env = self.selected_environment
        picker = EnvironmentPicker(project, what, env.name if env is not None else None)

        def picked(name: str | None) -> None:
            if name is None:
                return
            chosen = project.environment(name)
            then(project, chosen)

        self.app.push_screen(picker, picked)

    def _deployed(self, _result: object = None) -> None:
        """Back from a deploy or rollback: read the matrix's versions again (a live matrix
        has seen the containers start already)."""
        if getattr(self, "live", False):
            return
        if self.status is not None and self.listing is not None and self.current is not None:
            self._fill_status(self.current, self.listing, self.status)

    def action_deploy(self, scope: str = "highlighted") -> None:
        """Deploy the highlighted endpoint, or all (pane 1, or scope "all"), to a picked
        environment."""
        if self.listing is None:
            return
        project = self.listing.project
        if not project.endpoints:
            self.notify(f"Project '{project.name}' has no endpoints to deploy: press n to "
                        "create one.", title="Deploy", severity="warning")
            return
        pane = self.focused_pane
        names: tuple[str, ...] = ()
        if not (scope == "all" or isinstance(pane, ProjectsPane)):
            name = self._highlighted_endpoint("deploy")
            if name is None:
                return
            names = (name,)
        what = f"deploy {', '.join(names) or 'all endpoints'}"

        def go(project: Project, env: Environment) -> None:
            guarded(self, env, what, lambda: self.app.push_screen(
                DeployRunScreen(project, env.name, names), self._deployed))

        self._pick_environment(f"Deploy {', '.join(names) or 'all endpoints'} to…", go)

    def action_rollback(self) -> None:
        if self.listing is None:
            return
        name = self._highlighted_endpoint("rollback")
        if name is None:
            return

        def go(project: Project, env: Environment) -> None:
            if env.readonly:
                guarded(self, env, f"rollback of {name}", lambda: None)
                return

            def picked(version: str | None) -> None:
                if version is None:
                    return
                guarded(self, env, f"rollback of {name} to {version[:12]}",
                        lambda: self.app.push_screen(DeployRunScreen(
                            project, env.name, (name,), mode="rollback", to=version),
                            self._deployed))

            self.app.push_screen(ReleasePicker(project, env.name, name), picked)

        self._pick_environment(f"Roll back {name} in…", go)

    def action_lock(self) -> None:
        if self.listing is None:
            return
        self._pick_environment("Show the deploy lock of…", lambda project, env: (
            self.app.push_screen(LockView(project, env.name))))
