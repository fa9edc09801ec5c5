"""Waiting for a service to converge after a create or an update, with a deadline, showing each
task's progress; the verdict is honest (docs/swarm.md):

- an update is done only when Swarm says ``completed`` for THIS update (its ``StartedAt``
  differs from the one before); ``rollback_started`` is waited out, and ``rollback_completed``,
  ``rollback_paused`` and ``paused`` are failures (docker-stack-wait #1: a completed rollback is
  not a success), with the failed tasks' errors;
- a new service is done when all its replicas run (healthy: a task with a health check runs
  only once it is); a task of it that fails is a failure at once (there is nothing to roll
  back to);
- a change of replicas alone (no new tasks) is done when that many tasks run;
- the deadline passing is a failure that says Swarm goes on.

:func:`judge` and :func:`view` are pure; :func:`wait` polls the manager.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine import Engine, blocking
from ..errors import OperationFailed
from ..events import Emit, LogLines, Progress
from .placement import shown
from .services import explain
from .spec import TASK_HASH

FAILED_ROLLOUT = ("rollback_completed", "rollback_paused", "paused")
POLL = 0.5
"""Seconds between two reads of the service and its tasks."""
_GONE = ("failed", "rejected", "orphaned", "complete", "shutdown", "remove")
"""States of a task that ended (a task stopped as unhealthy may end ``complete``: its app
exits 0 on the stop signal)."""


@dataclass(frozen=True, slots=True)
class TaskView:
    """One task, as progress shows it."""

    id: str
    slot: int
    node_id: str
    node: str
    state: str
    desired: str
    error: str
    container: str
    new: bool
    """Whether it runs the spec this deploy asked for."""

    def line(self, service: str) -> str:
        what = "new" if self.new else "old"
        error = f": {self.error}" if self.error else ""
        return f"{service}.{self.slot} ({what}) on {self.node}: {self.state}{error}"


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    state: str
    """``completed``, ``running`` (a new service or a scale), ``rollback_completed``, ...,
    ``failed`` (a new service's task failed) or ``deadline``."""
    reason: str = ""


def view(task: Mapping[str, Any], nodes: Mapping[str, str], ours: str) -> TaskView:
    """A task of ``api.tasks()``; ``ours`` is the :data:`~.spec.TASK_HASH` asked for."""
    status = task.get("Status") or {}
    labels = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}
    node_id = str(task.get("NodeID") or "")
    error = str(status.get("Err") or "")
    return TaskView(
        id=str(task.get("ID", "")), slot=int(task.get("Slot") or 0), node_id=node_id,
        node=nodes.get(node_id, node_id[:12] or "no node yet"),
        state=str(status.get("State", "")), desired=str(task.get("DesiredState", "")),
        error=error, new=bool(ours) and labels.get(TASK_HASH) == ours,
        container=str((status.get("ContainerStatus") or {}).get("ContainerID") or ""))


def running(tasks: Sequence[TaskView], new: bool = True) -> int:
    """Tasks that run and should (of the new spec, unless ``new`` is False)."""
    return sum(1 for t in tasks if t.state == "running" and t.desired == "running"
               and (t.new or not new))


def judge(*, created: bool, rolling: bool, before: str, status: Mapping[str, Any] | None,
          tasks: Sequence[TaskView], replicas: int) -> Verdict | None:
    """The outcome so far, or None to wait on. ``rolling``: the task spec changed, so Swarm
    runs an update whose ``UpdateStatus`` has a ``StartedAt`` other than ``before``."""
    if created:
        failed = [t for t in tasks if t.new and t.state in _GONE]
        if failed:
            return Verdict(False, "failed", f"task {failed[0].slot} on {failed[0].node} "
                           f"failed: {failed[0].error or failed[0].state}")
        if running(tasks) >= replicas:
            return Verdict(True, "running")
        return None
    if not rolling:
        stopping = any(t.state == "running" and t.desired != "running" for t in tasks)
        if running(tasks, new=False) == replicas and not stopping and sum(
                1 for t in tasks if t.desired == "running") == replicas:
            return Verdict(True, "running")
        return None
    status = status or {}
    if str(status.get("StartedAt", "")) == before:
        return None  # Swarm has not begun this update yet
    state = str(status.get("State", ""))
    message = str(status.get("Message", ""))
    if state == "completed":
        return Verdict(True, state)
    if state in FAILED_ROLLOUT:
        what = {"rollback_completed": "Swarm rolled the update back",
                "rollback_paused": "Swarm's rollback of the update paused",
                "paused": "Swarm paused the update"}[state]
        return Verdict(False, state, f"{what}: {message}" if message else what)
    return None


