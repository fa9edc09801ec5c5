"""The main screen's sync and update actions (a mixin of :class:`~screens.main.MainScreen`):
``s`` opens the sync screen over every repo of the project, ``u`` the update screen for the
highlighted folder (in the projects pane, or ``update('all')``: the project and every child).
Both read the project again when they close."""

from __future__ import annotations

from .main_parts import MainParts
from .panes import EndpointsPane, EnvironmentsPane, ProjectsPane, row_key
from .sync_view import SyncScreen
from .update_view import UpdateScreen


class TeamActions(MainParts):
    """Sync every repo; update folders from newer template versions."""

    def action_sync(self) -> None:
        if self.listing is None or self.current is None:
            return
        self.app.push_screen(SyncScreen(self.listing.project), self._reread)

    def action_update(self, scope: str = "highlighted") -> None:
        """Update the highlighted folder, or every one (pane 1, or scope "all")."""
        from workbench.ops.update import Target

        if self.listing is None:
            return
        project = self.listing.project
        pane = self.focused_pane
        if scope == "all" or isinstance(pane, ProjectsPane):
            targets = [Target("project", project.name, project.root)]
            targets += [Target(c.kind, c.name, c.path) for c in project.children]
        else:
            name = (row_key(pane.list_widget) if isinstance(pane, EnvironmentsPane)
                    else self.query_one(EndpointsPane).selected_name)
            child = next((c for c in project.children if c.name == name), None)
            if child is None:
                self.notify("Highlight an endpoint, model or utility first (pane 2); in "
                            "pane 1, u updates them all.", title="Update")
                return
            targets = [Target(child.kind, child.name, child.path)]
        self.app.push_screen(UpdateScreen(targets), self._reread)

    def _reread(self, _result: object = None) -> None:
        """Back from sync or update: git state and template versions have changed."""
        if self.current is not None:
            in_pane_2 = isinstance(self.focused_pane, EndpointsPane)
            selected = self.query_one(EndpointsPane).selected_name if in_pane_2 else None
            self.open_project(self.current, select=selected)
