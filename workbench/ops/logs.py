"""``logs``: the container logs of every host of an environment, merged in time order.

The API both front ends use (the batch ``logs`` command and the TUI's log view)::

    summary = await stream_logs(project, "staging", LogQuery(follow=True), emit, stop=stop)

- ``emit(batch: LogBatch)`` is called on the event loop, in order: ``batch.lines`` are
  :class:`~workbench.logmerge.Lines` in time order (columns: ``times``, ``sources`` =
  ``endpoint@host``, ``texts`` as shown, ``levels``, ``raws``, and which were ``late``;
  ``lines.shown()`` gives the plain output), ``batch.records`` the same as
  :class:`~workbench.logparse.LogRecord` objects (made when asked for), ``batch.dropped`` counts
  lines lost since the last batch because the consumer fell behind, ``batch.unreachable`` names
  hosts (host -> reason) that could not be read or were lost, and ``batch.notes`` carries
  warnings.
- It returns when ``stop`` is set, when every container's log ended (always, without
  ``follow``), or raises ``CancelledError`` when its task is cancelled (Ctrl-C, ``esc``). Every
  way out closes each log stream (so each reader thread ends) and waits for the reader threads
  before the SSH connections are closed: nothing is left behind.

Per host (:func:`workbench.sites.open_reachable`, one SSH connection each, the docker socket
forwarded) the current container of each endpoint is found by its labels, as ``observe`` does,
and its log is read with Docker's timestamps (``/containers/ID/logs?timestamps=1``, with
``since``, ``tail`` and ``follow``) on a thread of its own. Each line is masked (the
environment's secret values, :mod:`workbench.redact`), parsed and filtered (``grep``, ``level``)
on that thread, a chunk at a time, then waits in a bounded per-container inbox: when the loop
falls behind, the oldest lines are dropped and counted (as :class:`~workbench.logstream.LogPump`
does). Without ``follow`` every container's
log is read to its end and all of it is sorted by time at once; with ``follow`` a
:class:`~workbench.logmerge.ReorderWindow` (0.5 s, 50,000 lines) orders lines as they come,
and a container of a followed endpoint that starts meanwhile (a redeploy: Docker's start events
on the same socket, :mod:`workbench.ops.logwatch`) is read from its first line on; a stopped or
removed one's log just ends.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..engine import Stream, follow
from ..errors import BadInput
from ..logmerge import HOLD, LIMIT, Lines, ReorderWindow, merge
from ..logparse import RANKS, LogRecord
from ..model import Project
from ..site import Site
from .logread import (
    Inbox,
    Reader,
    endpoint_containers,
    reading,
    secrets_redactor,
)
from .logwatch import Starts
from .observe import Opener

INTERVAL = 0.1
"""Seconds between two looks at the inboxes when following."""
BUFFER = 50_000
"""Lines a container's inbox holds when following before it drops the oldest."""
READ_ALL = 2_000_000
"""Lines a container's inbox holds without ``follow`` (a full sort needs them all)."""
BATCH = 5_000
"""Most lines in one LogBatch."""
EVENTS_READY = 10.0
"""Following, seconds to wait for each host's event stream before listing its containers."""


