"""``export --env ENV --compose FILE``: a Swarm environment as deployed, as a compose file for
``docker stack deploy`` (docs/compose.md).

What is written is what runs, not what the repo would deploy: for each endpoint its current
release on the manager (the last ``ok`` record of engine swarm) gives the version, the pinned
image, the variables and the endpoint.yaml values it was deployed with; the manager gives that
image's own entrypoint and command (for the secrets wrapper), the secret the service mounts
(by name, never its value), the node data is pinned to, and the proxy image's id. From these
the same :func:`~workbench.swarm.spec.service_spec` and :func:`~workbench.swarm.spec.proxy_spec`
that a deploy uses make the services, and :mod:`workbench.swarm.compose` the file.

An endpoint never deployed there is left out (a warning names it); when none is deployed, or
one named with ``-e`` is not, nothing is written (exit 2): workbench does not invent an image
it never built. The file is replaced in one step (never half-written).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import naming, proxyconf, releases
from ..engine import Engine, blocking
from ..errors import BadInput, OperationFailed
from ..events import Emit, Result, Steps, Warning
from ..model import Endpoint, Environment, Project
from ..releases import Release
from ..site import SiteOpener
from ..swarm import compose
from ..swarm.secrets import SecretRef
from ..swarm.spec import Image, ServiceSpec, proxy_spec, service_spec
from ..swarmconfig import UpdateSettings
from ..yamlfile import write_atomic
from .selection import select


@dataclass(frozen=True, slots=True)
class Exported:
    """The file's text and what it holds."""

    text: str
    stack: str
    services: tuple[str, ...]
    """Service names, as ``docker stack deploy -c FILE <stack>`` makes them."""
    missing: tuple[str, ...]
    """Endpoints left out: never deployed to the environment."""
    specs: tuple[ServiceSpec, ...] = ()
    """What the file was made of (a deploy sends the same to the API)."""


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the manager says (read in one thread)."""

    node_id: str
    images: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
    """image ref -> (entrypoint, cmd) of that image."""
    secrets: Mapping[str, tuple[SecretRef, ...]]
    """endpoint -> the secret its service mounts now."""
    proxy_image: str


def require_swarm(env: Environment) -> None:
    """Only a Swarm environment runs services that a stack can describe."""
    if env.engine != "swarm":
        raise BadInput(f"environment '{env.name}' has engine: {env.engine}: export --compose "
                       "writes the services of a Swarm environment, and this one runs one "
                       "container per host", "export an environment with engine: swarm (set it "
                       "and deploy there first)")


async def export(project: Project, env_name: str, names: Sequence[str],
                 open_sites: SiteOpener, emit: Emit) -> Exported:
    """The compose file of environment ``env_name`` as deployed (endpoints ``names``, or all
    that are deployed)."""
    env = project.environment(env_name)
    require_swarm(env)
    endpoints = select(project, names, "export")
    steps = Steps(emit)
    async with open_sites(project, env) as sites:
        manager = sites[0]
        with steps.step("export/releases", f"current releases on {manager.name}"):
            found = await asyncio.gather(*(releases.history(manager.store, e.name)
                                           for e in endpoints))
        current: dict[str, Release] = {}
        for endpoint, records in zip(endpoints, found, strict=True):
            record = releases.current([r for r in records if r.engine == "swarm"],
                                      manager.name)
            if record is not None:
                current[endpoint.name] = record
        missing = tuple(e.name for e in endpoints if e.name not in current)
        if not current or (names and missing):
            what = ", ".join(missing) if names else f"no endpoint of {project.name}"
            raise BadInput(f"{what} {'is' if len(missing) == 1 or not names else 'are'} not "
                           f"deployed to {env.name}: there is no image to export",
                           f"deploy first ('workbench --batch deploy --env {env.name}')")
        with steps.step("export/manager", f"images, secrets and nodes on {manager.name}"):
            facts = await blocking(lambda: _read(manager.engine, project, env, current))
    for name in missing:
        emit(Warning(f"{name} is not deployed to {env.name}: left out of the file"))
    deployed = {e.name: as_deployed(e, current[e.name]) for e in endpoints if e.name in current}
    specs = services(project, env, deployed, current, facts)
    info = {naming.service(project.name, env.name, name): compose.EndpointInfo(
        name, endpoint.routes, endpoint.port, endpoint.health, current[name].image)
        for name, endpoint in deployed.items()}
    stack = compose.stack_name(project.name, env.name)
    body = compose.compose(project.name, env.name, specs, info)
    text = compose.dump(body, header(project, env, stack, current, missing))
    exported = Exported(text, stack, tuple(s.name for s in specs), missing, tuple(specs))
    emit(Result(True, f"{len(specs)} services of {env.name}, as stack {stack}",
                {"env": env.name, "stack": stack, "services": list(exported.services),
                 "missing": list(missing)}))
    return exported


def services(project: Project, env: Environment, deployed: Mapping[str, Endpoint],
             current: Mapping[str, Release], facts: _Facts) -> list[ServiceSpec]:
    """The ServiceSpecs of the deployed endpoints and of the proxy (seeded with their
    routes: a stack has no workbench to write them into its config)."""
    network = naming.network(project.name, env.name)
    pin = f"node.id=={facts.node_id}"  # as a deploy pins data and the proxy (spec.py)
    specs = []
    for name, endpoint in deployed.items():
        record = current[name]
        entrypoint, cmd = facts.images[record.image_ref]
        image = compose_image(record, entrypoint, cmd)
        specs.append(service_spec(
            project.name, env, endpoint, image, version=record.version, network=network,
            variables=record.variables, secrets=facts.secrets.get(name, ()),
            git_sha=record.git_sha, config_hash=record.config_hash, dirty=record.dirty,
            pin=pin))
    proxy = proxy_spec(project.name, env, image=Image(facts.proxy_image, env.proxy_image),
                       network=network, pin=pin)
    routes = [proxyconf.Route(prefix, name, name, endpoint.port)
              for name, endpoint in sorted(deployed.items()) for prefix in endpoint.routes]
    seed = proxyconf.render(project.name, env.name, routes)
    specs.append(replace(proxy, env=MappingProxyType({"WB_PROXY_SEED": seed})))
    return specs


def compose_image(record: Release, entrypoint: tuple[str, ...],
                  cmd: tuple[str, ...]) -> Image:
    return Image(record.image_ref, record.image, entrypoint, cmd)


def as_deployed(endpoint: Endpoint, record: Release) -> Endpoint:
    """``endpoint`` with the endpoint.yaml values its release was deployed with."""
    config: Mapping[str, Any] = record.endpoint_config or {}
    update = config.get("update") or {}
    monitor = update.get("monitor")
    return replace(
        endpoint, port=int(config.get("port", endpoint.port)),
        health=str(config.get("health", endpoint.health)),
        health_timeout=float(config.get("health_timeout", endpoint.health_timeout)),
        routes=tuple(config.get("routes", endpoint.routes)),
        data=bool(config.get("data", endpoint.data)),
        secrets=tuple(record.secret_names), replicas=record.replicas,
        placement=tuple(config.get("placement", endpoint.placement)),
        volume_driver=str(config.get("volume_driver", endpoint.volume_driver)),
        update=UpdateSettings(int(update.get("parallelism", endpoint.update.parallelism)),
                              float(update.get("delay", endpoint.update.delay)),
                              float(monitor) if monitor is not None else None)
        if update else endpoint.update)


def header(project: Project, env: Environment, stack: str, current: Mapping[str, Release],
           missing: Sequence[str]) -> list[str]:
    lines = [f"Project {project.name}, environment {env.name}, as deployed (written by "
             "workbench export).",
             f"Deploy it with: docker stack deploy -c FILE {stack}",
             "Images are pinned by id: load them on every node first (or use a registry).",
             "Secrets are referenced by name (external): they must exist on the Swarm."]
    lines += [f"  {name}: {record.version} ({record.image})"
              for name, record in sorted(current.items())]
    if missing:
        lines.append(f"Not deployed, left out: {', '.join(missing)}")
    return lines


def write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step."""
    if path.is_dir():
        raise BadInput(f"{path} is a folder", "give the compose file's path, e.g. "
                       f"{path / 'stack.yaml'}")
    if not path.parent.is_dir():
        raise BadInput(f"the folder {path.parent} does not exist", "create it first, or write "
                       "the file elsewhere")
    write_atomic(path, text)


