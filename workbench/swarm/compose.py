"""A Swarm environment as a Compose Specification file, as pure data (docs/compose.md).

:func:`compose` turns the :class:`~.spec.ServiceSpec` values that a deploy sends to the API
(:func:`~.spec.service_spec`, :func:`~.spec.proxy_spec`) into the dict of a compose file that
``docker stack deploy -c FILE wb_<project>_<env>`` accepts; :func:`dump` writes it as YAML.

How the two forms map (the docker CLI's own conversion, cli/compose/convert):

- the stack's name is the environment's network name ``wb_<project>_<env>``, and each service's
  key is what follows it in the service's name: deployed under that name, the services get
  workbench's names (``wb_<project>_<env>_<endpoint>``, ``..._proxy``);
- ``deploy.labels`` are the service's labels, ``labels`` its tasks' container labels;
- the API's ``Command`` is compose's ``entrypoint``, its ``Args`` compose's ``command``;
- one overlay network, the key ``default`` (the stack names it ``<stack>_default``), with the
  endpoint's name as alias;
- volumes keep their names (``name:``), so a stack mounts the data of a workbench deploy;
- secrets are referenced (``external: true``) by their Swarm names: values never appear.

Every ``$`` in a value is written ``$$``: compose interpolates variables, and the health check,
the secrets wrapper and the proxy's nginx config are full of ``$``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from .. import naming
from .spec import RESTART_DELAY, Health, Mount, Rollout, ServiceSpec

NETWORK_KEY = "default"
EXTENSION = "x-workbench"
"""The extension field (ignored by Docker) that keeps what a compose file has no place for:
routes, port and health path of an endpoint (read back by ``workbench import``)."""


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """What the proxy needs of an endpoint and a compose file cannot say by itself."""

    endpoint: str
    routes: tuple[str, ...]
    port: int
    health: str
    image_tag: str


def stack_name(project: str, env: str) -> str:
    """The name to deploy the file under: ``wb_<project>_<env>``."""
    return naming.network(project, env)


def service_key(stack: str, spec: ServiceSpec) -> str:
    """The service's key in the file: its name after ``<stack>_``."""
    prefix = stack + naming.SEP
    if not spec.name.startswith(prefix):
        raise ValueError(f"service {spec.name} is not of stack {stack}")
    return spec.name[len(prefix):]


def compose(project: str, env: str, services: Sequence[ServiceSpec],
            info: Mapping[str, EndpointInfo]) -> dict[str, Any]:
    """The compose file of ``services`` (endpoints and proxy) of environment ``env``;
    ``info``: per service name, what ``x-workbench`` says of it."""
    stack = stack_name(project, env)
    body: dict[str, Any] = {
        EXTENSION: {"project": project, "environment": env, "stack": stack},
        "services": {}}
    volumes: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for spec in services:
        key = service_key(stack, spec)
        service = service_entry(spec)
        extra = info.get(spec.name)
        if extra is not None:
            service[EXTENSION] = {"endpoint": extra.endpoint, "routes": list(extra.routes),
                                  "port": extra.port, "health": extra.health,
                                  "image": extra.image_tag}
        elif spec.image_tag:
            service[EXTENSION] = {"image": spec.image_tag}
        body["services"][key] = service
        for mount in spec.mounts:
            volumes[mount.source] = volume_entry(mount)
        for ref in spec.secrets:
            secrets[ref.name] = {"external": True, "name": ref.name}
    body["networks"] = {NETWORK_KEY: {
        "driver": "overlay", "attachable": True,
        "labels": naming.labels(project, env, "network")}}
    if volumes:
        body["volumes"] = dict(sorted(volumes.items()))
    if secrets:
        body["secrets"] = dict(sorted(secrets.items()))
    return escaped(body)


def service_entry(spec: ServiceSpec) -> dict[str, Any]:
    """One service of the file (unescaped)."""
    deploy: dict[str, Any] = {
        "mode": "replicated", "replicas": spec.replicas, "endpoint_mode": spec.endpoint_mode,
        "labels": dict(spec.labels),
        "update_config": rollout(spec.update), "rollback_config": rollout(spec.rollback),
        "restart_policy": {"condition": "any", "delay": duration(RESTART_DELAY)}}
    if spec.constraints:
        deploy["placement"] = {"constraints": list(spec.constraints)}
    service: dict[str, Any] = {"image": spec.image}
    if spec.command:
        service["entrypoint"] = list(spec.command)
    if spec.args:
        service["command"] = list(spec.args)
    if spec.env:
        service["environment"] = dict(spec.env)
    service["labels"] = dict(spec.container_labels)
    service["deploy"] = deploy
    if spec.health is not None:
        service["healthcheck"] = healthcheck(spec.health)
    network: dict[str, Any] | None = {"aliases": list(spec.aliases)} if spec.aliases else None
    service["networks"] = {NETWORK_KEY: network}
    if spec.ports:
        service["ports"] = [{"target": p.target, "published": p.published, "protocol": "tcp",
                             "mode": p.mode} for p in spec.ports]
    if spec.mounts:
        service["volumes"] = [{"type": "volume", "source": m.source, "target": m.target}
                              for m in spec.mounts]
    if spec.secrets:
        service["secrets"] = [{"source": s.name, "target": s.target, "uid": "0", "gid": "0",
                               "mode": 0o444} for s in spec.secrets]
    service["stop_grace_period"] = duration(spec.stop_grace_period)
    if spec.stop_signal:
        service["stop_signal"] = spec.stop_signal
    return service


def rollout(rollout: Rollout) -> dict[str, Any]:
    return {"parallelism": rollout.parallelism, "delay": duration(rollout.delay),
            "failure_action": rollout.failure_action, "monitor": duration(rollout.monitor),
            "max_failure_ratio": rollout.max_failure_ratio, "order": rollout.order}


def healthcheck(health: Health) -> dict[str, Any]:
    return {"test": list(health.test), "interval": duration(health.interval),
            "timeout": duration(health.timeout), "retries": health.retries,
            "start_period": duration(health.start_period)}


def volume_entry(mount: Mount) -> dict[str, Any]:
    """A named volume: its own name (not the stack's), its labels, its driver."""
    entry: dict[str, Any] = {"name": mount.source, "labels": dict(mount.labels)}
    if mount.driver:
        entry["driver"] = mount.driver
    return entry


def duration(seconds: float) -> str:
    """Seconds as a Go duration (``11s``, ``1500ms``), as compose writes durations."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def escaped(value: Any) -> Any:
    """``value`` with every ``$`` in its strings written ``$$`` (compose's escape)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, Mapping):
        return {k: escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escaped(v) for v in value]
    return value


# -- YAML ---------------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings (scripts, the nginx config) as ``|`` blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(line != line.rstrip()
                                             for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(body: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The file's text: ``header`` as comment lines, then ``body`` in block style."""
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header)
    return comments + yaml.dump(dict(body), Dumper=_Dumper, sort_keys=False,
                                default_flow_style=False, allow_unicode=True, width=100)
