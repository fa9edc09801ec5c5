"""Status providers for the matrix: the live one (:class:`DeployStatus`.watch, health and drift
from every host's Docker events, :mod:`workbench.ops.watch`), and a one-shot read of each
endpoint's deployed version and its last release time (``DeployStatus()``).

Called in the main screen's status worker (a thread). Each environment is read in its own thread
(one ``asyncio.run`` each, bounded by :data:`TIMEOUT`), so a slow or unreachable host delays only
its own column. The records come from :func:`workbench.ops.environment.release_records` (SFTP
on remote hosts; ``local`` reads its state root directly). An environment that cannot be read
shows ``?`` in its cells, the reason in :attr:`DeployCell.reason`; nothing raises.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text

from workbench import releases
from workbench.model import Environment, Project
from workbench.ops.listing import Listing
from workbench.releases import Release

from .common import failure_line
from .matrix import Cell, CellUpdate, live_updates

TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class DeployCell(Cell):
    """A cell with the time of the last release (``when``) or why it is unknown (``reason``)."""

    when: str = ""
    reason: str = ""

    def render(self, now: datetime | None = None) -> Text:
        if self.reason:
            return Text("?", style="bold red")
        if self.deployed and self.when:
            return Text.assemble(self.version[:8] if self.version else "?",
                                 (f" {self.when}", "dim"))
        return Cell.render(self)


def when(record: Release) -> str:
    """The release's time in local time: ``11-22 04:05``."""
    moment = record.moment
    return moment.astimezone().strftime("%m-%d %H:%M") if moment else "?"


def cells_for(env: str, endpoints: Iterable[str],
              records: dict[str, list[Release]]) -> list[CellUpdate]:
    updates = []
    for name in endpoints:
        found = sorted(records.get(name, ()), key=lambda r: r.time)
        now = releases.current(found)
        cell = (DeployCell(deployed=False) if now is None else
                DeployCell(deployed=True, version=now.version, when=when(now)))
        updates.append(CellUpdate(name, env, cell))
    return updates


def failed_cells(env: str, endpoints: Iterable[str], reason: str) -> list[CellUpdate]:
    return [CellUpdate(name, env, DeployCell(deployed=True, reason=reason)) for name in endpoints]


async def read_environment(project: Project, env: Environment,
                           endpoints: Iterable[str]) -> dict[str, list[Release]]:
    """Every record of ``endpoints`` in ``env``, from all its hosts (through the ops)."""
    from workbench.ops.environment import release_records
    from workbench.sites import open_sites

    return await release_records(project, env.name, list(endpoints), open_sites)


def environment_cells(project: Project, env: Environment,
                      endpoints: Iterable[str]) -> list[CellUpdate]:
    names = list(endpoints)
    try:
        records = asyncio.run(asyncio.wait_for(read_environment(project, env, names), TIMEOUT))
    except TimeoutError:
        return failed_cells(env.name, names, f"no answer within {TIMEOUT:g}s")
    except Exception as exc:  # unreachable, auth, a bad record: shown, never raised
        return failed_cells(env.name, names, failure_line(exc))
    return cells_for(env.name, names, records)


class DeployStatus:
    """The :class:`~screens.matrix.LiveProvider` of the TUI: called, it reads the deployed
    versions once; :meth:`watch` keeps every cell live."""

    def __init__(self, *, live: bool = True) -> None:
        self.live = live
        """False: only read the deployed versions once (no watcher)."""

    def last_lines(self, project: Project, env: str, endpoint: str, count: int) -> list[str]:
        """The last ``count`` log lines of the endpoint on every host of ``env``, merged in
        time order and tagged with their host (:func:`workbench.ops.logs.stream_logs`)."""
        from workbench.ops.logs import LogBatch, LogQuery, stream_logs

        found: list[str] = []
        lost: list[str] = []

        def take(batch: LogBatch) -> None:
            found.extend(f"{r.host}  {r.message or r.raw}" if r.host else r.message or r.raw
                         for r in batch.records)
            lost.extend(f"{host}: {why}" for host, why in batch.unreachable.items())

        query = LogQuery(endpoints=(endpoint,), tail=count)
        asyncio.run(asyncio.wait_for(stream_logs(project, env, query, take), TIMEOUT))
        return found[-count:] + [f"(unreachable {line})" for line in lost]

    def watch(self, listing: Listing, report: Callable[[list[CellUpdate]], None],
              stopped: threading.Event) -> None:
        """Watch every host of the project's environments until ``stopped`` is set."""
        from workbench.ops.watch import watch_until

        asyncio.run(watch_until(listing.project, lambda found: report(live_updates(found)),
                                stopped))

    def __call__(self, listing: Listing) -> Iterator[CellUpdate]:
        project = listing.project
        endpoints = [e.name for e in project.endpoints]
        if not endpoints or not project.environments:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(project.environments))) as pool:
            futures = [pool.submit(environment_cells, project, env, endpoints)
                       for env in project.environments]
            for future in as_completed(futures):
                yield from future.result()


def reasons(updates: Iterable[CellUpdate]) -> dict[str, str]:
    """Why environments could not be read, by name (from a batch of updates)."""
    return {u.environment: u.cell.reason for u in updates
            if isinstance(u.cell, DeployCell) and u.cell.reason}