@dataclass(frozen=True, slots=True)
class LogQuery:
    """What to read: endpoints (default all), since (UNIX seconds), tail, follow, grep, level
    (lines of at least that level, one of :data:`~workbench.logparse.RANKS`)."""

    endpoints: tuple[str, ...] = ()
    since: float | None = None
    tail: int | None = None
    follow: bool = False
    grep: re.Pattern[str] | None = None
    level: str | None = None
    hold: float = HOLD
    """Reorder window: seconds a followed line waits for earlier lines of other sources."""
    limit: int = LIMIT
    """Reorder window: most lines held."""
    buffer: int | None = None
    """Lines per container between its reader and the merge (default: BUFFER when following,
    READ_ALL otherwise); beyond it the oldest are dropped and counted."""


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Some lines in time order, and what the consumer should know with them."""

    lines: Lines = field(default_factory=Lines)
    dropped: int = 0
    unreachable: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def records(self) -> list[LogRecord]:
        """The lines as records (made now: the hot path uses :attr:`lines`)."""
        return self.lines.records()


@dataclass(frozen=True, slots=True)
class LogSummary:
    """How a stream ended."""

    lines: int
    dropped: int
    late: int
    """Lines released behind later ones (they came after the reorder window)."""
    unreachable: Mapping[str, str]
    sources: tuple[str, ...]


Emit = Callable[[LogBatch], None]


def host_labels(specs: Sequence[str]) -> dict[str, str]:
    """How hosts are named in sources: ``host:port`` without the user, unless two hosts of the
    environment would then look alike."""
    short = {spec: spec.rpartition("@")[2] for spec in specs}
    if len(set(short.values())) == len(short):
        return short
    return {spec: spec for spec in specs}


async def stream_logs(project: Project, env_name: str, query: LogQuery, emit: Emit, *,
                      stop: asyncio.Event | None = None,
                      opener: Opener | None = None) -> LogSummary:
    """Stream the logs of ``env_name``'s endpoints on every host to ``emit`` (module docstring)."""
    env = project.environment(env_name)
    known = {e.name for e in project.endpoints}
    unknown = [n for n in query.endpoints if n not in known]
    if query.level is not None and query.level not in RANKS:
        raise BadInput(f"no log level {query.level!r}", f"pick one of {', '.join(RANKS)}")
    if unknown:
        raise BadInput(f"project '{project.name}' has no endpoint "
                       f"{', '.join(repr(n) for n in unknown)}",
                       f"pick from {', '.join(sorted(known)) or '(none)'}")
    if opener is None:
        from ..sites import open_reachable

        opener = open_reachable
    redactor, notes = await asyncio.to_thread(secrets_redactor, project, env)
    if notes:
        emit(LogBatch(notes=tuple(notes)))
    stop = stop or asyncio.Event()
    async with opener(project, env) as (sites, failed):
        unreachable = dict(failed)
        if failed:
            emit(LogBatch(unreachable=dict(failed)))
        labels = host_labels([h.spec for h in env.hosts] if not env.is_local else ["local"])
        readers: list[Reader] = []
        starts: list[Starts] = []

        def start(site: Site, endpoint: str, container_id: str, fresh: bool = False,
                  after: str = "") -> None:
            source = f"{endpoint}@{labels.get(site.name, site.name)}"
            limit = query.buffer or (BUFFER if query.follow else READ_ALL)
            reader = Reader(Inbox(source, limit), Inbox(source, READ_ALL), site.name, Stream(),
                            container_id)
            reader.future = follow(reading(site.engine, container_id, query, redactor, reader,
                                           fresh, after), reader.stream)
            readers.append(reader)

        again: dict[str, tuple[Site, str]] = {}  # container -> (site, endpoint): started again

        def started() -> bool:
            """Follow the containers that started since the last look (a redeploy), and those
            that started again (a restart in place) once their last reader has ended; whether
            more can still come (an event stream runs, or a restart waits)."""
            last = {r.container: r for r in readers}
            for watch in starts:
                for endpoint, container_id in watch.take():
                    if container_id in last:
                        again[container_id] = (watch.site, endpoint)
                    else:
                        start(watch.site, endpoint, container_id, fresh=True)
                        last[container_id] = readers[-1]
                note = watch.note()
                if note:
                    emit(LogBatch(notes=(note,)))
            for container_id, (site, endpoint) in list(again.items()):
                before = last[container_id]
                if before.future is None or before.future.done():
                    del again[container_id]
                    start(site, endpoint, container_id, fresh=True, after=before.newest[0])
            return bool(again) or any(not watch.problem for watch in starts)

        try:
            if query.follow:  # listen for starts before listing: no container falls between
                starts += [Starts(s, project.name, env.name, query.endpoints) for s in sites]
                waits = [asyncio.ensure_future(watch.ready.wait()) for watch in starts]
                if waits:  # an engine answers at once; one that does not is not waited for
                    await asyncio.wait(waits, timeout=EVENTS_READY)
                for wait in waits:
                    wait.cancel()
            found = await asyncio.gather(*(endpoint_containers(project, env, s, query.endpoints)
                                           for s in sites), return_exceptions=True)
            for site, item in zip(sites, found, strict=True):
                if isinstance(item, BaseException):
                    if not isinstance(item, Exception):
                        raise item
                    unreachable[site.name] = _why(item)
                    emit(LogBatch(unreachable={site.name: unreachable[site.name]}))
                    continue
                for endpoint, container_id in item:
                    start(site, endpoint, container_id)
            if query.follow:
                counts = await _follow(readers, query, emit, stop, unreachable, started)
            else:
                counts = await _read_all(readers, emit, stop, unreachable)
        finally:
            await _close(readers)
            await asyncio.gather(*(watch.close() for watch in starts))
    return LogSummary(counts[0], counts[1], counts[2], unreachable,
                      tuple(dict.fromkeys(r.inbox.source for r in readers)))


