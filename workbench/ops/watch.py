"""``watch``: keep every endpoint x environment cell up to date, from the hosts' Docker events.

Per host of every environment (each on its own, so one host down hides nothing else)::

    open (SSH + forwarded socket, or the local engine)  --fails-->  its cells: unreachable,
      |                                                             wait (backoff), open again
    observe the host: every endpoint's row  -> updates
      |
    docker events (container start/die/stop/kill/destroy/health_status, filtered by the
    project's labels), read on a thread of its own
      |-- an event: wait a moment for its siblings, observe the host again, and report only
      |   the endpoints the events named
      |-- the stream breaks (the connection closed, or SSH keepalive found the host silent):
      |   the host's cells turn unreachable; wait (backoff), open again
      '-- the engine offers no events: read the host every :data:`~workbench.live.POLL` s

Updates are :class:`~workbench.live.LiveUpdate` values (plain data), handed in batches to a
callback; the repo's side (each endpoint's version and config hash, for the drift flags) is
worked out once, beside the first reads. :meth:`Watcher.run` runs until cancelled, and then
closes every stream and connection before it returns; :func:`watch_until` runs it until a
thread event is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from .. import releases
from ..errors import WorkbenchError
from ..live import POLL, LiveUpdate, affected, backoff, event_filters, health_of
from ..model import Environment, Project
from ..releases import Release
from ..site import Site
from .inputs import ReleaseInput, for_env, gather, keyed
from .observe import Opener, observe_keyed
from .status import Row, rows_of

Report = Callable[[list[LiveUpdate]], None]
HISTORY = 5
"""Release records kept per endpoint for the detail panel."""
SETTLE = 0.15
"""Seconds to wait after an event for the ones that come with it (die, then stop)."""
RECHECK = 1.0
"""Seconds between two reads of an endpoint whose container runs but is not healthy yet (a
health probe of an image without a health check sends no event when it starts to answer)."""
RECHECKS = 15
"""Most such reads after an event."""
REFRESH = 30.0
"""Seconds between two full reads of a host that sends events (health probes, release records
written by other machines)."""


class _Down(Exception):
    """The host cannot be read now; ``line`` says why."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


