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
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from workbench.events import Event, LogLines, StepFinished, StepStarted, Warning
from workbench.model import Project, load_project
from workbench.ops.deploy import DeployOptions, DeployReport, deploy, rollback
from workbench.plan import phases
from workbench.sites import open_sites

from .common import failure_line
from .log_view import LogView
from .palette import Command
from .test_run import MARKS, State, StepRow, Timeline, format_duration

Phase = Literal["running", "cancelling", "passed", "failed", "error", "cancelled"]
Mode = Literal["deploy", "rollback"]

HOST_STEPS = (("build", "build"), ("start", "start the new container"),
              ("health", "health check"))
SWITCH_STEPS = (("switch", "switch the proxy"), ("drain", "drain and stop the old container"),
                ("record", "record the release"))


def deploy_steps(name: str, hosts: Sequence[str]) -> list[tuple[str, str]]:
    """The step ids and labels a deploy of ``name`` emits on ``hosts`` (as the core names them)."""
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

    def reset_steps(self, endpoints: Sequence[str], hosts: Sequence[str]) -> None:
        self.notes = {}
        self._groups = {name: {step: StepRow(name, step, label)
                               for step, label in deploy_steps(name, hosts)}
                        for name in endpoints}
        self.refresh(layout=True)

    def note(self, endpoint: str, text: Text) -> None:
        self.notes[endpoint] = text
        self.refresh(layout=True)

    def render(self) -> Text:
        now = self._clock()
        width = max((len(row.label) for row in self.rows), default=0)
        text = Text(no_wrap=False)
        for index, (endpoint, group) in enumerate(self._groups.items()):
            if index:
                text.append("\n")
            text.append(endpoint, style="bold")
            text.append(self.notes.get(endpoint) or _state_of(group.values()))
            for row in group.values():
                mark, style = MARKS[row.state]
                text.append(f"\n {mark} ", style=style)
                text.append(f"{row.label:<{width}}  ",
                            style="dim" if row.state in ("pending", "skipped") else "")
                if row.state == "running" and row.started is not None:
                    text.append(format_duration(now - row.started), style="yellow")
                elif row.duration is not None:
                    text.append(format_duration(row.duration), style="dim")
                elif row.state == "skipped":
                    text.append("skipped", style="dim")
                if row.detail:
                    text.append(f"\n     {row.detail}", style="red")
        return text


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


