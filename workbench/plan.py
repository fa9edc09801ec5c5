"""What a deploy will do, as plain data: deploy phases and the steps per endpoint and host.

Everything here is pure (no I/O, no Docker): the deploy operation observes the servers, passes
what it saw in, and runs the steps it gets back; ``workbench --batch plan`` prints them.

Phases come from the contracts endpoints declare in ``endpoint.yaml``: an endpoint that
``consumes`` a contract is deployed in a later phase than every endpoint (among those being
deployed) that ``produces`` it. A contract nobody in the set produces is fine (its producer may
already run), as is a contract produced by several endpoints, or produced and consumed by the
same endpoint. A cycle is bad input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import BadInput
from .model import Endpoint

STEPS = ("build", "start", "health", "switch", "drain", "record")
"""The steps of one endpoint on one host, in order; an unchanged one has the single "skip"."""
SKIP = "skip"


# -- phases -----------------------------------------------------------------------------------
def phases(endpoints: Sequence[Endpoint]) -> tuple[tuple[str, ...], ...]:
    """Endpoint names in deploy phases: each as early as its producers allow, sorted by name.

    Raises :class:`BadInput` naming the cycle when the contracts form one.
    """
    needs = _needs(endpoints)
    left = {name: set(deps) for name, deps in needs.items()}
    result: list[tuple[str, ...]] = []
    while left:
        ready = sorted(name for name, deps in left.items() if not deps)
        if not ready:
            raise _cycle_error(left, endpoints)
        result.append(tuple(ready))
        for name in ready:
            del left[name]
        for deps in left.values():
            deps.difference_update(ready)
    return tuple(result)


def _needs(endpoints: Sequence[Endpoint]) -> dict[str, set[str]]:
    """For each endpoint, the other endpoints producing a contract it consumes."""
    producers: dict[str, set[str]] = {}
    seen: set[str] = set()
    for endpoint in endpoints:
        if endpoint.name in seen:
            raise BadInput(f"endpoint '{endpoint.name}' is given twice",
                           "name each endpoint once")
        seen.add(endpoint.name)
        for contract in endpoint.produces:
            producers.setdefault(contract, set()).add(endpoint.name)
    return {endpoint.name: {producer for contract in endpoint.consumes
                            for producer in producers.get(contract, ())
                            if producer != endpoint.name}
            for endpoint in endpoints}


def _cycle_error(left: Mapping[str, set[str]], endpoints: Sequence[Endpoint]) -> BadInput:
    """Every endpoint in ``left`` still needs another one in ``left``: walk to a cycle."""
    path: list[str] = []
    name = min(left)
    while name not in path:
        path.append(name)
        name = min(left[name])
    cycle = path[path.index(name):]
    start = cycle.index(min(cycle))
    cycle = cycle[start:] + cycle[:start]
    by_name = {endpoint.name: endpoint for endpoint in endpoints}
    via: list[str] = []
    for consumer, producer in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        shared = set(by_name[consumer].consumes) & set(by_name[producer].produces)
        via.extend(contract for contract in sorted(shared) if contract not in via)
    shown = " -> ".join([*cycle, cycle[0]])
    return BadInput(f"deploy order has a cycle: {shown} (via contracts {', '.join(via)})",
                    "an endpoint cannot wait for itself: remove one of these contracts from "
                    "'consumes' in the endpoint.yaml of one of them")


# -- the plan of a deploy ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    """One thing to do for one endpoint on one host."""

    endpoint: str
    host: str
    action: str
    """One of :data:`STEPS`, or "skip" for an endpoint already at its new version."""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Phase:
    """Endpoints deployed together (in parallel, and on every host in parallel)."""

    number: int
    endpoints: tuple[str, ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The deploy of some endpoints to one environment."""

    env: str
    phases: tuple[Phase, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(step for phase in self.phases for step in phase.steps)

    @property
    def changes(self) -> bool:
        """Whether anything is to be done (False when every endpoint is unchanged)."""
        return any(step.action != SKIP for step in self.steps)


def deploy_plan(env_name: str, hosts: Sequence[str], endpoints: Sequence[Endpoint],
                versions: Mapping[str, str], cached: Mapping[tuple[str, str], bool],
                current: Mapping[tuple[str, str], str | None]) -> Plan:
    """The plan of deploying ``endpoints`` to every host of ``env_name``.

    ``versions`` maps an endpoint to its new version. ``cached`` and ``current`` are keyed by
    ``(endpoint, host)``: whether the new version's image is already on the host, and the
    version running there (None, or missing, when none is). An endpoint already at its new
    version on a host gets the single step "skip" there. For the local engine pass a host name
    such as ``("local",)``.
    """
    if not hosts:
        raise BadInput(f"environment '{env_name}' has no hosts to deploy to",
                       "add hosts under it in workbench.yaml")
    result: list[Phase] = []
    for number, names in enumerate(phases(endpoints), start=1):
        steps: list[Step] = []
        for name in names:
            version = versions[name]
            for host in hosts:
                running = current.get((name, host))
                if running == version:
                    steps.append(Step(name, host, SKIP, f"already at {version}"))
                    continue
                build = f"version {version}, cached" if cached.get((name, host)) else \
                    f"version {version}"
                drain = f"old version {running}" if running else "no old version"
                details = {"build": build, "drain": drain}
                steps.extend(Step(name, host, action, details.get(action, ""))
                             for action in STEPS)
        result.append(Phase(number, names, tuple(steps)))
    return Plan(env_name, tuple(result))


def format_plan(plan: Plan) -> list[str]:
    """Readable lines: ``phase 1: billing, orders``, then its steps indented."""
    if not plan.phases:
        return [f"nothing to deploy to '{plan.env}'"]
    lines: list[str] = []
    for phase in plan.phases:
        lines.append(f"phase {phase.number}: {', '.join(phase.endpoints)}")
        for step in phase.steps:
            detail = f" ({step.detail})" if step.detail else ""
            lines.append(f"  {step.endpoint} @ {step.host}: {step.action}{detail}")
    return lines
