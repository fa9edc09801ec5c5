"""``scale``: change how many replicas of an endpoint run (``engine: swarm``; docs/swarm.md).

The rails are a deploy's (readonly refused, protected needs ``--confirm ENV``, the
environment's lock). On ``engine: docker`` it is refused with one line: one container per host
has no replica count. The Swarm part is :mod:`workbench.swarm.scale`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BadInput
from ..events import Emit
from ..model import Project
from ..site import SiteOpener
from .rails import require_confirm
from .report import DeployOptions


@dataclass(frozen=True, slots=True)
class ScaleReport:
    """What came of a scale of one endpoint."""

    env: str
    endpoint: str
    ok: bool
    version: str
    before: int
    after: int
    """The replicas asked for."""
    changed: bool
    reason: str = ""

    def summary(self) -> str:
        if not self.ok:
            return f"{self.endpoint}  FAILED  {self.reason}"
        if not self.changed:
            return f"{self.endpoint}  unchanged  {self.after} replica(s) of {self.version}"
        return (f"{self.endpoint}  scaled  {self.before} -> {self.after} replica(s) of "
                f"{self.version}")

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "endpoint": self.endpoint, "ok": self.ok,
                "version": self.version, "before": self.before, "after": self.after,
                "changed": self.changed, "reason": self.reason}


async def scale(project: Project, env_name: str, name: str, replicas: int, emit: Emit,
                options: DeployOptions, open_sites: SiteOpener) -> ScaleReport:
    """Run ``replicas`` tasks of endpoint ``name``'s service in the environment: same image,
    same spec otherwise; waited for and recorded as a release (``kind: scale``)."""
    env = project.environment(env_name)
    endpoint = project.endpoint(name)
    if replicas < 1:
        raise BadInput(f"cannot scale {name} to {replicas} replicas: at least 1 runs",
                       "give a count of 1 or more")
    if env.engine != "swarm":
        raise BadInput(f"environment '{env.name}' has engine: {env.engine} (one container per "
                       "host): replicas are a Swarm setting", "set 'engine: swarm' for "
                       f"'{env.name}' in workbench.yaml, or scale by adding hosts")
    require_confirm(env, "scale", options.confirm)
    from ..swarm.scale import scale as on_swarm

    return await on_swarm(project, env, endpoint, replicas, emit, options, open_sites)