class DeployRunScreen(Screen[None]):
    """Deploys ``names`` of ``project`` (all when empty) to ``env``, or rolls one back."""

    CSS_PATH = Path(__file__).with_name("deploy_run.tcss")
    HELP_TITLE = "Deploy"
    TICK = 0.2
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
        super().__init__()
        self.project = project
        self.env = env
        self.names = tuple(names)
        self.mode: Mode = mode
        self.to = to
        self.options = options or DeployOptions(lock_wait=5.0)
        self.phase: Phase = "running"
        self.report: DeployReport | None = None
        self.error: str | None = None
        self.runs = 0
        self._clock = clock
        self._started = clock()
        self._worker: Worker[DeployReport] | None = None
        self._then: Callable[[], object] | None = None
        self._unmounting = False
        self.timeline = DeployTimeline(clock, id="timeline")
        self.log_view = LogView(id="log")

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
    def busy(self) -> bool:
        return self.phase in ("running", "cancelling")

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self.names or tuple(e.name for e in self.project.endpoints)

    @property
    def hosts(self) -> tuple[str, ...]:
        env = self.project.environment(self.env)
        return ("local",) if env.is_local else tuple(h.spec for h in env.hosts)

    # -- the run ----------------------------------------------------------------------------
    def _layout(self) -> None:
        self.timeline.reset_steps(self.endpoints, self.hosts)
        try:
            chosen = [self.project.endpoint(n) for n in self.endpoints]
            shown = phases_text(phases(chosen), self.hosts)
        except Exception as exc:  # a cycle, an unknown name: the run reports it too
            shown = Text(failure_line(exc), style="red")
        self.query_one("#phases", Static).update(shown)

    def _start(self) -> None:
        self.phase, self.report, self.error = "running", None, None
        self._started = self._clock()
        self.log_view.clear()
        self.query_one("#summary", Static).update("")
        try:
            self._layout()
        except Exception as exc:
            self.query_one("#phases", Static).update(Text(failure_line(exc), style="red"))
        self.runs += 1
        self._worker = self.run_worker(self._run(reload=self.runs > 1), name=self.mode,
                                       group="deploy", exclusive=True, exit_on_error=False)
        self._show_result()
        self.refresh_bindings()

    async def _run(self, *, reload: bool) -> DeployReport:
        if reload:
            self.project = await asyncio.to_thread(load_project, self.project.root)
            self._layout()
        options = DeployOptions(lock_wait=self.options.lock_wait,
                                build_args=self.options.build_args, drain=self.options.drain,
                                health_timeout=self.options.health_timeout)
        if self.mode == "rollback":
            return await rollback(self.project, self.env, self.names[0], self._event, options,
                                  open_sites, to=self.to)
        return await deploy(self.project, self.env, self.names, self._event, options,
                            open_sites)

    def _event(self, event: Event) -> None:
        if self._unmounting:
            return
        if isinstance(event, LogLines):
            self.log_view.add(event)
        elif isinstance(event, StepStarted):
            self.timeline.start(event)
        elif isinstance(event, StepFinished):
            self.timeline.finish(event, cancelling=self.phase == "cancelling")
        elif isinstance(event, Warning):
            self.notify(event.message, title="Deploy", severity="warning")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self._worker or not worker.is_finished:
            return
        if event.state == WorkerState.SUCCESS and worker.result is not None:
            report = self.report = worker.result
            self.phase = "passed" if report.ok else "failed"
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
        elif event.state == WorkerState.CANCELLED:
            self.phase = "cancelled"
        else:
            self.phase = "error"
            self.error = failure_line(worker.error) if worker.error else "the deploy failed"
        self.timeline.close(cancelled=self.phase == "cancelled")
        self._show_result()
        self.refresh_bindings()
        then, self._then = self._then, None
        if then is not None:
            then()

    def _tick(self) -> None:
        if self.busy:
            self.timeline.refresh()
            self._show_result()

    def _show_result(self) -> None:
        result = self.query_one("#result", Static)
        verb = "rolling back" if self.mode == "rollback" else "deploying"
        if self.phase == "running":
            what = ", ".join(self.names) or f"all {len(self.endpoints)} endpoints"
            elapsed = format_duration(self._clock() - self._started)
            text = Text.assemble(("● ", "bold yellow"), f"{verb} {what} to {self.env}  ",
                                 (elapsed, "yellow"), ("   x cancels", "dim"))
        elif self.phase == "cancelling":
            text = Text("⊘ cancelling… removing the new containers", style="bold magenta")
        elif self.phase == "cancelled":
            text = Text.assemble(("⊘ cancelled", "bold magenta"),
                                 ("; an endpoint cancelled before its switch keeps its old "
                                  "version (its new container was removed); one that had "
                                  "switched keeps the new one (see its steps)", "dim"))
        elif self.phase == "error":
            text = Text.assemble(("✗ ", "bold red"), (self.error or "", "red"))
        else:
            assert self.report is not None
            ok = self.phase == "passed"
            last = self.report.summary().splitlines()[-1]
            text = Text.assemble(("✓ " if ok else "✗ ", "bold green" if ok else "bold red"),
                                 (last, "green" if ok else "red"))
        result.update(text)
        result.set_class(self.phase in ("failed", "error"), "-failed")

    def _cancel(self) -> None:
        if self.phase == "running" and self._worker is not None:
            self.phase = "cancelling"
            self._worker.cancel()
            self._show_result()
            self.refresh_bindings()

    async def on_unmount(self) -> None:
        """Never leave a deploy behind: cancel it and wait for its cleanup (app exit too)."""
        self._unmounting = True
        worker = self._worker
        if worker is not None and not worker.is_finished:
            if not worker.is_cancelled:
                worker.cancel()
            await asyncio.wait([asyncio.ensure_future(_ended(worker))])

    # -- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return True if self.phase == "running" else None
        if action == "again":
            if self.mode == "rollback":
                return False
            return None if self.busy else True
        return True

    def action_cancel(self) -> None:
        self._cancel()

    def action_again(self) -> None:
        if not self.busy and self.mode == "deploy":
            self._start()

    def action_back(self) -> None:
        self._leave(self._dismiss, "going back")

    def action_quit(self) -> None:
        self._leave(self.app.exit, "quitting")

    def _leave(self, then: Callable[[], object], what: str) -> None:
        if not self.busy:
            then()
            return
        self._then = then
        self._cancel()
        self.notify(f"Cancelling the deploy; {what} once it has cleaned up.", title="Deploy")

    def _dismiss(self) -> None:
        if self.is_current:
            self.dismiss(None)

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


async def _ended(worker: Worker[DeployReport]) -> None:
    with contextlib.suppress(WorkerCancelled, WorkerFailed):
        await worker.wait()
