"""How :mod:`workbench.normalize` writes values: published ports, mounts and placement
constraints as comparable text, counting what its rules drop (pure)."""

from __future__ import annotations

import re

from .observed import Instance

EPHEMERAL = range(32768, 61000)
"""Docker's host ports when none is asked for (Linux ``ip_local_port_range``), used only when
the observation did not read the bindings asked for."""


_CONSTRAINT = re.compile(r"^\s*(?P<field>[^=!\s]+)\s*(?P<op>==|!=)\s*(?P<value>.*?)\s*$")


def placement(constraints: tuple[str, ...], first_node: str, count: dict[str, int]) -> str:
    """Constraints as a sorted set; ``node.id==<the first node's id>`` as ``node.id==(first
    node)``."""
    count["order"] += list(constraints) != sorted(constraints)
    shown = set()
    for constraint in constraints:
        match = _CONSTRAINT.match(constraint)
        if match and match["field"] == "node.id" and first_node and match["value"] == first_node:
            count["node-id"] += 1
            constraint = f"node.id{match['op']}(first node)"
        shown.add(constraint.strip())
    return ", ".join(sorted(shown))


_PORT = re.compile(r"^(?:(?P<ip>.*):(?P<host>\d*)->)?(?P<port>[^:>]+)$")


def ports(instance: Instance, count: dict[str, int]) -> dict[str, str]:
    """``port 8000/tcp`` -> its bindings, sorted: ``127.0.0.1:8080``, or ``127.0.0.1:ephemeral``
    for a host port Docker chose (one not asked for)."""
    count["order"] += list(instance.ports) != sorted(instance.ports)
    asked: set[tuple[str, str]] | None = None
    if instance.asked_ports is not None:
        asked = set()
        for binding in instance.asked_ports:
            match = _PORT.match(binding)
            if match and match["host"]:
                asked.add((match["host"], match["port"]))
    bindings: dict[str, set[str]] = {}
    for binding in instance.ports:
        match = _PORT.match(binding)
        if match is None or match["ip"] is None:
            bindings.setdefault(f"port {binding}", set()).add("(not published)")
            continue
        port, host, ip = match["port"], match["host"], match["ip"]
        if asked is not None:
            chosen = not host or (host, port) not in asked
        else:
            chosen = not host or int(host) in EPHEMERAL
        count["ephemeral-port"] += bool(chosen and host)
        bindings.setdefault(f"port {port}", set()).add(f"{ip}:ephemeral" if chosen
                                                       else f"{ip}:{host}")
    return {key: ", ".join(sorted(found)) for key, found in bindings.items()}


def mount_key(mount: str, project: str, env: str, endpoint: str,
           count: dict[str, int]) -> tuple[str, str]:
    """``volume wb_shop_staging_orders_data -> /data (rw)`` -> (``mount /data``,
    ``data volume (rw)``); other mounts keep their source."""
    head, arrow, tail = mount.partition(" -> ")
    if not arrow:
        return f"mount {mount}", mount
    kind, _, source = head.partition(" ")
    target, _, mode = tail.rpartition(" ")
    if not target:
        target, mode = tail, ""
    if kind == "volume" and _is_data_volume(source, project, env, endpoint):
        count["env-name"] += 1
        source, kind = "", "data volume"
    shown = " ".join(s for s in (kind, source, mode) if s)
    return f"mount {target}", shown


def _is_data_volume(name: str, project: str, env: str, endpoint: str) -> bool:
    if project:
        return name in (f"wb_{project}_{env}_{endpoint}_data",
                        f"wb-{project}-{env}-{endpoint}-data")
    return (re.fullmatch(rf"wb_[a-z0-9-]+_{re.escape(env)}_{re.escape(endpoint)}_data", name)
            is not None or re.fullmatch(
                rf"wb-[a-z0-9-]+-{re.escape(env)}-{re.escape(endpoint)}-data", name) is not None)
