"""The proxies of a deploy: made ready on every host beside the builds, then switched.

Per host (:class:`~workbench.site.Site`), :meth:`Routing.prepare` reads what the proxy routes
to now (the current releases) and, in the background, makes the network and the proxy ready
and gives it those routes back when it lost them. A switch goes through the host's
:class:`~workbench.switchboard.Switchboard` (switches that come during a reload share the next
one) and returns only once nginx's new workers answer with the new config and its old workers
stopped taking connections; :meth:`Routing.old_workers_gone` waits until those old workers
finished their requests in flight, after which an old container may stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from .. import naming, probe, proxy, releases
from ..engine import blocking
from ..errors import OperationFailed
from ..events import Emit, Warning
from ..model import Endpoint, Environment, Project
from ..releases import Release
from ..site import Site
from ..switchboard import Switchboard

T = TypeVar("T")
Route = tuple[str, Endpoint]
"""(container name, endpoint): what the proxy sends an endpoint's routes to."""


def as_deployed(endpoint: Endpoint, release: Release) -> Endpoint:
    """``endpoint`` with the port and routes its release was deployed with (its record's
    endpoint.yaml values): the proxy keeps routing an endpoint that is not being deployed as
    it was deployed, whatever its endpoint.yaml in the repo says now."""
    config = release.endpoint_config
    if not config:
        return endpoint  # a record from before endpoint.yaml values were kept
    return replace(endpoint, port=int(config.get("port", endpoint.port)),
                   routes=tuple(config.get("routes", endpoint.routes)))


