"""Names of the objects workbench makes on a Docker engine: unambiguous by construction.

Project, environment and endpoint names are DNS labels (a-z, 0-9 and '-'), so '-' cannot
separate them: ``wb-shop-staging-eu`` would be both project ``shop`` with environment
``staging-eu`` and project ``shop-staging`` with environment ``eu``. The separator here is
``_``, which no name can contain, so every name below has exactly one reading:

==========================  ===============================================  ==============
object                      name                                             labels
==========================  ===============================================  ==============
environment network         ``wb_<project>_<env>``                           role=network
proxy container             ``wb_<project>_<env>_proxy``                     role=proxy
app container               ``wb_<project>_<env>_<endpoint>_<version>_<id>``  role=app
data volume                 ``wb_<project>_<env>_<endpoint>_data``           role=data
Swarm service               ``wb_<project>_<env>_<endpoint>``                role=app
Swarm proxy service         ``wb_<project>_<env>_proxy``                     role=proxy
Swarm proxy config volume   ``wb_<project>_<env>_proxy_conf``                role=proxy-config
image                       ``wb_<project>_<endpoint>:<version>``
test-loop objects           ``wb_<project>_test_<endpoint>_<id>``            role=test
==========================  ===============================================  ==============

Names are still never trusted alone: objects are found by their labels, and an object that has
the name but not the labels of ours is refused, never adopted (:func:`check_owned`). Objects of
deployments made before this scheme (``wb-<project>-<env>...``) carry the same labels, so they
are found, and their data volumes kept, by those labels.

The proxy reaches an app container by its alias on the environment's network,
``<endpoint>_<version>_<id>`` (at most 58 characters: a DNS label, which a full container name
of long names would not be).
"""

from __future__ import annotations

from collections.abc import Mapping

from .engine import LABEL
from .errors import OperationFailed

SEP = "_"


def network(project: str, env: str) -> str:
    return f"wb{SEP}{project}{SEP}{env}"


def proxy(project: str, env: str) -> str:
    return f"{network(project, env)}{SEP}proxy"


def container(project: str, env: str, endpoint: str, version: str, token: str) -> str:
    return f"{network(project, env)}{SEP}{alias(endpoint, version, token)}"


def alias(endpoint: str, version: str, token: str) -> str:
    """The app container's name on the environment's network (a DNS label)."""
    return f"{endpoint}{SEP}{version}{SEP}{token}"


def upstream(container_name: str, project: str, env: str) -> str:
    """The host name the proxy sends an app container's requests to: its alias for containers
    named by this scheme, the full name for those of older deployments."""
    prefix = network(project, env) + SEP
    return container_name[len(prefix):] if container_name.startswith(prefix) else container_name


def volume(project: str, env: str, endpoint: str) -> str:
    return f"{network(project, env)}{SEP}{endpoint}{SEP}data"


def service(project: str, env: str, endpoint: str) -> str:
    """An endpoint's Swarm service (its tasks are reached by the alias ``<endpoint>``)."""
    return f"{network(project, env)}{SEP}{endpoint}"


def proxy_volume(project: str, env: str) -> str:
    """The volume holding the config of a Swarm environment's proxy (on its pinned node)."""
    return f"{proxy(project, env)}{SEP}conf"


def image(project: str, endpoint: str, version: str) -> str:
    return f"wb{SEP}{project}{SEP}{endpoint}:{version}"


def test_objects(project: str, endpoint: str, token: str) -> str:
    return f"wb{SEP}{project}{SEP}test{SEP}{endpoint}{SEP}{token}"


def labels(project: str, env: str, role: str, endpoint: str | None = None) -> dict[str, str]:
    """The identity labels of an object: project, env, role and (for per-endpoint objects)
    endpoint."""
    found = {f"{LABEL}project": project, f"{LABEL}env": env, f"{LABEL}role": role}
    if endpoint is not None:
        found[f"{LABEL}endpoint"] = endpoint
    return found


def check_owned(kind: str, name: str, found: Mapping[str, str] | None,
                wanted: Mapping[str, str], where: str) -> None:
    """Refuse to adopt object ``name`` when its labels (``found``) do not say it is the one
    ``wanted`` names (project, env, endpoint; role where it has one)."""
    found = found or {}
    keys = [k for k in wanted if not k.endswith("role") or k in found]
    if all(found.get(k) == wanted[k] for k in keys):
        return
    owner = ", ".join(f"{k.removeprefix(LABEL)}={found[k]}" for k in sorted(found)
                      if k.startswith(LABEL)) or "no workbench labels"
    raise OperationFailed(f"{kind} {name} on {where} belongs to something else ({owner})",
                          f"rename or remove that {kind} there; workbench never adopts an "
                          "object by its name alone")
