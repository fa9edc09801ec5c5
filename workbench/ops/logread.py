"""Reading one container's log for ``logs`` (:mod:`workbench.ops.logs`): the container to read
on each host, the reader thread's body (Docker's timestamps; masked, parsed and filtered on that
thread) and the bounded inbox between that thread and the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine import Engine, Stream, blocking
from ..errors import WorkbenchError
from ..logmerge import LineFilter, Lines, concat, parse_lines
from ..model import Environment, Project
from ..plainget import PlainGet, open_get
from ..redact import Redactor
from ..site import Site

if TYPE_CHECKING:
    from .logs import LogQuery


class Inbox:
    """One container's parsed lines between its reader thread and the loop (bounded: beyond
    ``limit`` lines the oldest are dropped and counted)."""

    def __init__(self, source: str, limit: int) -> None:
        self.source = source
        self.limit = limit
        self._parts: deque[Lines] = deque()
        self._count = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def feed(self, lines: Lines) -> None:
        with self._lock:
            self._parts.append(lines)
            self._count += len(lines)
            while self._count > self.limit:
                over = self._count - self.limit
                first = self._parts[0]
                size = len(first)
                if size <= over:
                    self._parts.popleft()
                else:
                    self._parts[0] = first.slice(over, size)
                    size = over
                self._count -= size
                self._dropped += size

    def take(self) -> tuple[Lines, int]:
        with self._lock:
            parts = list(self._parts)
            self._parts.clear()
            self._count = 0
            dropped, self._dropped = self._dropped, 0
        return (concat(parts) if parts else Lines()), dropped


@dataclass(slots=True)
class Reader:
    """One container's reader thread: its inboxes, host and stream."""

    inbox: Inbox
    """Lines as they come (following) or every line (not following)."""
    backlog: Inbox
    """Following: the lines that were there when it started."""
    host: str
    stream: Stream
    container: str = ""
    caught_up: threading.Event = field(default_factory=threading.Event)
    future: asyncio.Future[None] | None = None
    newest: list[str] = field(default_factory=lambda: [""])
    """The time of the last line read (one item, shared with the reader thread)."""


