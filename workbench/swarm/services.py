"""Swarm services through the docker SDK's services API on the manager's forwarded socket.

A service is found by its labels (project, env, role, endpoint), never by its name alone: a
service with our name but other labels is refused. :func:`put` creates it, or updates it to a
new spec (the whole spec, at the version read, so a concurrent change is refused by Swarm
rather than overwritten). Blocks on the docker SDK: call in a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import naming
from ..engine import LABEL, Engine
from ..errors import OperationFailed
from .spec import SPEC_HASH


@dataclass(frozen=True, slots=True)
class Current:
    """A service as the manager has it now."""

    id: str
    name: str
    version: int
    """``Version.Index``: an update must name it."""
    spec: Mapping[str, Any]
    update_status: Mapping[str, Any] | None

    @property
    def labels(self) -> Mapping[str, str]:
        return self.spec.get("Labels") or {}

    @property
    def spec_hash(self) -> str:
        return str(self.labels.get(SPEC_HASH, ""))

    @property
    def replicas(self) -> int:
        return int(((self.spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0))

    @property
    def state(self) -> str:
        """The update state ("" when the service was never updated)."""
        return str((self.update_status or {}).get("State", ""))


def explain(exc: Exception) -> str:
    """The engine's words for a refused call, on one line."""
    text = str(getattr(exc, "explanation", None) or exc)
    return " ".join(text.split())[:300]


def identity(project: str, env: str, role: str, endpoint: str | None = None) -> dict[str, str]:
    return naming.labels(project, env, role, endpoint)


def find(engine: Engine, name: str, wanted: Mapping[str, str]) -> Current | None:
    """The service with the ``wanted`` identity labels (None: there is none). A service named
    ``name`` with other labels is refused."""
    import docker.errors

    api = engine.api
    try:
        found = api.services(filters={"label": [f"{k}={v}" for k, v in wanted.items()]})
        ours = [s for s in found if all((s.get("Spec", {}).get("Labels") or {}).get(k) == v
                                        for k, v in wanted.items())]
        if len(ours) > 1:
            names = ", ".join(sorted(str(s["Spec"]["Name"]) for s in ours))
            raise OperationFailed(f"{len(ours)} services on {engine.where} claim to be "
                                  f"{name}: {names}", "remove all but one ('docker service rm')")
        if not ours:
            for other in api.services(filters={"name": name}):
                spec = other.get("Spec") or {}
                if spec.get("Name") == name:  # the filter matches prefixes too
                    naming.check_owned("service", name, spec.get("Labels"), wanted,
                                       engine.where)
            return None
        return _current(ours[0])
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot read the services on {engine.where}: {explain(exc)}",
                              "check that its first host is a Swarm manager") from None


def inspect(engine: Engine, service_id: str) -> Current:
    import docker.errors

    try:
        return _current(engine.api.inspect_service(service_id))
    except docker.errors.NotFound:
        raise OperationFailed(f"service {service_id[:12]} is gone from {engine.where}",
                              "someone removed it meanwhile; deploy again") from None
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot read service {service_id[:12]} on {engine.where}: "
                              f"{explain(exc)}", "check the Swarm manager") from None


def put(engine: Engine, body: Mapping[str, Any], current: Current | None) -> str:
    """Create the service ``body`` describes (``current`` None) or update ``current`` to it;
    returns its id."""
    import docker.errors

    args = {"task_template": body["TaskTemplate"], "name": body["Name"],
            "labels": body["Labels"], "mode": body["Mode"],
            "update_config": body["UpdateConfig"], "rollback_config": body["RollbackConfig"],
            "endpoint_spec": body["EndpointSpec"]}
    try:
        if current is None:
            return str(engine.api.create_service(**args)["ID"])
        engine.api.update_service(current.id, current.version, **args)
        return current.id
    except docker.errors.APIError as exc:
        what = "create" if current is None else "update"
        raise OperationFailed(f"Swarm refused to {what} service {body['Name']} on "
                              f"{engine.where}: {explain(exc)}", _fix(exc)) from None


def remove(engine: Engine, service_id: str) -> None:
    """Remove a service; gone already is fine."""
    import docker.errors

    try:
        engine.api.remove_service(service_id)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot remove service {service_id[:12]} on {engine.where}: "
                              f"{explain(exc)}", "remove it by hand ('docker service rm')"
                              ) from None


def check_volume(engine: Engine, name: str, wanted: Mapping[str, str]) -> None:
    """A volume named ``name`` on ``engine`` without the ``wanted`` labels is refused: Swarm
    would mount it by its name."""
    import docker.errors

    try:
        found = engine.api.inspect_volume(name)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        raise OperationFailed(f"cannot read volume {name} on {engine.where}: {explain(exc)}",
                              "check the Docker Engine there") from None
    naming.check_owned("volume", name, found.get("Labels"), wanted, engine.where)


def _current(found: Mapping[str, Any]) -> Current:
    spec = found.get("Spec") or {}
    return Current(str(found["ID"]), str(spec.get("Name", "")),
                   int((found.get("Version") or {}).get("Index", 0)), spec,
                   found.get("UpdateStatus"))


def _fix(exc: Exception) -> str:
    text = explain(exc)
    if "update out of sequence" in text:
        return "someone changed the service meanwhile; deploy again"
    if "not a swarm manager" in text.lower() or getattr(exc, "status_code", 0) == 503:
        return "make the environment's first host a Swarm manager"
    return "see 'docker service inspect' on the manager"


def version_label(current: Current | None) -> str:
    """The version the service runs now ("" for none)."""
    return "" if current is None else str(current.labels.get(f"{LABEL}version", ""))
