"""How a Swarm service reads in status and in the live matrix's cells (pure): its replicas
running/desired, its last update, its tasks per node."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..observed import Instance, Task

if TYPE_CHECKING:
    from ..ops.status import Row


def is_service(instance: Instance | None) -> bool:
    """Whether the instance is a Swarm service (its ``replicas`` read running/desired)."""
    return instance is not None and "/" in instance.replicas


def replicas_of(rows: Sequence[Row]) -> str:
    """``running/desired`` of the service the rows show (``""`` when none is a Swarm
    service): a cell of the live matrix shows it."""
    return next((r.instance.replicas for r in rows
                 if r.instance is not None and is_service(r.instance)), "")


def task_text(task: Task) -> str:
    """``#2 running (healthy)``, ``#1 failed -> shutdown: task: non-zero exit (1)``."""
    text = f"#{task.slot} {task.state}" if task.slot else task.state
    if task.health:
        text += f" ({task.health})"
    if task.desired not in ("running", "ready", ""):
        text += f" -> {task.desired}"
    if task.error:
        text += f": {' '.join(task.error.split())[:200]}"
    return text


def task_lines(instance: Instance) -> list[str]:
    """The service's last update (when there was one) and its tasks, one line per node:
    ``update completed``, ``tasks on NODE: #1 running (healthy), #2 starting``."""
    lines = []
    if instance.update_state:
        message = f": {instance.update_message}" if instance.update_message else ""
        lines.append(f"update {instance.update_state}{message}")
    by_node: dict[str, list[str]] = {}
    for task in instance.tasks:
        by_node.setdefault(task.node, []).append(task_text(task))
    lines += [f"tasks on {node}: {', '.join(texts)}" for node, texts in by_node.items()]
    if not instance.tasks:
        lines.append("no tasks")
    return lines
