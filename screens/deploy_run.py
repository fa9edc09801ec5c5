"""The deploy screen: one deploy (or rollback) of endpoints to an environment.

It follows the test screen (:mod:`screens.test_run`): on top the result, then the plan's phases;
on the left a timeline of every endpoint's steps (build, start, health on each host, then switch,
drain, record) with durations, on the right the :class:`LogView` fed with the build and app logs.

The run is an async worker on the app's loop, so the core's events reach the widgets directly.
``x`` cancels it: before the switch the core removes the new containers (the proxy never pointed
at them), so the old version keeps serving. ``d`` deploys again (not after a rollback). Leaving
(esc, q) during a run cancels it and leaves once that cleanup is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Static

from workbench.model import Project, load_project
from workbench.ops.deploy import DeployOptions, DeployReport, deploy
from workbench.ops.rollback import rollback
from workbench.plan import phases
from workbench.sites import open_sites

from .common import failure_line
from .palette import Command
from .run_screen import RunScreen
from .test_run import MARKS, State, StepRow, Timeline

Mode = Literal["deploy", "rollback"]

HOST_STEPS = (("build", "build"), ("start", "start the new container"),
              ("health", "health check"))
SWITCH_STEPS = (("switch", "switch the proxy"), ("drain", "drain and stop the old container"),
                ("record", "record the release"))
SWARM_STEPS = (("build", "build on the manager"), ("image", "the image on every node"),
               ("service", "the service"), ("rollout", "tasks converge"),
               ("switch", "the proxy's routes"), ("record", "record the release"))
"""A Swarm deploy's or rollback's steps (workbench/swarm/deploy.py; secrets only if any)."""


def deploy_steps(name: str, hosts: Sequence[str],
                 engine: str = "docker") -> list[tuple[str, str]]:
    """The step ids and labels a deploy of ``name`` emits on ``hosts`` (as the core names them);
    on ``engine: swarm`` one set of steps on the manager."""
    if engine == "swarm":
        return [(f"{name}/{suffix}", label) for suffix, label in SWARM_STEPS]
    steps = []
    for host in hosts:
        where = f" on {host}" if len(hosts) > 1 else ""
        steps += [(f"{name}/{suffix}{where}", f"{label}{where}") for suffix, label in HOST_STEPS]
    return steps + [(f"{name}/{suffix}", label) for suffix, label in SWITCH_STEPS]


class DeployTimeline(Timeline):
    """The test screen's timeline with the deploy's steps, and a note per endpoint."""

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(clock, id=id)
        self.notes: dict[str, Text] = {}

    def reset_steps(self, endpoints: Sequence[str], hosts: Sequence[str],
                    engine: str = "docker") -> None:
        self.notes = {}
        self._groups = {name: {step: StepRow(name, step, label)
                               for step, label in deploy_steps(name, hosts, engine)}
                        for name in endpoints}
        self.refresh(layout=True)

    def note(self, endpoint: str, text: Text) -> None:
        self.notes[endpoint] = text
        self.refresh(layout=True)

    def _heading(self, endpoint: str, rows: list[StepRow]) -> Text:
        return self.notes.get(endpoint) or _state_of(rows)


def _state_of(rows: Iterable[StepRow]) -> Text:
    states = {row.state for row in rows}
    shown: tuple[State, ...] = ("failed", "cancelled", "running")
    for state in shown:
        if state in states:
            return Text(f"  {state}", style=MARKS[state][1])
    return Text()


def phases_text(groups: Sequence[Sequence[str]], hosts: Sequence[str]) -> Text:
    """``phase 1: site · phase 2: orders   on user@host``."""
    text = Text()
    for index, group in enumerate(groups, 1):
        if index > 1:
            text.append(" · ", style="dim")
        text.append(f"phase {index}: ", style="bold")
        text.append(", ".join(group))
    text.append(f"   on {', '.join(hosts)}", style="dim")
    return text


class DeployRunScreen(RunScreen[DeployReport]):
    """Deploys ``names`` of ``project`` (all when empty) to ``env``, or rolls one back."""

    CSS_PATH = Path(__file__).with_name("deploy_run.tcss")
    HELP_TITLE = "Deploy"
    NOUN = "deploy"
    TITLE_WORD = "Deploy"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "cancel", "Cancel", id="cancel",
                tooltip="Stop the deploy; new containers are removed before the switch, so "
                "the old version keeps serving"),
        Binding("d", "again", "Deploy again", id="deploy",
                tooltip="Deploy the same endpoints again (the project files are read again)"),
        Binding("escape", "back", "Back", id="back",
                tooltip="Back to the main screen; a running deploy is cancelled first"),
        Binding("q", "quit", "Quit", id="quit", show=False,
                tooltip="Quit workbench; a running deploy is cancelled first"),
    ]

    def __init__(self, project: Project, env: str, names: Sequence[str] = (), *,
                 mode: Mode = "deploy", to: str | None = None,
                 options: DeployOptions | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(project, names, clock)
        self.env = env
        self.mode: Mode = mode
        self.to = to
        # The main screen asked for the name of a protected environment before it came here.
        self.options = options or DeployOptions(lock_wait=5.0, confirm=env)
        self.timeline = DeployTimeline(clock, id="timeline")

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="result")
        yield Static("", id="phases")
        with Horizontal(id="body"):
            with VerticalScroll(id="steps") as steps:
                steps.border_title = "Steps"
                yield self.timeline
                yield Static("", id="summary")
            yield self.log_view
        yield Footer()

    def on_mount(self) -> None:
        what = ", ".join(self.names) or "all endpoints"
        verb = "roll back" if self.mode == "rollback" else "deploy"
        self.sub_title = f"{verb} {what} of {self.project.name} to {self.env}"
        self.log_view.border_title = "Logs (s: source)"
        self.log_view.focus()
        self.set_interval(self.TICK, self._tick)
        self._start()

    @property
    def hosts(self) -> tuple[str, ...]:
        env = self.project.environment(self.env)
        return ("local",) if env.is_local else tuple(h.spec for h in env.hosts)

    # -- the run ----------------------------------------------------------------------------
    def _layout(self) -> None:
        self.timeline.reset_steps(self.endpoints, self.hosts,
                                  self.project.environment(self.env).engine)
        try:
            chosen = [self.project.endpoint(n) for n in self.endpoints]
            shown = phases_text(phases(chosen), self.hosts)
        except Exception as exc:  # a cycle, an unknown name: the run reports it too
            shown = Text(failure_line(exc), style="red")
        self.query_one("#phases", Static).update(shown)

    def _start(self) -> None:
        self._begin(name=self.mode, group="deploy")

    def _reset(self) -> None:
        self.query_one("#summary", Static).update("")
        try:
            self._layout()
        except Exception as exc:
            self.query_one("#phases", Static).update(Text(failure_line(exc), style="red"))

    async def _run(self, *, reload: bool) -> DeployReport:
        if reload:
            self.project = await asyncio.to_thread(load_project, self.project.root)
            self._layout()
        if self.mode == "rollback":
            return await rollback(self.project, self.env, self.names[0], self._event,
                                  self.options, open_sites, to=self.to)
        return await deploy(self.project, self.env, self.names, self._event, self.options,
                            open_sites)

    def _finished(self, report: DeployReport) -> None:
        for outcome in report.outcomes:
            if outcome.ok and not outcome.changed:
                for row in self.timeline.rows:
                    if row.endpoint == outcome.endpoint and row.state == "pending":
                        row.state = "skipped"
                self.timeline.note(outcome.endpoint, Text(
                    f"  unchanged {outcome.version[:12]}", style="dim"))
            elif outcome.ok:
                self.timeline.note(outcome.endpoint, Text(
                    f"  {'rolled back to' if self.mode == 'rollback' else 'deployed'} "
                    f"{outcome.version[:12]}", style="bold green"))
            else:
                self.timeline.note(outcome.endpoint, Text("  failed", style="bold red"))
        self.query_one("#summary", Static).update(summary_text(report))

    _cancelling = "⊘ cancelling… removing the new containers"

    def _running_text(self, elapsed: str) -> Text:
        verb = "rolling back" if self.mode == "rollback" else "deploying"
        what = ", ".join(self.names) or f"all {len(self.endpoints)} endpoints"
        return Text.assemble(("● ", "bold yellow"), f"{verb} {what} to {self.env}  ",
                             (elapsed, "yellow"), ("   x cancels", "dim"))

    def _cancelled_text(self) -> Text:
        return Text.assemble(("⊘ cancelled", "bold magenta"),
                             ("; an endpoint cancelled before its switch keeps its old "
                              "version (its new container was removed); one that had "
                              "switched keeps the new one (see its steps)", "dim"))

    def _report_line(self, report: DeployReport) -> str:
        return report.summary().splitlines()[-1]

    # -- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return True if self.phase == "running" else None
        if action == "again":
            if self.mode == "rollback":
                return False
            return None if self.busy else True
        return True

    def action_again(self) -> None:
        if not self.busy and self.mode == "deploy":
            self._start()

    def commands(self) -> Iterable[Command]:
        yield Command("Cancel deploy", "Stop the deploy; the new containers are removed",
                      "cancel")
        if self.mode == "deploy":
            yield Command("Deploy again", "Deploy the same endpoints again", "again")
        yield Command("Back", "Back to the main screen (cancels a running deploy first)", "back")


def summary_text(report: DeployReport) -> Text:
    """One line per endpoint, failures in red with the reason."""
    text = Text()
    for line, outcome in zip(report.summary().splitlines(), report.outcomes, strict=False):
        text.append(line + "\n", style="" if outcome.ok else "red")
    return text

