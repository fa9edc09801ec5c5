"""A Swarm environment's cell in the live matrix shows its service's running/desired replicas
(a single host's shows none)."""

from __future__ import annotations

from datetime import UTC, datetime

from screens.matrix import LiveCell
from workbench.live import LiveUpdate
from workbench.observed import EnvState, HostState, Instance, Task
from workbench.ops.status import rows_of

NOW = datetime(2024, 5, 1, 10, 5, tzinfo=UTC)


def cell(instance: Instance, engine: str) -> str:
    state = EnvState("prod", engine, (HostState("m", instances=(instance,)),))
    update = LiveUpdate("prod", "orders", tuple(rows_of(state, {}, False)))
    return LiveCell.of(update).render(NOW).plain


def test_a_swarm_cell_shows_running_of_desired_replicas() -> None:
    tasks = (Task(1, "m", "running", "running"), Task(2, "w", "preparing", "running"))
    service = Instance("orders", "m", state="running", health="starting (1/2 running)",
                       started_at="2024-05-01T10:00:00Z", version="3f2a9c0e", replicas="1/2",
                       replicas_desired=2, replicas_running=1, tasks=tasks)
    assert cell(service, "swarm") == "◐ 3f2a9c0\nΔ 5m 1/2"  # Δ: not in the repo here
    container = Instance("orders", "m", state="running", health="healthy",
                         started_at="2024-05-01T10:00:00Z", version="3f2a9c0e")
    assert cell(container, "docker") == "● 3f2a9c0\nΔ 5m"
