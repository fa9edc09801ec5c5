"""The update screen: what applying the current template versions would change, then ``y``
(or enter) applies it (:mod:`workbench.ops.update`).

Plans are computed in a thread worker (rendering both template versions and merging them with
the folder); the screen shows one line per folder (from/to version, files, conflicts, or why
it cannot be updated), the changelog, and the diff. Applying commits each clean merge, and
leaves git's conflict markers (nothing committed) where your edits and the template clash.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from .common import failure_line

if TYPE_CHECKING:  # the operation is imported when the screen works, not when the app starts
    from workbench.ops.update import Target, UpdateOutcome, UpdatePlan

PlanItem = tuple["Target", "UpdatePlan | None", "str | None"]
"""A folder, its plan (None: nothing to do) and why it cannot be updated (None: it can)."""


def plan_line(item: PlanItem) -> Text:
    """``endpoint orders: python v1 → v2, 3 files, 1 conflict (app.py)``."""
    target, plan, error = item
    head = f"{target.kind} {target.name}: "
    if error is not None:
        return Text.assemble(head, ("cannot update: " + error, "red"))
    if plan is None:
        return Text.assemble(head, ("at its template's current version", "dim"))
    files = sum(1 for c in plan.changes if c.writes) - 1  # the answers file is not news
    text = Text.assemble(head, (f"{plan.template} v{plan.from_version} → v{plan.to_version}",
                                "bold"), f", {files} file{'s' if files != 1 else ''}")
    if plan.conflicts:
        names = ", ".join(c.path for c in plan.conflicts)
        text.append(f", {len(plan.conflicts)} conflict{'s' if len(plan.conflicts) > 1 else ''}"
                    f" ({names}): left with markers, not committed", style="bold yellow")
    return text


def outcome_line(outcome: UpdateOutcome) -> Text:
    style = "green" if outcome.status == "updated" else "red" if not outcome.ok else "dim"
    return Text(("✓ " if outcome.ok else "✗ ") + outcome.line(), style)


class UpdateScreen(Screen["tuple[UpdateOutcome, ...] | None"]):
    """Shows the update of ``targets`` and applies it on ``y``; dismissed with the outcomes
    (None when nothing was applied)."""

    CSS_PATH = Path(__file__).with_name("update_view.tcss")
    HELP_TITLE = "Update from templates"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "apply", "Apply", id="apply",
                tooltip="Apply the diff: clean merges are committed, conflicts are left with "
                "markers for you to resolve"),
        Binding("escape", "back", "Back", id="back",
                tooltip="Back to the main screen (before y: nothing changes)"),
    ]

    class Planned(Message):
        def __init__(self, items: list[PlanItem]) -> None:
            super().__init__()
            self.items = items

    class Applied(Message):
        def __init__(self, outcomes: list[UpdateOutcome], error: str | None) -> None:
            super().__init__()
            self.outcomes, self.error = outcomes, error

    def __init__(self, targets: Sequence[Target]) -> None:
        super().__init__()
        self.targets = tuple(targets)
        self.items: list[PlanItem] | None = None
        self.outcomes: tuple[UpdateOutcome, ...] | None = None
        self.busy = True

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("● reading the templates and merging…", "bold yellow"), id="plans")
        with VerticalScroll(id="diff-box"):
            yield Static("", id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = ", ".join(f"{t.kind} {t.name}" for t in self.targets)
        self.query_one("#diff-box").border_title = "diff"
        self._plan(self.targets)

    @property
    def plans(self) -> list[UpdatePlan]:
        return [plan for _, plan, error in self.items or () if plan is not None]

    # -- work -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="update")
    def _plan(self, targets: tuple[Target, ...]) -> None:
        from workbench.ops.update import plan_update

        items: list[PlanItem] = []
        for target in targets:
            try:
                items.append((target, plan_update(target), None))
            except Exception as exc:  # one folder's refusal is a line, never a crash
                items.append((target, None, failure_line(exc)))
        self.post_message(self.Planned(items))

    @work(thread=True, exclusive=True, group="update")
    def _apply(self, plans: list[UpdatePlan]) -> None:
        from workbench.ops.update import apply_update

        outcomes: list[UpdateOutcome] = []
        try:
            for plan in plans:
                outcomes.append(apply_update(plan))
        except Exception as exc:
            self.post_message(self.Applied(outcomes, failure_line(exc)))
            return
        self.post_message(self.Applied(outcomes, None))

    def on_update_screen_planned(self, message: Planned) -> None:
        self.items = message.items
        self.busy = False
        lines = [plan_line(item) for item in message.items]
        changelog = sorted({line for plan in self.plans for line in plan.changelog})
        if changelog:
            lines.append(Text("what changed in the templates:", "underline"))
            lines += [Text("  " + line) for line in changelog]
        if self.plans:
            lines.append(Text("y applies it, esc goes back without changing anything",
                              "bold"))
        else:
            lines.append(Text("Nothing to update.", "bold"))
        self.query_one("#plans", Static).update(Text("\n").join(lines))
        from rich.syntax import Syntax

        diff = "".join(f"# {p.target.kind} {p.target.name}\n{p.diff()}" for p in self.plans)
        self.query_one("#diff", Static).update(
            Syntax(diff, "diff", theme="ansi_dark", word_wrap=False) if diff else "")
        self.refresh_bindings()

    def on_update_screen_applied(self, message: Applied) -> None:
        self.busy = False
        self.outcomes = tuple(message.outcomes)
        lines = [outcome_line(o) for o in message.outcomes]
        if message.error is not None:
            lines.append(Text(f"✗ {message.error}", "bold red"))
        lines.append(Text("esc goes back", "dim"))
        self.query_one("#plans", Static).update(Text("\n").join(lines))
        self.refresh_bindings()

    # -- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply":
            return True if self.plans and self.outcomes is None and not self.busy else None
        if action == "back":
            return None if self.busy else True
        return True

    def action_apply(self) -> None:
        if self.check_action("apply", ()) is True:
            self.busy = True
            self.refresh_bindings()
            self.query_one("#plans", Static).update(Text("● applying…", "bold yellow"))
            self._apply(self.plans)

    def action_back(self) -> None:
        if not self.busy:
            self.dismiss(self.outcomes)
