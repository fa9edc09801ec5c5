"""The main screen's compare action (a mixin of :class:`~screens.main.MainScreen`): ``c``
picks an environment, then a second one or the repo, and opens the compare screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .compare_view import ComparePicker, CompareScreen

if TYPE_CHECKING:
    from textual.screen import Screen

    from workbench.model import Environment
    from workbench.ops.listing import Listing

    _Base = Screen[None]
else:
    _Base = object


class InspectActions(_Base):
    """Compare two environments, or one against the repo."""

    listing: Listing | None

    if TYPE_CHECKING:
        @property
        def selected_environment(self) -> Environment | None: ...

    def action_compare(self) -> None:
        if self.listing is None:
            self.notify("The project is still loading.", title="Compare")
            return
        project = self.listing.project
        env = self.selected_environment

        def second(env_a: str | None) -> None:
            if env_a is None:
                return

            def open_compare(env_b: str | None) -> None:
                if env_b is not None:
                    self.app.push_screen(CompareScreen(project, env_a, env_b))

            self.app.push_screen(ComparePicker(project, f"Compare {env_a} with…", skip=env_a,
                                               repo=True), open_compare)

        self.app.push_screen(ComparePicker(project, "Compare…",
                                           selected=env.name if env is not None else None),
                             second)