async def _follow(readers: list[Reader], query: LogQuery, emit: Emit, stop: asyncio.Event,
                  unreachable: dict[str, str],
                  started: Callable[[], bool]) -> tuple[int, int, int]:
    """What is there, fully sorted, once every reader has read it; then what comes, through
    the reorder window (``started()`` adds readers of containers that started meanwhile)."""
    window = ReorderWindow(query.hold, query.limit)
    lines = dropped_total = 0
    backlog = True
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            watching = started()
            running = [r.future for r in readers if r.future is not None and not r.future.done()]
            if stop.is_set() or not (running or watching):
                break
            await asyncio.wait([stopped, *running], timeout=INTERVAL,
                               return_when=asyncio.FIRST_COMPLETED)
            ended = not any(r.future is not None and not r.future.done() for r in readers)
            lost = _lost(readers, unreachable)
            if backlog:
                if not (ended or stop.is_set() or all(r.caught_up.is_set() for r in readers)):
                    if lost:
                        _emit(emit, Lines(), 0, lost)
                    continue
                backlog = False
                merged, dropped = _merge([r.backlog for r in readers])
                if merged.times:
                    window.last = merged.times[-1]
                lines += len(merged)
                dropped_total += dropped
                _emit(emit, merged, dropped, lost)
                lost = {}
            dropped = _take(readers, window, time.monotonic())
            out = window.drain(time.monotonic(), everything=ended or stop.is_set())
            lines += len(out)
            dropped_total += dropped
            _emit(emit, out, dropped, lost)
    finally:
        stopped.cancel()
    if backlog:  # stopped or ended before every reader caught up: show what was read
        merged, dropped = _merge([r.backlog for r in readers])
        _emit(emit, merged, dropped, _lost(readers, unreachable))
        lines, dropped_total = lines + len(merged), dropped_total + dropped
    return lines, dropped_total, window.late


def _merge(inboxes: Iterable[Inbox]) -> tuple[Lines, int]:
    """Every line the inboxes hold, in time order, and what they dropped."""
    parts, dropped = [], 0
    for inbox in inboxes:
        lines, lost = inbox.take()
        parts.append(lines)
        dropped += lost
    return merge(parts), dropped


def _take(readers: Iterable[Reader], window: ReorderWindow, now: float) -> int:
    """Move what the readers put in their inboxes into the window; the lines they dropped."""
    dropped = 0
    for reader in readers:
        lines, lost = reader.inbox.take()
        window.add(lines, now, reader.container)
        dropped += lost
    return dropped


async def _read_all(readers: list[Reader], emit: Emit, stop: asyncio.Event,
                    unreachable: dict[str, str]) -> tuple[int, int, int]:
    futures = [r.future for r in readers if r.future is not None]
    stopped = asyncio.ensure_future(stop.wait())
    try:
        pending = set(futures)
        while pending and not stop.is_set():
            _done, pending = await asyncio.wait({*pending, stopped},
                                                return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopped)
    finally:
        stopped.cancel()
    lost = _lost(readers, unreachable)
    merged, dropped = _merge(r.inbox for r in readers)
    _emit(emit, merged, dropped, lost)
    return len(merged), dropped, 0


def _emit(emit: Emit, lines: Lines, dropped: int, lost: Mapping[str, str]) -> None:
    if lost:
        emit(LogBatch(unreachable=dict(lost)))
    count = len(lines)
    if not count:
        if dropped:
            emit(LogBatch(dropped=dropped))
        return
    if count <= BATCH:
        emit(LogBatch(lines, dropped))
        return
    for start in range(0, count, BATCH):
        emit(LogBatch(lines.slice(start, start + BATCH), dropped))
        dropped = 0


def _lost(readers: Iterable[Reader], unreachable: dict[str, str]) -> dict[str, str]:
    """Hosts whose reader failed, newly (host -> reason); recorded in ``unreachable``."""
    new: dict[str, str] = {}
    for reader in readers:
        future = reader.future
        if future is None or not future.done() or future.cancelled():
            continue
        error = future.exception()
        if error is not None and reader.host not in unreachable:
            unreachable[reader.host] = new[reader.host] = f"lost: {_why(error)}"
    return new


async def _close(readers: list[Reader]) -> None:
    """Close every stream (each reader thread then ends) and wait for the threads."""
    for reader in readers:
        reader.stream.close()
    futures = [r.future for r in readers if r.future is not None]
    if futures:
        await asyncio.shield(asyncio.gather(*futures, return_exceptions=True))


def _why(exc: BaseException) -> str:
    line = getattr(exc, "line", None)
    return str(line) if line else (f"{type(exc).__name__}: {exc}".splitlines() or ["?"])[0]

