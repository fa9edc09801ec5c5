"""The Swarm behind an environment, read once per deploy: its manager (the first host), which
host is which node, the nodes themselves, and the pin of data and the proxy (the manager's
node). Refuses, with one line each, a first host that is no manager, a node that could get
tasks but has no host to stream images to (unless ``registry:``), a host outside the Swarm,
and placements that no node, or more than one node for local data, would meet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine import LABEL, blocking
from ..errors import BadInput, OperationFailed
from ..model import Endpoint, Environment
from ..site import Site
from . import nodemap, placement
from .services import explain


@dataclass(frozen=True, slots=True)
class Cluster:
    manager: Site
    sites: Mapping[str, Site]
    """node id -> the host (site) that is that node."""
    nodes: Sequence[Mapping[str, Any]]
    """``api.nodes()`` of the manager."""
    manager_node: str

    def data_site(self, endpoint: Endpoint) -> Site | None:
        """The host whose node keeps the endpoint's local data volume (None: no local data,
        or a node that is no host of the environment)."""
        if not endpoint.data or endpoint.volume_driver:
            return None
        if not endpoint.placement:
            return self.sites.get(self.manager_node)
        left = placement.usable(self.nodes, endpoint.placement)
        return self.sites.get(placement.attributes(left[0])["node.id"]) if left else None

    @property
    def pin(self) -> str:
        """The constraint of what stays on the first node: local data, the proxy."""
        return placement.pin(self.manager_node)


async def read_cluster(sites: Sequence[Site], project: str, env: Environment,
                       endpoints: Sequence[Endpoint]) -> Cluster:
    manager = sites[0]
    if env.registry:  # nodes pull from the registry: they need no host
        info = await blocking(lambda: nodemap.engine_info(manager))
        if not (info.get("Swarm") or {}).get("ControlAvailable"):
            raise not_a_manager(manager, env)
        by_node = {nodemap.node_id(info): manager}
        for site in sites[1:]:
            other = nodemap.node_id(await blocking(lambda s=site: nodemap.engine_info(s)))
            if other:
                by_node.setdefault(other, site)
    else:
        by_node = await nodemap.node_sites(manager, sites, env.name)
    nodes = await blocking(lambda: _nodes(manager))
    manager_node = next(ident for ident, site in by_node.items() if site is manager)
    placed = await blocking(lambda: _placements(manager, project, env.name))
    for endpoint in endpoints:
        placement.check_placement(endpoint, nodes)
        placement.check_data_pin(endpoint, nodes)
        if endpoint.name in placed:
            placement.check_data_move(endpoint, placed[endpoint.name], placement.data_constraints(
                endpoint, manager_node), nodes)
    return Cluster(manager, by_node, nodes, manager_node)


def not_a_manager(site: Site, env: Environment) -> BadInput:
    return BadInput(f"{site.name} is no Swarm manager (the environment {env.name} has engine: "
                    "swarm)", "make its first host a manager ('docker swarm init' there, or "
                    "'docker node promote'), or set engine: docker")


def _placements(site: Site, project: str, env: str) -> dict[str, list[str]]:
    """endpoint -> the constraints its service has now (services found by labels)."""
    try:
        found = site.engine.api.services(filters={"label": [
            f"{LABEL}project={project}", f"{LABEL}env={env}", f"{LABEL}role=app"]})
    except Exception as exc:
        raise OperationFailed(f"cannot list the services on {site.name} ({explain(exc)})",
                              "check that it is a Swarm manager") from None
    result = {}
    for service in found:
        spec = service.get("Spec") or {}
        endpoint = (spec.get("Labels") or {}).get(f"{LABEL}endpoint")
        if endpoint:
            placement_ = (spec.get("TaskTemplate") or {}).get("Placement") or {}
            result[str(endpoint)] = list(placement_.get("Constraints") or ())
    return result


def _nodes(site: Site) -> list[dict[str, Any]]:
    try:
        return list(site.engine.api.nodes())
    except Exception as exc:
        raise OperationFailed(f"cannot list the Swarm's nodes on {site.name} ({explain(exc)})",
                              "check that it is a Swarm manager") from None
