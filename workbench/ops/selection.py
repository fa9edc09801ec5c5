"""Which endpoints an operation acts on: the ones named, or all of them."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BadInput
from ..model import Endpoint, Project


def select(project: Project, names: Sequence[str], action: str) -> tuple[Endpoint, ...]:
    """The endpoints named (each once, in order), or all of them; ``action`` ("test",
    "deploy") names what they are for in the error when the project has none."""
    if not project.endpoints:
        raise BadInput(f"project '{project.name}' has no endpoints to {action}",
                       "create one with 'workbench --batch new -e NAME'")
    if not names:
        return project.endpoints
    return tuple(project.endpoint(name) for name in dict.fromkeys(names))