async def wait(engine: Engine, service_id: str, name: str, *, ours: str, created: bool,
               rolling: bool, before: str, replicas: int, deadline: float, emit: Emit,
               source: str, step: str, decide: Callable[..., Verdict | None] | None = None
               ) -> tuple[Verdict, list[TaskView]]:
    """Poll until :func:`judge` (or ``decide``, with its arguments) decides or ``deadline``
    seconds pass; each task's change of
    state is emitted as a log line of ``source``, the count of new tasks running as
    :class:`Progress` of ``step``. Returns the verdict and the last view of the tasks."""
    nodes = await blocking(lambda: _nodes(engine))
    shown_lines: dict[str, str] = {}
    ends = time.monotonic() + deadline
    tasks: list[TaskView] = []
    counted = -1
    history: set[str] | None = None  # tasks done with before this wait: not shown, not judged
    while True:
        status, raw = await blocking(lambda: _read(engine, service_id))
        if history is None:
            history = {str(t.get("ID")) for t in raw if t.get("DesiredState") != "running"}
        tasks = sorted((view(t, nodes, ours) for t in raw if str(t.get("ID")) not in history),
                       key=lambda t: (t.slot, t.id))
        fresh = []
        for task in tasks:
            line = task.line(name)
            if shown_lines.get(task.id) != line and (task.desired == "running" or
                                                       task.id in shown_lines or task.error):
                shown_lines[task.id] = line
                fresh.append(line)
        if status and str(status.get("StartedAt", "")) != before and status.get("State"):
            line = f"{name}: update {status['State']}" + (
                f" ({status['Message']})" if status.get("Message") else "")
            if shown_lines.get("update") != line:
                shown_lines["update"] = line
                fresh.append(line)
        if fresh:
            emit(LogLines(source, tuple(fresh)))
        now_running = running(tasks)
        if now_running != counted:
            counted = now_running
            emit(Progress(step, min(now_running, replicas), replicas))
        verdict = (decide or judge)(created=created, rolling=rolling, before=before,
                                    status=status, tasks=tasks, replicas=replicas)
        if verdict is not None:
            return verdict, tasks
        if time.monotonic() >= ends:
            return Verdict(False, "deadline", f"the service did not converge within "
                           f"{deadline:g}s; Swarm goes on with it (docker service ps {name})"
                           ), tasks
        await asyncio.sleep(POLL)


async def task_errors(tasks: Sequence[TaskView], name: str,
                      details: Callable[[TaskView], Awaitable[list[str]]]) -> list[str]:
    """The errors of the new spec's tasks that did not make it, each with what ``details``
    adds (the last health check's output, the container's last lines), at most five tasks."""
    failed = [t for t in tasks if t.new and (t.error or t.state in _GONE)][:5]
    if not failed:  # a rollback replaced them all: say what ran last
        failed = [t for t in tasks if t.new][:5]
    lines: list[str] = []
    for task in failed:
        lines.append(task.line(name))
        try:
            lines += [f"  {line}" for line in await details(task)]
        except Exception as exc:  # a node that cannot be asked: say so, keep the rest
            lines.append(f"  (no details from {task.node}: {explain(exc)})")
    return lines


def _nodes(engine: Engine) -> dict[str, str]:
    import docker.errors

    try:
        return {str(n["ID"]): shown(n) for n in engine.api.nodes()}
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot list the Swarm's nodes on {engine.where}: "
                              f"{explain(exc)}", "check the Swarm manager") from None


def _read(engine: Engine, service_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    import docker.errors

    try:
        found = engine.api.inspect_service(service_id)
        tasks = engine.api.tasks(filters={"service": service_id})
    except docker.errors.NotFound:
        raise OperationFailed(f"service {service_id[:12]} was removed from {engine.where} "
                              "during the deploy", "deploy again") from None
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot read service {service_id[:12]} on {engine.where}: "
                              f"{explain(exc)}", "check the Swarm manager") from None
    return found.get("UpdateStatus"), list(tasks)


def summary(verdict: Verdict, lines: Sequence[str]) -> str:
    """The verdict's reason with the first task's most telling line (its last health check,
    else its error)."""
    reason = verdict.reason or verdict.state
    telling = next((line.strip() for line in lines if "last health check" in line), "")
    if not telling:
        telling = next((line.split(": ", 1)[1] for line in lines
                        if not line.startswith(" ") and ": " in line), "")
    return f"{reason}; {telling}" if telling else reason
