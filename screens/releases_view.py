"""Small dialogs of the deploy keys: pick an environment, pick a release to roll back to, the lock.

- :class:`EnvironmentPicker` lists every environment (``local`` too); a readonly one is shown
  but cannot be picked. It answers the environment's name.
- :class:`ReleasePicker` reads an endpoint's history in an async worker and lists the earlier
  successful releases (newest first, the current one excluded). It answers a version.
- :class:`LockView` shows who holds an environment's deploy lock, and releases it after the
  user types the environment's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from workbench.model import Environment, Project
from workbench.ops.environment import history, lock_release, lock_status
from workbench.releases import Release, current
from workbench.sites import open_sites

from .common import failure_line
from .confirm import ConfirmByName

CSS = Path(__file__).with_name("releases_view.tcss")


def environment_option(env: Environment) -> Option:
    hosts = "local engine" if env.is_local else ", ".join(h.spec for h in env.hosts)
    text = Text.assemble((env.name, "bold"), (f"  {env.engine} on {hosts}", "dim"))
    if env.protected:
        text.append("  protected", style="bold yellow")
    if env.readonly:
        text.append("  readonly", style="bold magenta")
    return Option(text, id=env.name, disabled=env.readonly)


class EnvironmentPicker(ModalScreen[str | None]):
    """Which environment ``what`` goes to; answers its name, or None."""

    CSS_PATH = CSS
    HELP_TITLE = "Pick an environment"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Cancel", id="back", tooltip="Cancel: change nothing"),
    ]

    def __init__(self, project: Project, what: str, selected: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.what = what
        self.selected = selected

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = self.what
            yield OptionList(*(environment_option(e) for e in self.project.environments),
                             id="environments")
            yield Static("enter picks · esc cancels · readonly environments cannot be "
                         "changed", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        envs = self.project.environments
        usable = [i for i, e in enumerate(envs) if not e.readonly]
        preferred = [i for i, e in enumerate(envs) if e.name == self.selected and not e.readonly]
        if preferred or usable:
            options.highlighted = (preferred or usable)[0]
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_back(self) -> None:
        self.dismiss(None)


def earlier_releases(records: Sequence[Release]) -> list[Release]:
    """Successful releases of another version than the current one: newest first, one each."""
    now = current(list(records))
    seen: set[str] = set()
    result = []
    for record in reversed(records):
        if (record.outcome != "ok" or (now is not None and record.version == now.version)
                or record.version in seen):
            continue
        seen.add(record.version)
        result.append(record)
    return result


def release_line(record: Release) -> Text:
    when = record.time.replace("T", " ").removesuffix("+00:00") + " UTC" if record.time else "?"
    text = Text.assemble((record.version[:12], "bold"), f"  {when}  ",
                         (f"{record.kind} by {record.user or '?'}", "dim"))
    if record.git_sha:
        text.append(f"  git {record.git_sha[:8]}{' dirty' if record.dirty else ''}", style="dim")
    return text


class ReleasePicker(ModalScreen[str | None]):
    """The release of ``endpoint`` in ``env`` to roll back to; answers its version, or None."""

    CSS_PATH = CSS
    HELP_TITLE = "Roll back"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Cancel", id="back", tooltip="Cancel: change nothing"),
    ]

    def __init__(self, project: Project, env: str, endpoint: str) -> None:
        super().__init__()
        self.project, self.env, self.endpoint = project, env, endpoint
        self.records: list[Release] | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = f"Roll back {self.endpoint} in {self.env}"
            yield Static(Text("reading the release history…", style="dim"), id="current")
            yield OptionList(id="releases")
            yield Static("enter rolls back to the release · esc cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).display = False
        self.run_worker(history(self.project, self.env, self.endpoint, open_sites),
                        name="history", group="history", exclusive=True, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "history" or not event.worker.is_finished:
            return
        shown = self.query_one("#current", Static)
        if event.state == WorkerState.SUCCESS:
            self.records = list(event.worker.result or [])
            now = current(self.records)
            earlier = earlier_releases(self.records)
            if now is None:
                shown.update(Text(f"{self.endpoint} was never deployed to {self.env}: "
                                  "nothing to roll back to.", style="yellow"))
                return
            head = Text.assemble("current: ", release_line(now))
            if not earlier:
                head.append("\nno earlier successful release to roll back to.", style="yellow")
            shown.update(head)
            options = self.query_one(OptionList)
            options.add_options([Option(release_line(r), id=r.version) for r in earlier])
            if earlier:
                options.display = True
                options.highlighted = 0
                options.focus()
        elif event.state == WorkerState.ERROR:
            self.error = failure_line(event.worker.error) if event.worker.error else "failed"
            shown.update(Text(f"cannot read the history: {self.error}", style="red"))

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_back(self) -> None:
        self.dismiss(None)


class LockView(ModalScreen[None]):
    """Who holds ``env``'s deploy lock; ``R`` releases it (after typing the name)."""

    CSS_PATH = CSS
    HELP_TITLE = "Deploy lock"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("R", "release", "Release lock", id="lock.release",
                tooltip="Remove the lock (only when its holder is surely gone): type the "
                "environment's name to confirm"),
        Binding("escape", "back", "Close", id="back", tooltip="Close"),
    ]

    def __init__(self, project: Project, env: str) -> None:
        super().__init__()
        self.project, self.env = project, env
        self.status: str | None = None
        self.busy = True

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = f"Deploy lock of {self.env}"
            yield Static(Text("reading the lock…", style="dim"), id="status")
            yield Static("R releases the lock · esc closes", classes="hint")

    def on_mount(self) -> None:
        self._read()

    def _read(self, action: str = "status") -> None:
        self.busy = True
        self.refresh_bindings()
        self.run_worker(self._ask(action), name="lock", group="lock", exclusive=True,
                        exit_on_error=False)

    async def _ask(self, action: str) -> str:
        said = ""
        if action == "release":
            # The user typed the environment's name (ConfirmByName) before this.
            gone = await lock_release(self.project, self.env, open_sites, force=True,
                                      confirm=self.env)
            said = (f"environment '{self.env}' was not locked\n" if gone is None else
                    f"released the lock of environment '{self.env}' held by "
                    f"{gone.describe()}\n")
        held = await lock_status(self.project, self.env, open_sites)
        if held is None:
            return said + f"environment '{self.env}' is not locked"
        stale = held.stale()
        return (said + f"environment '{self.env}' is locked by {held.describe()}"
                + (f"; stale ({stale}): the next deploy takes it over" if stale else ""))

    @property
    def locked(self) -> bool:
        return self.status is not None and " is locked by " in self.status

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "lock" or not event.worker.is_finished:
            return
        self.busy = False
        shown = self.query_one("#status", Static)
        if event.state == WorkerState.SUCCESS:
            self.status = str(event.worker.result)
            shown.update(Text(self.status, style="yellow" if self.locked else ""))
        elif event.state == WorkerState.ERROR:
            line = failure_line(event.worker.error) if event.worker.error else "failed"
            self.status = None
            shown.update(Text(f"cannot read the lock: {line}", style="red"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "release":
            env = self.project.environment(self.env)
            if env.readonly:
                return False
            return True if self.locked and not self.busy else None
        return True

    def action_release(self) -> None:
        if not self.locked or self.busy:
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._read("release")

        self.app.push_screen(ConfirmByName(self.env, "releasing the deploy lock"), answered)

    def action_back(self) -> None:
        self.dismiss(None)