class Watcher:
    """Watches every host of the project's environments (or ``env_names``)."""

    def __init__(self, project: Project, report: Report, *, opener: Opener | None = None,
                 env_names: Sequence[str] = (), poll: float = POLL,
                 refresh: float = REFRESH, wait: Callable[[int], float] = backoff) -> None:
        from ..sites import open_reachable

        self.project = project
        self.report = report
        self.opener: Opener = opener or open_reachable
        self.envs = ([project.environment(n) for n in env_names] if env_names
                     else list(project.environments))
        self.poll = poll
        self.refresh = refresh
        self.wait = wait
        self.key = secrets.token_bytes(32)  # seals secrets for this process only
        self.names = [e.name for e in project.endpoints]
        self._rows: dict[tuple[str, str], dict[str, Row]] = {}
        self._history: dict[tuple[str, str], dict[str, tuple[Release, ...]]] = {}
        self._source: dict[str, str] = {}
        self._managers: dict[str, asyncio.Queue[tuple[str, Any]]] = {}
        """Swarm env -> its manager's event queue: events of the other nodes' tasks go there,
        since their services are read through the manager."""
        self._repo: asyncio.Future[dict[str, dict[str, ReleaseInput]]] | None = None
        self._notes: dict[str, str] = {}

    async def run(self) -> None:
        """Watch until cancelled."""
        self._repo = asyncio.ensure_future(asyncio.to_thread(self._repo_side))
        try:  # cancelled, a task group waits until every host has closed its connection
            async with asyncio.TaskGroup() as hosts:
                for env in self.envs:
                    for one in _single_hosts(env):
                        hosts.create_task(self._host(env, one))
        finally:
            self._repo.cancel()

    # -- the repo's side ------------------------------------------------------------------
    def _repo_side(self) -> dict[str, dict[str, ReleaseInput]]:
        if not self.envs or not self.project.endpoints:
            return {}
        once = gather(self.project, self.envs[0], self.project.endpoints, with_secrets=False)
        sides = {}
        for env in self.envs:
            try:
                sides[env.name] = for_env(self.project, env, once)
            except WorkbenchError as exc:  # its secrets file is missing here: no config drift
                self._notes[env.name] = exc.line
                sides[env.name] = once
        return sides

    async def _wanted(self, env: str, env_key: bytes | None
                      ) -> tuple[dict[str, ReleaseInput] | None, bool]:
        """The repo's side of ``env`` (None when it cannot be worked out: no drift then)."""
        assert self._repo is not None
        try:
            inputs = (await asyncio.shield(self._repo)).get(env, {})
        except Exception:  # the repo cannot be packed: no drift, the cells still show
            return None, False
        judged = bool(env_key) and env not in self._notes
        return ({n: keyed(i, env_key) if judged and env_key else i for n, i in inputs.items()},
                judged)

    # -- one host ---------------------------------------------------------------------------
    async def _host(self, env: Environment, one: Environment) -> None:
        host = one.hosts[0].spec if one.hosts else "local"
        attempt = 0
        while True:
            try:
                async with self.opener(self.project, one) as (sites, failed):
                    if failed or not sites:
                        raise _Down(next(iter(failed.values()), "cannot be opened"))
                    def opened() -> None:
                        nonlocal attempt
                        attempt = 0

                    await self._follow(env, one, sites[0], opened)
            except _Down as down:
                line = down.line
            except Exception as exc:  # a library error at the boundary: shown on the cells
                line = _line(exc)
            self._unreachable(env, host, line)
            await asyncio.sleep(self.wait(attempt))
            attempt += 1

    async def _observe(self, env: Environment, one: Environment, site: Site,
                       only: set[str] | None) -> set[str]:
        """Read the host; report ``only`` those endpoints (None: all of them). Returns those
        whose health is not settled yet (running, not yet healthy: probed again soon)."""
        state, env_key = await observe_keyed(self.project, one, lambda _p, _e: _given(site),
                                             self.key, with_images=False)
        if state.unreachable:
            raise _Down(next(iter(state.unreachable.values())))
        wanted, judged = await self._wanted(env.name, env_key)
        if wanted is None:  # only what the hosts tell: "missing", never "removed" or "code"
            rows = [replace(r, drift=tuple(f for f in r.drift if f == "missing"))
                    for r in rows_of(state, {}, False)]
        else:
            rows = rows_of(state, wanted, judged)
        names = {r.endpoint for r in rows} if only is None else only
        records = await asyncio.gather(*(releases.history(site.store, n) for n in names))
        host = site.name
        for name, found in zip(names, records, strict=True):
            self._history.setdefault((env.name, name), {})[host] = tuple(found[-HISTORY:])
        for row in rows:
            if row.endpoint in names:
                self._rows.setdefault((env.name, row.endpoint), {})[host] = row
        self._emit(env, names)
        return {r.endpoint for r in rows if r.endpoint in names and r.instance is not None
                and r.instance.state == "running" and health_of(r) != "healthy"}

    async def _follow(self, env: Environment, one: Environment, site: Site,
                      opened: Callable[[], None]) -> None:
        """Read the host once its event stream runs (so no event falls between), then on
        every event, until the stream breaks (then raise :class:`_Down`)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        reader = EventReader(site.engine.api, event_filters(self.project.name, env.name),
                             lambda item: loop.call_soon_threadsafe(queue.put_nowait, item))
        done = reader.start(loop)
        where = f"{env.name} {site.name}"
        manager = env.engine == "swarm" and bool(one.hosts) and one.hosts[0] == env.hosts[0]
        if manager:
            self._managers[env.name] = queue
        try:
            kind, item = await queue.get()
            if kind == "error":  # no event stream here: read it now and then
                self._source[where] = "polling"
                while True:
                    await self._observe(env, one, site, None)
                    opened()
                    await asyncio.sleep(self.poll)
            if kind != "started":
                raise _Down(f"its event stream ended ({item})" if item else
                            "its event stream ended")
            self._source[where] = "events"
            unsettled = await self._observe(env, one, site, None)
            opened()
            checks = {name: RECHECKS for name in unsettled}
            while True:
                try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                    async with asyncio.timeout(RECHECK if checks else self.refresh):
                        kind, item = await queue.get()
                except TimeoutError:  # a health probe to repeat, or the slow full read
                    names = set(checks) if checks else None
                    unsettled = await self._observe(env, one, site, names)
                    checks = {n: left - 1 for n, left in checks.items()
                              if n in unsettled and left > 1}
                    continue
                names = self._named(kind, item, env)
                self._to_manager(env, manager, kind, item)
                await asyncio.sleep(SETTLE)
                while not queue.empty():
                    kind, item = queue.get_nowait()
                    names |= self._named(kind, item, env)
                    self._to_manager(env, manager, kind, item)
                if names:
                    unsettled = await self._observe(env, one, site, names)
                    checks.update({n: RECHECKS for n in unsettled & names})
        finally:
            if manager and self._managers.get(env.name) is queue:
                del self._managers[env.name]
            reader.close()
            await asyncio.gather(done, return_exceptions=True)

    def _to_manager(self, env: Environment, manager: bool, kind: str, item: Any) -> None:
        """A Swarm node's task event, passed to its manager's watch (which reads the service)."""
        found = self._managers.get(env.name) if env.engine == "swarm" and not manager else None
        if found is not None:
            found.put_nowait((kind, item))

    def _named(self, kind: str, item: Any, env: Environment) -> set[str]:
        """The endpoint an event names (as a set); a stream that ended raises :class:`_Down`."""
        if kind != "event":
            raise _Down(f"its event stream ended ({item})" if item else "its event stream ended")
        found = affected(item, self.project.name, env.name)
        return {found} if found else set()

    # -- reports ----------------------------------------------------------------------------
    def _unreachable(self, env: Environment, host: str, line: str) -> None:
        for name in self.names:
            self._rows.setdefault((env.name, name), {})[host] = Row(
                env.name, name, host, None, None, None, (), line)
        self._emit(env, set(self.names))

    def _emit(self, env: Environment, names: Iterable[str]) -> None:
        order = [h.spec for h in env.hosts] if not env.is_local else ["local"]
        updates = []
        for name in sorted(names):
            by_host = self._rows.get((env.name, name), {})
            rows = tuple(by_host[h] for h in order if h in by_host)
            records = [r for rs in self._history.get((env.name, name), {}).values() for r in rs]
            records.sort(key=lambda r: (r.time, r.host), reverse=True)
            sources = {self._source.get(f"{env.name} {h}", "events") for h in by_host}
            updates.append(LiveUpdate(env.name, name, rows, tuple(records[:HISTORY]),
                                      "polling" if "polling" in sources else "events"))
        if updates:
            self.report(updates)


class EventReader:
    """``docker events`` on a thread of its own; each item goes to ``put`` as ``("event",
    dict)``, then one ``("end", why)``, or ``("error", why)`` when the engine offers none.
    :meth:`close` ends the thread by closing the stream's response."""

    def __init__(self, api: Any, filters: dict[str, list[str]],
                 put: Callable[[tuple[str, Any]], object]) -> None:
        self.api, self.filters, self.put = api, filters, put
        self._stream: Any = None
        self._lock = threading.Lock()
        self.closed = False

    def start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        done: asyncio.Future[None] = loop.create_future()

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        def run() -> None:
            try:
                self._read()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(finish)

        threading.Thread(target=run, name="workbench-events", daemon=True).start()
        return done

    def _read(self) -> None:
        try:
            stream = self.api.events(decode=True, filters=self.filters)
        except Exception as exc:  # an engine or proxy without the events endpoint
            self.put(("error", _line(exc)))
            return
        with self._lock:
            self._stream = stream
            closed = self.closed
        if closed:
            self._close_stream()
            return
        self.put(("started", None))
        why = ""
        try:
            for event in stream:
                self.put(("event", event))
        except Exception as exc:
            why = _line(exc)
        if not self.closed:
            self.put(("end", why))

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self._close_stream()

    def _close_stream(self) -> None:
        with self._lock:
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


async def watch_until(project: Project, report: Report, stopped: threading.Event,
                      **options: Any) -> None:
    """Run a :class:`Watcher` until ``stopped`` is set (from any thread)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(Watcher(project, report, **options).run())

    def wait() -> None:
        stopped.wait()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(task.cancel)

    threading.Thread(target=wait, name="workbench-watch-stop", daemon=True).start()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _single_hosts(env: Environment) -> list[Environment]:
    """The environment once per host (``local`` once), so each host is opened on its own."""
    if env.is_local or not env.hosts:
        return [env]
    return [replace(env, hosts=(host,)) for host in env.hosts]


@contextlib.asynccontextmanager
async def _given(site: Site) -> AsyncIterator[tuple[list[Site], dict[str, str]]]:
    yield [site], {}


def _line(exc: BaseException) -> str:
    line = getattr(exc, "line", None)
    return str(line) if line else (f"{type(exc).__name__}: {exc}".splitlines() or ["?"])[0]
