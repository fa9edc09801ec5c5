"""What a deploy or rollback is asked to do (:class:`DeployOptions`) and what came of it
(:class:`Outcome` per endpoint, :class:`DeployReport` for the run)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class DeployOptions:
    lock_wait: float = 0.0
    build_args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    drain: float = 10.0
    """At most this many seconds for the proxy's old nginx workers to finish the requests they
    had in flight (to the old container) after the switch; then the old container stops."""
    health_timeout: float | None = None
    confirm: str | None = None
    """The environment's name, given again to change a protected one (``--confirm ENV``)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    endpoint: str
    ok: bool
    version: str
    changed: bool
    reason: str = ""
    reverted: tuple[str, ...] = ()
    fix: str = ""
    """What to do about the failure ("" when the error does not say)."""

    def as_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "ok": self.ok, "version": self.version,
                "changed": self.changed, "reason": self.reason,
                "reverted": list(self.reverted), "fix": self.fix}


@dataclass(frozen=True, slots=True)
class DeployReport:
    env: str
    outcomes: tuple[Outcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def summary(self) -> str:
        lines = []
        for o in self.outcomes:
            if not o.ok:
                extra = f"; switched back on {', '.join(o.reverted)}" if o.reverted else ""
                extra += f"; {o.fix}" if o.fix else ""
                lines.append(f"{o.endpoint}  FAILED  {o.reason}{extra}")
            else:
                lines.append(f"{o.endpoint}  {'deployed' if o.changed else 'unchanged'}  "
                             f"{o.version}")
        failed = [o.endpoint for o in self.outcomes if not o.ok]
        lines.append(f"{self.env}: {len(self.outcomes) - len(failed)} ok"
                     + (f", {len(failed)} failed ({', '.join(failed)})" if failed else ""))
        return "\n".join(lines)