# -- on the manager -------------------------------------------------------------------------
def _read(engine: Engine, project: Project, env: Environment,
          current: Mapping[str, Release]) -> _Facts:
    import docker.errors

    try:
        swarm = engine.api.info().get("Swarm") or {}
        if not swarm.get("ControlAvailable"):
            raise BadInput(f"{engine.where} is no Swarm manager (environment {env.name} has "
                           "engine: swarm)", "make its first host a manager, or export "
                           "another environment")
        images: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        for name, record in current.items():
            if not record.image_ref:
                raise OperationFailed(f"the release {record.version} of {name} names no pinned "
                                      "image", f"deploy {name} again to {env.name}")
            images[record.image_ref] = _entry(engine, record.image_ref, record.image)
        secrets = {name: _secrets(engine, project, env, name)
                   for name, record in current.items() if record.secret_names}
        try:
            proxy = str(engine.api.inspect_image(env.proxy_image)["Id"])
        except docker.errors.ImageNotFound:
            raise OperationFailed(f"the proxy image {env.proxy_image} is not on {engine.where}",
                                  "deploy to the environment first") from None
    except docker.errors.APIError as exc:
        reason = " ".join(str(exc.explanation or exc).split())[:200]
        raise OperationFailed(f"cannot read the Swarm on {engine.where} ({reason})",
                              "check the manager ('docker info' there)") from None
    return _Facts(str(swarm.get("NodeID", "")), images, secrets, proxy)


def _entry(engine: Engine, ref: str, tag: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(entrypoint, cmd) of the image ``ref`` on the manager."""
    import docker.errors

    try:
        config = engine.api.inspect_image(ref).get("Config") or {}
    except docker.errors.ImageNotFound:
        raise OperationFailed(f"the image {tag} ({ref[:19]}) is no longer on {engine.where}",
                              "deploy again (images of current releases must stay)") from None
    return tuple(config.get("Entrypoint") or ()), tuple(config.get("Cmd") or ())


def _secrets(engine: Engine, project: Project, env: Environment,
             endpoint: str) -> tuple[SecretRef, ...]:
    """The secret the endpoint's service mounts now (its name and id; never its value)."""
    import docker.errors

    name = naming.service(project.name, env.name, endpoint)
    try:
        found = engine.api.inspect_service(name)
    except docker.errors.NotFound:
        raise OperationFailed(f"the service {name} is not on {engine.where}, though its release "
                              "says it runs", f"deploy {endpoint} again") from None
    spec = found.get("Spec") or {}
    naming.check_owned("service", name, spec.get("Labels"),
                       naming.labels(project.name, env.name, "app", endpoint), engine.where)
    refs = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Secrets") or ()
    return tuple(SecretRef(str(r.get("SecretName", "")), str(r.get("SecretID", "")),
                           str((r.get("File") or {}).get("Name", "")))
                 for r in refs)
