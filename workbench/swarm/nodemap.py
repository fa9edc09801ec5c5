"""Which host of an environment is which node of its Swarm, from each engine's ``info()``:
a node that may be given tasks needs a host (to stream images to it), unless the environment
pushes its images to a registry (:func:`node_sites`, and the pure :func:`match_nodes`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine import blocking
from ..errors import BadInput, OperationFailed
from ..site import Site


@dataclass(frozen=True, slots=True)
class NodeMatch:
    """The Swarm's nodes against the environment's hosts (pure data)."""

    hosted: dict[str, str]
    """node id -> the host (site name) that is that node."""
    missing: tuple[str, ...]
    """Nodes that can be given tasks but are no host of the environment (``name (id)``)."""
    strangers: tuple[str, ...]
    """Hosts whose engine is no node of this Swarm."""


def node_id(info: Mapping[str, Any]) -> str:
    """A node's id in its engine's ``info()`` ("" when the engine is in no Swarm)."""
    return str((info.get("Swarm") or {}).get("NodeID") or "")


def match_nodes(nodes: Sequence[Any], host_of: Mapping[str, str]) -> NodeMatch:
    """Which of the manager's ``nodes`` (``api.nodes()`` dicts or ``client.nodes.list()``
    objects) is which host (``host_of``: node id -> host, from :func:`node_id` of each host).
    Drained and paused nodes get no new tasks, so they need no host."""
    hosted: dict[str, str] = {}
    missing: list[str] = []
    for node in nodes:
        attrs = getattr(node, "attrs", node)
        ident = str(attrs.get("ID", ""))
        if ident in host_of:
            hosted[ident] = host_of[ident]
        elif (attrs.get("Spec") or {}).get("Availability", "active") == "active":
            name = (attrs.get("Description") or {}).get("Hostname") or ident
            missing.append(f"{name} ({ident[:12]})")
    strangers = tuple(host for ident, host in host_of.items() if ident not in hosted)
    return NodeMatch(hosted, tuple(missing), strangers)


def refuse_unmatched(match: NodeMatch, env: str, manager: str) -> None:
    """One line for the first node without a host, or host outside the Swarm."""
    if match.missing:
        more = f" (and {len(match.missing) - 1} more)" if len(match.missing) > 1 else ""
        raise BadInput(f"node {match.missing[0]}{more} has no host in environment {env}",
                       "add it to hosts, or set registry:")
    if match.strangers:
        raise BadInput(f"host {match.strangers[0]} of environment {env} is no node of the "
                       f"Swarm that {manager} manages", "join it to that Swarm ('docker swarm "
                       "join-token worker' on the manager says how), or remove it from hosts")


async def node_sites(manager: Site, sites: Sequence[Site], env: str) -> dict[str, Site]:
    """node id -> the site that is that node, for every host of the environment; refuses a
    first host that is no manager, a node without a host, and a host outside the Swarm."""
    infos = await asyncio.gather(*(blocking(lambda s=site: engine_info(s)) for site in sites))
    info = dict(zip((s.name for s in sites), infos, strict=True))
    own = info.get(manager.name) or await blocking(lambda: engine_info(manager))
    if not (own.get("Swarm") or {}).get("ControlAvailable"):
        raise BadInput(f"{manager.name} is no Swarm manager (the environment {env} has "
                       "engine: swarm)", "make its first host a manager ('docker swarm init' "
                       "there, or 'docker node promote'), or set engine: docker")
    nodes = await blocking(lambda: _nodes(manager))
    by_id = {node_id(info[s.name]) or f"(none: {s.name})": s for s in sites
             if s is not manager}
    by_id[node_id(own)] = manager
    match = match_nodes(nodes, {ident: s.name for ident, s in by_id.items()})
    refuse_unmatched(match, env, manager.name)
    return {ident: by_id[ident] for ident in match.hosted}


def engine_info(site: Site) -> dict[str, Any]:
    """The engine's ``info()`` (its Swarm part says which node it is); one line if refused."""
    try:
        return dict(site.engine.api.info())
    except Exception as exc:
        raise OperationFailed(f"cannot ask the engine on {site.name} about its Swarm "
                              f"({_reason(exc)})", f"check that Docker runs on {site.name}"
                              ) from None


def _nodes(manager: Site) -> list[dict[str, Any]]:
    try:
        return list(manager.engine.api.nodes())
    except Exception as exc:
        raise OperationFailed(f"cannot list the Swarm's nodes on {manager.name} "
                              f"({_reason(exc)})", f"check that Docker runs on {manager.name}"
                              ) from None


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc) or type(exc).__name__
    return text.splitlines()[0][:200]