class NotReady(Exception):
    """The proxy of ``host`` could not be made ready (:meth:`Routing.settle` raises why)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"the proxy on {host} could not be made ready")
        self.host = host


class Routing:
    """The proxies of one environment's hosts during one deploy or rollback."""

    def __init__(self, project: Project, env: Environment, sites: Sequence[Site], emit: Emit,
                 drain: float) -> None:
        self.project, self.env, self.sites, self.emit = project, env, sites, emit
        self.drain = drain
        self.boards: dict[str, Switchboard[Site, Route]] = {}
        """Each host's proxy switches, by host."""

    async def prepare(self, endpoints: Sequence[Endpoint]) -> None:
        """What each host's proxy routes to now (release records, all read at once); then the
        network, the proxy and those routes are made ready on every host in the background,
        beside the builds: a new container starts only once they are (:meth:`when_ready`)."""
        async def current(site: Site, endpoint: Endpoint) -> None:
            found = releases.current(await releases.history(site.store, endpoint.name),
                                     site.name)
            if found is not None:
                site.current[endpoint.name] = found
                if found.container:
                    site.active[endpoint.name] = (found.container, as_deployed(endpoint, found))

        await asyncio.gather(*(current(site, endpoint) for site in self.sites
                               for endpoint in endpoints))
        for site in self.sites:
            site.ready = asyncio.ensure_future(self._ready(site))

    async def close(self) -> None:
        """Stop the proxies' background work (all done unless interrupted)."""
        work = [site.ready for site in self.sites if site.ready is not None]
        work += [board.task for board in self.boards.values() if board.task is not None]
        for future in work:
            future.cancel()
        await asyncio.gather(*work, return_exceptions=True)

    async def settle(self) -> None:
        """Wait until every host's proxy is ready; raise why one could not be (as a failure
        before the run did: the endpoints that waited for it have not started)."""
        for site in self.sites:
            if site.ready is not None:
                await asyncio.shield(site.ready)

    async def when_ready(self, site: Site, work: Awaitable[T]) -> T:
        """``await work``, unless the host's proxy cannot be made ready meanwhile: then
        ``work`` is cancelled and :class:`NotReady` raised."""
        ready = site.ready
        task = asyncio.ensure_future(work)
        if ready is None:
            return await task
        try:
            await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        if ready.done() and (ready.cancelled() or ready.exception() is not None):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise NotReady(site.name)
        return await task

    async def proxy_ready(self, site: Site) -> None:
        """Wait for the host's network, proxy and current routes (:class:`NotReady`)."""
        if site.ready is None:
            return
        await asyncio.wait([site.ready])
        if site.ready.cancelled() or site.ready.exception() is not None:
            raise NotReady(site.name)

    def board(self, site: Site) -> Switchboard[Site, Route]:
        """The host's switchboard (made on first use)."""
        if site.name not in self.boards:
            self.boards[site.name] = Switchboard(site, self._apply)
        return self.boards[site.name]

    async def switch(self, site: Site, endpoint: Endpoint, container: str | None) -> None:
        """Route ``endpoint`` to ``container`` on the host (None: no route)."""
        await self.board(site).switch(endpoint.name,
                                      (container, endpoint) if container else None)

    async def revert(self, switched: Sequence[Site], endpoint: Endpoint) -> tuple[str, ...]:
        """Route ``endpoint`` back to its current release on the ``switched`` hosts; returns
        the hosts where that worked."""
        reverted = []
        for site in switched:
            current = site.current.get(endpoint.name)
            with contextlib.suppress(Exception):
                if current is None or not current.container:
                    await self.board(site).switch(endpoint.name, None)
                else:
                    await self.board(site).switch(endpoint.name, (
                        current.container, as_deployed(endpoint, current)))
                reverted.append(site.name)
        return tuple(reverted)

    def drop(self, name: str) -> None:
        """``name`` will not switch in this run (done or failed): reloads stop waiting for it."""
        for site in self.sites:
            self.board(site).drop(name)

    async def old_workers_gone(self, site: Site) -> None:
        """Wait (at most ``drain`` s) until nginx's workers from before the reload have
        finished their requests in flight and exited: only they can still send a request to an
        old container, so it can stop then. (Known by PID: right after the reload they may not
        yet call themselves "shutting down", and they still accept connections until then.)"""
        deadline = time.monotonic() + self.drain
        while site.retiring & set(await self._workers(site)):
            if time.monotonic() >= deadline:
                self.emit(Warning(f"the proxy on {site.name} still had requests in flight "
                                  f"after {self.drain:g}s; stopping the old container"))
                return
            await asyncio.sleep(0.05)

    # -- readiness ------------------------------------------------------------------------
    async def _ready(self, site: Site) -> None:
        """The host's network and proxy exist, nginx answers, and it routes to the current
        releases. nginx answering its health path is the readiness check (an exec in the proxy
        costs the engine more); when it does not answer soon, ``proxy.wait_ready`` waits and
        says why (the proxy exited, and its last log line)."""
        env = self.env
        site.proxy_id, site.network = await blocking(lambda: proxy.ensure_environment(
            site.engine, self.project.name, env.name, env.proxy_image, env.proxy_port,
            bind=env.proxy_bind, wait=False))
        served = await self._served(site, within=1.0)
        if served is None:
            await blocking(lambda: proxy.wait_ready(site.engine, site.proxy_id))
            site.proxy_address = ""
            served = await self._served(site, within=5.0)
        await self._restore(site, served)

    async def _served(self, site: Site, within: float) -> str | None:
        """The config id the proxy's health path sends ("" for none), asked until it answers
        or ``within`` seconds passed (then None)."""
        deadline = time.monotonic() + within
        while True:
            status, head = await probe.get(site.connect, await self._address(site),
                                           proxy.LISTEN_PORT, proxy.HEALTH_PATH)
            if status.isdigit():
                return probe.header_value(head, proxy.CONFIG_HEADER)
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def _restore(self, site: Site, served: str | None) -> None:
        """A proxy that does not serve the routes of the current releases (``served`` is not
        their config's id: it was just created, or someone changed it) gets them back before
        anything else happens."""
        if not site.active:
            return
        text = self._config(site.active)
        if served != proxy.config_id(text):
            self.emit(Warning(f"the proxy on {site.name} did not route to the current releases; "
                              "restored its config"))
            await self._apply(site, site.active)

    # -- switching ------------------------------------------------------------------------
    def _config(self, active: Mapping[str, Route]) -> str:
        project, env = self.project.name, self.env.name
        routes = [proxy.Route(prefix, name, naming.upstream(container, project, env), ep.port)
                  for name, (container, ep) in sorted(active.items()) for prefix in ep.routes]
        return proxy.render(self.project.name, self.env.name, routes)

    async def _apply(self, site: Site, active: Mapping[str, Route]) -> None:
        text = self._config(active)
        before = set(await self._workers(site))
        site.retiring |= before
        await blocking(lambda: proxy.apply(site.engine, site.proxy_id, text))
        await self._switched(site, proxy.config_id(text), before)

    async def _switched(self, site: Site, wanted: str | None, before: set[int],
                        timeout: float = 15.0) -> None:
        """Wait until nginx's new workers answer and its old ones (``before``) no longer take
        new connections: ``nginx -s reload`` returns before either is so, and until then a
        request may still reach the old config."""
        if wanted is None:
            return
        deadline = time.monotonic() + timeout
        address = await self._address(site)
        seen = ""
        while time.monotonic() < deadline:
            seen = await probe.header(site.connect, address, proxy.LISTEN_PORT,
                                      proxy.HEALTH_PATH, proxy.CONFIG_HEADER)
            if seen == wanted and not before & {
                    pid for pid, accepting in (await self._workers(site)).items() if accepting}:
                return
            await asyncio.sleep(0.02)
            if not seen:  # no answer: the proxy may have a new address (restarted)
                address = await self._address(site, fresh=True)
        raise OperationFailed(f"the proxy on {site.name} still serves config {seen or '?'} "
                              f"{timeout:g}s after its reload to {wanted}",
                              "see the proxy container's log (nginx may have refused the reload)")

    @staticmethod
    async def _workers(site: Site) -> dict[int, bool]:
        """The host's proxy's nginx workers (:func:`proxy.workers`)."""
        return await blocking(lambda: proxy.workers(site.engine, site.proxy_id))

    async def _address(self, site: Site, fresh: bool = False) -> str:
        """The proxy's address on the network, looked up once (again when ``fresh``)."""
        if fresh or not site.proxy_address:
            site.proxy_address = await blocking(
                lambda: site.engine.address(site.proxy_id, site.network))
        return site.proxy_address
