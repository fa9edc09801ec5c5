"""The main screen's local actions (a mixin of :class:`~screens.main.MainScreen`): ``n`` makes
a new endpoint, model or utility with the new-child form, ``t`` tests the highlighted endpoint
(in the projects pane, or ``test('all')``: every endpoint of the project)."""

from __future__ import annotations

from workbench.model import Kind
from workbench.ops.new import Created

from .main_parts import MainParts
from .new_child import NewChildForm
from .panes import EndpointsPane, EnvironmentsPane, ProjectsPane, row_key
from .test_run import TestRunScreen


class LocalActions(MainParts):
    """New children, and the local test loop."""

    def action_new(self, kind: Kind = "endpoint") -> None:
        if self.current is None:
            return
        root = self.current

        def done(created: Created | None) -> None:
            if created is None:
                return
            where = f", pushed to {created.remote}" if created.remote else ""
            self.notify(f"Created {created.kind} {created.name}{where}.", title="New")
            self.open_project(root, select=created.name)

        self.app.push_screen(NewChildForm(root, kind), done)

    def action_test(self, scope: str = "highlighted") -> None:
        """Test the highlighted endpoint, or all of the project (pane 1, or scope "all")."""
        if self.listing is None:
            return
        project = self.listing.project
        if not project.endpoints:
            self.notify(f"Project '{project.name}' has no endpoints to test: press n to "
                        "create one.", title="Test", severity="warning")
            return
        pane = self.focused_pane
        if isinstance(pane, ProjectsPane) and scope != "all":
            option = pane.list_widget.highlighted_option
            if option is not None and option.id != str(project.root):
                self.notify("Press enter to open that project first; t then tests all its "
                            "endpoints.", title="Test")
                return
        if scope == "all" or isinstance(pane, ProjectsPane):
            self.app.push_screen(TestRunScreen(project))
            return
        if isinstance(pane, EnvironmentsPane):
            name = row_key(pane.list_widget)
        else:
            name = self.query_one(EndpointsPane).selected_name
        child = next((c for c in project.children if c.name == name), None)
        if child is None:
            self.notify("Highlight an endpoint first (pane 2).", title="Test")
        elif child.kind != "endpoint":
            self.notify(f"'{child.name}' is a {child.kind}: only endpoints are tested (they "
                        "include it). In pane 1, t tests all endpoints.", title="Test")
        else:
            self.app.push_screen(TestRunScreen(project, (child.name,)))
