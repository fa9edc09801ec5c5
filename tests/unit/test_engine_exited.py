"""Engine.exited: when a container counts as stopped (inspect data as Docker gives it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from workbench.engine import Engine, Exited


@dataclass
class Inspected:
    """A container whose inspect data is ``attrs`` (as after ``reload()``)."""

    attrs: dict[str, Any] = field(default_factory=dict)

    def reload(self) -> None:
        pass


def exited(state: dict[str, Any], restarts: int = 0) -> Exited | None:
    engine = cast(Engine, object.__new__(Engine))
    container = Inspected({"State": state, "RestartCount": restarts})
    return engine.exited(container, reload=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(("state", "restarts", "expected"), [
    pytest.param({"Status": "created", "Running": False, "ExitCode": 0}, 0, None, id="created"),
    pytest.param({"Status": "running", "Running": True, "ExitCode": 0}, 0, None, id="running"),
    pytest.param({"Status": "exited", "Running": False, "ExitCode": 3}, 0, Exited(3),
                 id="exited"),
    # With a restart policy (deploys use unless-stopped) a crashed container is "restarting",
    # and Docker says Running too: it exited, with that code.
    pytest.param({"Status": "restarting", "Running": True, "Restarting": True, "ExitCode": 3},
                 1, Exited(3), id="restarting"),
    # Between two crashes it runs again (its ExitCode back to 0): alive, for now.
    pytest.param({"Status": "running", "Running": True, "Restarting": False, "ExitCode": 0},
                 1, None, id="running-again"),
])
def test_a_container_exited_when_it_stopped_or_its_restart_policy_restarts_it(
        state: dict[str, Any], restarts: int, expected: Exited | None) -> None:
    assert exited(state, restarts) == expected
