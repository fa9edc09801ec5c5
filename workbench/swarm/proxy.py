"""The proxy of a Swarm environment: one nginx task pinned to the manager, routing to the
endpoint services by name (docs/swarm.md).

Why this shape: a route change must not drop a request. A new proxy task cannot start beside
the old one on a published host port, and Swarm configs cannot change in place, so the proxy's
config is NOT in its spec. It lives in a volume on the manager (seeded with no routes on the
task's first start) and is changed like the single-host proxy's: written beside the live one
by an exec in the task's container, checked with ``nginx -t``, moved into place and reloaded
gracefully (:func:`workbench.proxy.apply`), then watched until nginx's new workers answer with
the new config and its old ones stopped accepting. Names are resolved per request
(:data:`workbench.proxyconf.DOCKER_DNS`), so a rolling update needs no reload at all: the
config changes only when routes or ports do.

Health of the proxy is asked through the manager's SSH connection at ``127.0.0.1:proxy_port``
(the published port, in either publish mode).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from .. import naming, probe, proxyconf
from .. import proxy as nginx
from ..engine import LABEL, Engine, blocking
from ..errors import OperationFailed
from ..model import Endpoint, Environment, Project
from ..site import Site
from . import services
from .services import explain
from .spec import Image, proxy_spec, to_api

READY_TIMEOUT = 90.0
"""Seconds for a proxy task to run and answer (its image may be loaded, a node may be slow)."""
SWITCH_TIMEOUT = 15.0


class SwarmProxy:
    """The environment's proxy service during one deploy."""

    def __init__(self, project: Project, env: Environment, manager: Site, network: str,
                 network_id: str) -> None:
        self.project, self.env, self.manager = project, env, manager
        self.network, self.network_id = network, network_id
        self.service_id = ""
        self.container = ""
        self.served: str | None = None
        """The id of the config nginx serves now (:func:`workbench.proxyconf.config_id`)."""
        self._lock = asyncio.Lock()

    @property
    def engine(self) -> Engine:
        return self.manager.engine

    async def ensure(self, pin: str) -> None:
        """The proxy service exists (made when missing, refused when it publishes another
        port or runs another image), its task runs on the manager and nginx answers."""
        image = await blocking(lambda: _image(self.engine, self.env.proxy_image))
        spec = proxy_spec(self.project.name, self.env, image=image, network=self.network,
                          pin=pin)
        body = to_api(spec, self.network_id)
        wanted = services.identity(self.project.name, self.env.name, "proxy")
        current = await blocking(lambda: services.find(self.engine, spec.name, wanted))
        if current is None:
            project, env = self.project.name, self.env.name
            await blocking(lambda: services.check_volume(
                self.engine, naming.proxy_volume(project, env),
                naming.labels(project, env, "proxy-config")))
            self.service_id = await blocking(lambda: services.put(self.engine, body, None))
        else:
            _check_same(current, body, spec.image_tag)
            self.service_id = current.id
        await self._running()

    async def switch(self, routes: Mapping[str, Endpoint]) -> bool:
        """Serve ``routes`` (endpoint name -> its endpoint as deployed); returns whether the
        config changed. Calls are serialized; each renders every route it is given."""
        text = self._config(routes)
        wanted = proxyconf.config_id(text)
        async with self._lock:
            if wanted == self.served:
                return False
            for attempt in (1, 2):
                try:
                    before = set(await self._workers())
                    await blocking(lambda: nginx.apply(self.engine, self.container, text))
                    break
                except OperationFailed:
                    if attempt == 2:
                        raise
                    await self._running()  # the task was replaced meanwhile: find it again
            await self._switched(wanted, before)
            self.served = wanted
            return True

    def _config(self, routes: Mapping[str, Endpoint]) -> str:
        items = [proxyconf.Route(prefix, name, name, endpoint.port)
                 for name, endpoint in sorted(routes.items()) for prefix in endpoint.routes]
        return proxyconf.render(self.project.name, self.env.name, items)

    async def _running(self) -> None:
        """Wait until the proxy's task container runs on the manager and nginx answers."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            found, error = await blocking(lambda: _task(self.engine, self.service_id))
            if found:
                self.container = found
                status, head = await probe.get(self.manager.connect, "127.0.0.1",
                                               self.env.proxy_port, proxyconf.HEALTH_PATH)
                if status.isdigit():
                    self.served = probe.header_value(head, proxyconf.CONFIG_HEADER) or None
                    return
                error = error or f"nginx does not answer on port {self.env.proxy_port} ({status})"
            if time.monotonic() >= deadline:
                name = naming.proxy(self.project.name, self.env.name)
                raise OperationFailed(f"the proxy service {name} did not run on "
                                      f"{self.manager.name} within {READY_TIMEOUT:g}s"
                                      + (f": {error}" if error else ""),
                                      f"see 'docker service ps {name}' on the manager")
            await asyncio.sleep(0.25)

    async def _switched(self, wanted: str | None, before: set[int]) -> None:
        """Wait until nginx's new workers answer with ``wanted`` and its old ones (``before``)
        stopped taking connections."""
        deadline = time.monotonic() + SWITCH_TIMEOUT
        seen = ""
        while time.monotonic() < deadline:
            seen = await probe.header(self.manager.connect, "127.0.0.1", self.env.proxy_port,
                                      proxyconf.HEALTH_PATH, proxyconf.CONFIG_HEADER)
            accepting = {pid for pid, takes in (await self._workers()).items() if takes}
            if seen == wanted and not before & accepting:
                return
            await asyncio.sleep(0.02)
        raise OperationFailed(f"the proxy on {self.manager.name} still serves config "
                              f"{seen or '?'} {SWITCH_TIMEOUT:g}s after its reload to {wanted}",
                              "see the proxy service's log (nginx may have refused the reload)")

    async def _workers(self) -> dict[int, bool]:
        return await blocking(lambda: nginx.workers(self.engine, self.container))


def _image(engine: Engine, ref: str) -> Image:
    """The proxy image pinned to its id on the manager (pulled when missing)."""
    import docker.errors

    try:
        return Image(str(engine.api.inspect_image(ref)["Id"]), ref)
    except docker.errors.ImageNotFound:
        pass
    from docker.utils import parse_repository_tag

    repository, tag = parse_repository_tag(ref)
    try:
        engine.client.images.pull(repository, tag=tag or "latest")
        return Image(str(engine.api.inspect_image(ref)["Id"]), ref)
    except docker.errors.APIError as exc:
        raise OperationFailed(f"the proxy image {ref} is not on the manager {engine.where} and "
                              f"could not be pulled: {explain(exc)}", "load it there (docker "
                              "load) or set another proxy_image") from None


def _check_same(current: services.Current, body: Mapping[str, object], image: str) -> None:
    """An existing proxy service is kept as it is (recreating it would drop requests); one that
    publishes another port or runs another image is refused with the fix."""
    def ports(spec: Mapping[str, object]) -> list[tuple[object, object]]:
        endpoint = spec.get("EndpointSpec") or {}
        return sorted((p.get("PublishedPort"), p.get("PublishMode", "ingress"))
                      for p in endpoint.get("Ports") or [])  # type: ignore[union-attr]

    have, want = ports(current.spec), ports(body)
    label = current.labels.get(f"{LABEL}proxy-image", "")
    if have != want or label != image:
        what = (f"publishes {have or 'nothing'}, not {want}" if have != want
                else f"runs image {label or '?'}, not {image}")
        raise OperationFailed(f"the proxy service {current.name} {what}",
                              f"remove it ('docker service rm {current.name}'; requests fail "
                              "until the next deploy makes it again)")


def _task(engine: Engine, service_id: str) -> tuple[str, str]:
    """(id of the proxy task's running container on this engine, or ""; the newest task error)."""
    import docker.errors

    try:
        running = engine.api.containers(filters={
            "label": f"com.docker.swarm.service.id={service_id}", "status": "running"})
        tasks = engine.api.tasks(filters={"service": service_id})
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot read the proxy's task on {engine.where}: {explain(exc)}",
                              "check the Swarm manager") from None
    errors = [str((t.get("Status") or {}).get("Err") or "") for t in
              sorted(tasks, key=lambda t: str(t.get("UpdatedAt", "")), reverse=True)]
    error = next((e for e in errors if e), "")
    return (str(running[0]["Id"]) if running else ""), error
