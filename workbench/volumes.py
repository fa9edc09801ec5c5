"""An endpoint's data volume on a host: found by its labels, made when missing.

The volume mounted at ``/data`` outlives every container of the endpoint. It is found by its
labels (project, env, endpoint), so a volume made by a deployment from before today's names
(``wb-<project>-<env>-<endpoint>-data``) is kept, with its data. A volume that has the name but
not the labels of ours is refused, never mounted. Blocks on the docker SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import naming
from .errors import OperationFailed

if TYPE_CHECKING:
    from .engine import Engine


def data_volume(engine: Engine, project: str, env: str, endpoint: str) -> str:
    """The name of the endpoint's data volume on ``engine``, made when there is none."""
    import docker.errors

    client = engine.client
    identity = naming.labels(project, env, "data", endpoint)
    owner = {k: v for k, v in identity.items() if not k.endswith("role")}
    found = client.volumes.list(filters={"label": [f"{k}={v}" for k, v in owner.items()]})
    if len(found) > 1:
        names = ", ".join(sorted(str(v.name) for v in found))
        raise OperationFailed(f"endpoint '{endpoint}' of environment '{env}' has "
                              f"{len(found)} data volumes on {engine.where}: {names}",
                              "keep the one with its data and remove the others")
    if found:
        return str(found[0].name)
    name = naming.volume(project, env, endpoint)
    try:
        other = client.volumes.get(name)
    except docker.errors.NotFound:
        client.volumes.create(name, labels=identity)
        return name
    naming.check_owned("volume", name, other.attrs.get("Labels"), identity, engine.where)
    return name
