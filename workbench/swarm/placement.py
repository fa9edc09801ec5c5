"""Where an endpoint's tasks may run, judged against the Swarm's nodes (pure; docs/swarm.md).

The policy for data: an endpoint with ``data: true`` on a local volume runs on ONE node, so its
``/data`` never splits. With no placement of its own it is pinned to the environment's first
node (the manager: ``node.id==<id>``); with its own constraints they must leave exactly one
active node (judged here from the manager's node list; a constraint only the node's engine can
judge, ``engine.labels.*``, counts as met, so a pin is never wrongly believed to hold).
``replicas > 1`` with a local volume is refused earlier (:func:`.spec.check_data_policy`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import BadInput
from ..model import Endpoint
from ..swarmconfig import eligible, parse_constraint


def pin(node_id: str) -> str:
    """The constraint that keeps a task on node ``node_id``."""
    return f"node.id=={node_id}"


def attributes(node: Mapping[str, Any]) -> dict[str, str]:
    """A node of ``api.nodes()`` as constraints see it: ``node.id``, ``node.hostname``,
    ``node.role``, ``node.platform.os|arch``, ``node.labels.<k>``."""
    spec = node.get("Spec") or {}
    description = node.get("Description") or {}
    platform = description.get("Platform") or {}
    found = {"node.id": str(node.get("ID", "")),
             "node.hostname": str(description.get("Hostname", "")),
             "node.role": str(spec.get("Role", "")),
             "node.platform.os": str(platform.get("OS", "")),
             "node.platform.arch": str(platform.get("Architecture", ""))}
    found.update({f"node.labels.{k}": str(v) for k, v in (spec.get("Labels") or {}).items()})
    return found


def shown(node: Mapping[str, Any]) -> str:
    """``hostname (id12)``: hostnames alone may repeat across nodes."""
    found = attributes(node)
    return f"{found['node.hostname'] or '?'} ({found['node.id'][:12]})"


def usable(nodes: Sequence[Mapping[str, Any]],
           constraints: Sequence[str]) -> list[Mapping[str, Any]]:
    """The active nodes that ``constraints`` leave."""
    parsed = tuple(c for c in (parse_constraint(text) for text in constraints) if c is not None)
    return [node for node in nodes
            if ((node.get("Spec") or {}).get("Availability", "active") == "active"
                and eligible(parsed, attributes(node)))]


def check_data_pin(endpoint: Endpoint, nodes: Sequence[Mapping[str, Any]]) -> None:
    """Refuse an endpoint whose own placement would let its local data volume move between
    nodes (or leaves it no node at all). No own placement: it is pinned to the first node."""
    if not endpoint.data or endpoint.volume_driver or not endpoint.placement:
        return
    left = usable(nodes, endpoint.placement)
    written = ", ".join(endpoint.placement)
    if not left:
        raise BadInput(f"endpoint '{endpoint.name}': no active node of the Swarm meets its "
                       f"placement ({written})", "change placement in its endpoint.yaml, or "
                       "label a node (docker node update --label-add ...)")
    if len(left) > 1:
        names = ", ".join(shown(node) for node in left[:3])
        raise BadInput(f"endpoint '{endpoint.name}' keeps data on a local volume, but its "
                       f"placement ({written}) allows {len(left)} nodes ({names}): its /data "
                       "would split between them", "pin it to one node, e.g. placement: "
                       f"[node.id == {attributes(left[0])['node.id']}], or name a shared "
                       "volume_driver (docs/swarm.md)")


def check_placement(endpoint: Endpoint, nodes: Sequence[Mapping[str, Any]]) -> None:
    """Refuse an endpoint that no active node could run (its tasks would wait forever)."""
    if endpoint.placement and not usable(nodes, endpoint.placement):
        raise BadInput(f"endpoint '{endpoint.name}': no active node of the Swarm meets its "
                       f"placement ({', '.join(endpoint.placement)})",
                       "change placement in its endpoint.yaml, or label a node "
                       "(docker node update --label-add ...)")


def data_constraints(endpoint: Endpoint, first_node: str) -> tuple[str, ...]:
    """The constraints an endpoint's service gets: its own, or (local data) the pin."""
    if endpoint.placement or not endpoint.data or endpoint.volume_driver:
        return tuple(endpoint.placement)
    return (pin(first_node),)


def check_data_move(endpoint: Endpoint, before: Sequence[str], after: Sequence[str],
                    nodes: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a placement change that would move a local data volume's endpoint to another
    node: its /data stays behind and the task starts with an empty one."""
    if not endpoint.data or endpoint.volume_driver:
        return
    was = {attributes(n)["node.id"] for n in usable(nodes, before)}
    will = {attributes(n)["node.id"] for n in usable(nodes, after)}
    if was and will and was != will:
        old = ", ".join(shown(n) for n in nodes if attributes(n)["node.id"] in was)
        new = ", ".join(shown(n) for n in nodes if attributes(n)["node.id"] in will)
        raise BadInput(f"endpoint '{endpoint.name}' keeps data on a local volume on {old}; its "
                       f"new placement would run it on {new}, leaving /data behind",
                       "copy the volume to that node yourself, remove the service "
                       "('docker service rm'), then deploy; or keep the placement "
                       "(docs/swarm.md)")
