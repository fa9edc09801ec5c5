"""The live matrix's pure parts: which cell a Docker event touches, the reconnect schedule,
and what one endpoint in one environment looks like (:class:`LiveUpdate`, :func:`summarize`).

The watcher (:mod:`workbench.ops.watch`) does the I/O; everything here is plain data, so the
rules are tested without Docker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .engine import LABEL
from .swarm.cells import replicas_of

if TYPE_CHECKING:
    from .ops.status import Row
    from .releases import Release

ACTIONS = frozenset({"start", "die", "stop", "kill", "restart", "destroy", "pause", "unpause",
                     "oom", "health_status"})
"""Container event actions that can change a cell (``health_status: healthy`` counts)."""

BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds to wait before the n-th reconnect to a host whose stream broke (then the last)."""

POLL = 15.0
"""Seconds between two reads of a host whose engine offers no event stream."""

Health = Literal["healthy", "starting", "unhealthy", "down", "unknown", "unreachable"]
_WORST: tuple[Health, ...] = ("unreachable", "down", "unhealthy", "starting", "unknown",
                              "healthy")

Source = Literal["events", "polling"]


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """One endpoint in one environment, as just observed: a row per host (in the environment's
    host order), the last few release records of each host, and how it is being watched."""

    env: str
    endpoint: str
    rows: tuple[Row, ...]
    history: tuple[Release, ...] = ()
    """Its last release records over every host, newest first."""
    source: Source = "events"


@dataclass(frozen=True, slots=True)
class Summary:
    """What a matrix cell shows of a :class:`LiveUpdate`."""

    deployed: bool
    version: str = ""
    health: Health = "unknown"
    drift: tuple[str, ...] = ()
    since: str = ""
    """ISO time the serving container started (else the current release's time)."""
    unreachable: int = 0
    """How many of its hosts could not be read."""
    hosts: int = 0
    replicas: str = ""
    """A Swarm service's running/desired replicas (``2/3``; "" elsewhere)."""


def event_filters(project: str, env: str) -> dict[str, list[str]]:
    """The docker ``events`` filters for the app containers of one environment."""
    return {"type": ["container"],
            "label": [f"{LABEL}project={project}", f"{LABEL}env={env}", f"{LABEL}role=app"]}


def affected(event: Mapping[str, Any], project: str, env: str) -> str | None:
    """The endpoint whose cell a decoded Docker event changes, or None when it changes none
    (another project or environment, the proxy, an action like ``exec_start``)."""
    if event.get("Type", "container") != "container":
        return None
    action = str(event.get("Action") or event.get("status") or "")
    if action.split(":", 1)[0].strip() not in ACTIONS:
        return None
    labels = (event.get("Actor") or {}).get("Attributes") or {}
    if (labels.get(f"{LABEL}project") != project or labels.get(f"{LABEL}env") != env
            or labels.get(f"{LABEL}role", "app") != "app"):
        return None
    return labels.get(f"{LABEL}endpoint") or None


def backoff(attempt: int) -> float:
    """Seconds before reconnect number ``attempt`` (0 is the first)."""
    return BACKOFF[min(max(attempt, 0), len(BACKOFF) - 1)]


def schedule(attempts: int) -> list[float]:
    """The waits of the first ``attempts`` reconnects, as data."""
    return [backoff(n) for n in range(attempts)]


def health_of(row: Row) -> Health:
    """One host's health for the endpoint."""
    if row.unreachable:
        return "unreachable"
    instance = row.instance
    if instance is None or instance.state != "running":
        return "down" if row.release is not None or instance is not None else "unknown"
    state = instance.health.split(" ", 1)[0]
    if state in ("healthy", "starting", "unhealthy"):
        return state  # type: ignore[return-value]
    return "unknown"


def summarize(rows: Sequence[Row]) -> Summary:
    """The cell of one endpoint over the rows of its hosts: the worst health, every drift
    flag, the version served (the first host's), and when it started."""
    reachable = [r for r in rows if not r.unreachable]
    unreachable = len(rows) - len(reachable)
    if rows and not reachable:
        return Summary(True, health="unreachable", unreachable=unreachable, hosts=len(rows))
    placed = [r for r in reachable if r.instance is not None or r.release is not None]
    if not placed:
        return Summary(False, unreachable=unreachable, hosts=len(rows))
    healths = {health_of(r) for r in placed}
    health = next(h for h in _WORST if h in healths)
    drift = tuple(dict.fromkeys(flag for r in rows for flag in r.drift))
    first = placed[0]
    version = (first.instance.version if first.instance is not None else "") or \
        (first.release.version if first.release is not None else "")
    since = ""
    if first.instance is not None and first.instance.state == "running":
        since = first.instance.started_at
    elif first.release is not None:
        since = first.release.time
    return Summary(True, version, health, drift, since, unreachable, len(rows),
                   replicas_of(rows))
