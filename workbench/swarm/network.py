"""An environment's overlay network on a Swarm: found by its labels, made when missing.

``wb_<project>_<env>``, driver ``overlay``, attachable (a test or an operator can attach a
container to reach the services), labelled ``role=network``. A network with that name but not
our labels is refused, never adopted; one with our labels but another driver (a single-host
deploy of the same environment on this host, before it became a Swarm) is refused with the fix.
Blocks on the docker SDK: call in a thread.
"""

from __future__ import annotations

from .. import naming
from ..engine import Engine
from ..errors import OperationFailed
from .services import explain


def ensure_network(engine: Engine, project: str, env: str) -> tuple[str, str]:
    """(id, name) of the environment's overlay network on the manager ``engine``."""
    import docker.errors

    api = engine.api
    wanted = naming.labels(project, env, "network")
    name = naming.network(project, env)
    try:
        found = api.networks(filters={"label": [f"{k}={v}" for k, v in wanted.items()]})
        for network in found:
            if network.get("Driver") != "overlay":
                raise OperationFailed(
                    f"network {network.get('Name')} on {engine.where} is a "
                    f"{network.get('Driver')} network of a single-host deploy of this "
                    "environment, not a Swarm overlay", f"remove that deployment first "
                    f"(its containers, then 'docker network rm {network.get('Name')}')")
        if found:
            return str(found[0]["Id"]), str(found[0]["Name"])
        for other in api.networks(names=[name]):
            if other.get("Name") == name:  # the filter matches parts of names too
                naming.check_owned("network", name, other.get("Labels"), wanted, engine.where)
        made = api.create_network(name, driver="overlay", attachable=True, labels=wanted,
                                  check_duplicate=True)
        return str(made["Id"]), name
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # made meanwhile: check whose it is
            other = api.inspect_network(name)
            naming.check_owned("network", name, other.get("Labels"), wanted, engine.where)
            return str(other["Id"]), name
        raise OperationFailed(f"could not make the overlay network {name} on {engine.where}: "
                              f"{explain(exc)}", "check the Swarm there ('docker info', "
                              "'docker network ls')") from None