def reading(engine: Engine, container_id: str, query: LogQuery, redactor: Redactor,
            reader: Reader, fresh: bool = False, after: str = "") -> Callable[[], None]:
    """The body of one reader thread: the container's log, masked, parsed and filtered.

    Following, it reads in two requests: what is there (into ``reader.backlog``, merged with
    the other containers' by a full sort), then the lines after the last one read, and those
    that come (into ``reader.inbox``, through the reorder window): asked for as the last
    :data:`LIVE_TAIL` lines (``since`` would make Docker decode the whole log again), or by
    time when those do not reach back. A backlog read at uneven
    speeds from several hosts would otherwise outrun any window. A ``fresh`` container (one
    that started while following) is read from its first line, as it comes; one that started
    again (``after``: the time of the last line read of it before) from the lines after it."""
    from ..engine import body_chunks
    from ..logstream import DockerLogDecoder

    source, stream = reader.inbox.source, reader.stream
    keep = LineFilter(query.grep, query.level)
    params: dict[str, Any] = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 0}
    if query.since is not None:
        params["since"] = f"{query.since:.9f}"
    if query.tail is not None:
        params["tail"] = str(query.tail)
    newest = reader.newest

    def read(params: dict[str, Any], feed: Callable[[Lines], None], reach: bool = False) -> None:
        """One request's lines to ``feed``; ``reach``: its first line must be no later than
        the last one read before (else :class:`_Gap`, and nothing is fed)."""
        after = newest[0]
        reached = [not reach]

        def take(lines: list[str]) -> None:
            if not lines:
                return
            if redactor:
                lines = redactor(lines)
            chunk = parse_lines(lines, source)
            times = chunk.times
            if not reached[0]:
                if times[0] > after:
                    raise _Gap
                reached[0] = True
            last = max(times)
            if last > newest[0]:
                newest[0] = last
            if after and min(times) <= after:  # the backlog had lines up to ``after``: shown
                chunk = chunk.take([i for i, time in enumerate(times) if time > after])
            chunk = keep(chunk)
            if chunk.times:
                feed(chunk)

        api = engine.api
        url = f"{api.base_url}/v{api.api_version}/containers/{container_id}/logs"
        try:  # over HTTP/1.0 where it can (workbench/plainget.py): no chunk per line
            response = open_get(api, url, params) or api.get(url, params=params, stream=True,
                                                             timeout=None)
        except Exception:
            if stream.closed:
                return
            raise
        stream.attach(response)
        if response.status_code == 404:  # removed meanwhile: nothing to read
            return
        if response.status_code >= 400:
            raise WorkbenchError(f"the engine refused the log of {source} "
                                 f"({response.status_code})", "check the engine's log")
        decoder = DockerLogDecoder()
        try:
            chunks = response.chunks() if isinstance(response, PlainGet) else \
                body_chunks(response)
            for chunk in chunks:
                take(decoder.feed(chunk))
            take(decoder.finish())
        except Exception:
            if not stream.closed:
                raise
        finally:
            response.close()

    def run() -> None:
        if fresh:
            reader.caught_up.set()
            again = {"since": unix_time(after)} if after else {}
            newest[0] = after  # lines up to it were shown
            read({"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 1, **again},
                 reader.inbox.feed)
            return
        if not query.follow:
            read(params, reader.inbox.feed)
            return
        try:
            read(params, reader.backlog.feed)
        finally:
            reader.caught_up.set()
        if stream.closed:
            return
        live = {**params, "follow": 1}
        if newest[0]:  # from the last line read on (those up to it are skipped)
            live.pop("since", None)
            try:  # the last lines: cheap for Docker, which reads them from the file's end
                read({**live, "tail": str(LIVE_TAIL)}, reader.inbox.feed, reach=True)
                return
            except _Gap:  # more came between the two requests: ask for them by time
                if stream.closed:
                    return
            live.pop("tail", None)
            live["since"] = unix_time(newest[0])  # Docker decodes the whole file for this
        read(live, reader.inbox.feed)

    return run


LIVE_TAIL = 500
"""Following, the second request asks for this many last lines (then new ones): enough to
reach back to the last line the first request read, unless more came in between."""


class _Gap(Exception):
    """The last lines did not reach back to the last line read before."""


def unix_time(stamp: str) -> str:
    """A normalized Docker timestamp as ``seconds.nanoseconds`` (Docker's ``since``)."""
    from datetime import datetime

    whole = datetime.fromisoformat(stamp[:19] + "+00:00")
    return f"{int(whole.timestamp())}.{stamp[20:29]}"


async def endpoint_containers(project: Project, env: Environment, site: Site,
                      wanted: Sequence[str]) -> list[tuple[str, str]]:
    """(source, container id) of each endpoint's current container on the host (on a Swarm:
    of each of its running tasks there, the source naming the task's slot)."""
    from .. import releases
    from .observe import current_containers, label_of, list_apps

    listing = await blocking(lambda: list_apps(site, project.name, env.name))
    names = sorted({e.name for e in project.endpoints} | {label_of(c, "endpoint") for c in listing})
    if wanted:
        names = [n for n in names if n in wanted]
    if env.engine == "swarm":  # every running task of the services: Swarm says which are current
        from .logwatch import source_of

        return [(source_of(c.get("Labels") or {}), str(c["Id"])) for c in listing
                if label_of(c, "endpoint") in names and c.get("State") == "running"]
    records = await asyncio.gather(*(releases.history(site.store, n) for n in names))
    current = {n: r for n, rs in zip(names, records, strict=True)
               if (r := releases.current(rs, site.name)) is not None}
    chosen = current_containers([c for c in listing if label_of(c, "endpoint") in names], current)
    return [(label_of(c, "endpoint"), str(c["Id"])) for c in chosen]


def secrets_redactor(project: Project, env: Environment) -> tuple[Redactor, list[str]]:
    """Masks every secret value of the environment (its secrets file), also as JSON escapes
    it (an app that logs JSON writes ``"`` as ``\\"``); and warnings for what cannot be masked."""
    import json

    from ..secrets import read_env_file, secrets_for

    values: dict[str, str] = {}
    notes: list[str] = []
    for endpoint in project.endpoints:
        try:
            values.update(secrets_for(project.root, env.secrets_file, env.name, endpoint.name,
                                      endpoint.secrets))
        except WorkbenchError as exc:
            notes.append(f"secret values of {endpoint.name} cannot be masked: {exc.line}")
    path = project.root / env.secrets_file
    with contextlib.suppress(OSError, WorkbenchError):
        if path.is_file():
            values.update(read_env_file(path))
    escaped = {f"{name}\0json": json.dumps(value)[1:-1] for name, value in values.items()}
    return Redactor({**values, **escaped}), notes
