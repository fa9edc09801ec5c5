"""``logs --follow`` follows a redeploy: the containers of the followed endpoints that start
while following, per host, from Docker's container start events on the same forwarded socket
(:class:`~workbench.ops.watch.EventReader`'s thread).

A deploy starts the new container beside the old one, so a start event comes while the old
container is still followed; its log is then read from its first line and merged with the
others. The old container's log ends when it is stopped (its reader ends without error; a
container removed meanwhile is a 404, which reads as an empty log). A container that starts
again (a restart in place: the same id) is read again from the line after the last one shown,
once its earlier reader has ended. While an event stream runs, following goes on even when
every followed container has stopped, until it is stopped (Ctrl-C, esc). A host whose engine
offers no events, or whose event stream ended, gets a note: its new containers are not picked
up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

from ..engine import LABEL
from ..live import event_filters
from ..site import Site


class Starts:
    """The app containers of one host's environment that start from now on (by endpoint)."""

    def __init__(self, site: Site, project: str, env: str, wanted: Collection[str]) -> None:
        from .watch import EventReader

        self.site = site
        self.wanted = set(wanted)
        """The endpoints followed (empty: all)."""
        self.ready = asyncio.Event()
        """The stream runs (or failed): containers listed after this are never missed."""
        self.problem = ""
        """Why new containers are not picked up here ("" while they are)."""
        self.changed = asyncio.Event()
        """Set when something came from the stream (cleared by whoever waits on it)."""
        self._started: list[tuple[str, str]] = []
        self._noted = False
        loop = asyncio.get_running_loop()
        filters = {**event_filters(project, env), "event": ["start"]}
        self._reader = EventReader(site.engine.api, filters,
                                   lambda item: loop.call_soon_threadsafe(self._put, item))
        self._done = self._reader.start(loop)

    def _put(self, item: tuple[str, Any]) -> None:
        kind, value = item
        if kind == "event":
            labels = (value.get("Actor") or {}).get("Attributes") or {}
            endpoint = labels.get(f"{LABEL}endpoint") or ""
            container = str(value.get("id") or (value.get("Actor") or {}).get("ID") or "")
            if endpoint and container and (not self.wanted or endpoint in self.wanted):
                self._started.append((source_of(labels), container))
        elif kind in ("error", "end") and not self.problem:
            self.problem = (f"new containers on {self.site.name} are not followed: its event "
                            f"stream {'is not offered' if kind == 'error' else 'ended'}"
                            f"{f' ({value})' if value else ''}")
        self.ready.set()
        self.changed.set()

    def take(self) -> list[tuple[str, str]]:
        """(endpoint, container id) of each container started since the last take."""
        started, self._started = self._started, []
        return started

    def note(self) -> str:
        """The problem, once (then "")."""
        if not self.problem or self._noted:
            return ""
        self._noted = True
        return self.problem

    async def close(self) -> None:
        self._reader.close()
        await asyncio.gather(self._done, return_exceptions=True)


SWARM_TASK = "com.docker.swarm.task.name"
"""The label Swarm gives a task's container: ``<service>.<slot>.<task id>``."""


def source_of(labels: Mapping[str, str]) -> str:
    """How a container's lines are tagged before ``@host``: its endpoint, and for a Swarm
    task its slot too (``orders.2``, as ``docker service logs`` names tasks), so that two
    replicas on one node stay apart."""
    endpoint = str(labels.get(f"{LABEL}endpoint") or "")
    parts = str(labels.get(SWARM_TASK) or "").split(".")
    return f"{endpoint}.{parts[-2]}" if len(parts) >= 3 and parts[-2].isdigit() else endpoint
