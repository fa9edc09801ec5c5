"""Release records: one JSON line per deploy or rollback of an endpoint, on the server.

``releases/<endpoint>.jsonl`` in the environment's state root is append-only. The current
release of an endpoint is its last record whose outcome is ``ok``. Records hold versions, hashes,
durations and log lines, never secret values.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .state import Store


@dataclass(frozen=True, slots=True)
class Release:
    endpoint: str
    version: str
    host: str
    outcome: str
    """``ok`` or ``failed``."""
    kind: str = "deploy"
    """``deploy`` or ``rollback``."""
    container: str = ""
    image: str = ""
    git_sha: str = ""
    dirty: bool = False
    config_hash: str = ""
    secrets_generation: str = ""
    """Which secrets it ran with: an HMAC under the environment's key, never the values."""
    variables: dict[str, str] = field(default_factory=dict)
    """The plain (not secret) variables it ran with."""
    secret_names: tuple[str, ...] = ()
    endpoint_config: dict[str, Any] = field(default_factory=dict)
    """The deployed endpoint.yaml values (port, health, routes, data, ...)."""
    user: str = ""
    time: str = ""
    """ISO 8601, UTC."""
    durations: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    last_lines: tuple[str, ...] = ()
    engine: str = "docker"
    """``docker`` (a container per host) or ``swarm`` (a service; recorded on the first host)."""
    replicas: int = 1
    image_ref: str = ""
    """Swarm: the pinned image the service ran (``sha256:<id>`` or ``repo@sha256:<digest>``)."""

    def dump(self) -> bytes:
        body = asdict(self)
        body["last_lines"] = list(self.last_lines)
        body["secret_names"] = list(self.secret_names)
        return json.dumps(body, sort_keys=True).encode() + b"\n"

    @classmethod
    def parse(cls, line: str) -> Release | None:
        try:
            raw: dict[str, Any] = json.loads(line)
            known = {name: raw[name] for name in cls.__dataclass_fields__ if name in raw}
            known["last_lines"] = tuple(known.get("last_lines", ()))
            known["secret_names"] = tuple(known.get("secret_names", ()))
            return cls(**known)
        except (ValueError, TypeError, KeyError):
            return None

    @property
    def moment(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.time)
        except ValueError:
            return None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def path_of(endpoint: str) -> str:
    return f"releases/{endpoint}.jsonl"


async def append(store: Store, release: Release) -> None:
    await store.append(path_of(release.endpoint), release.dump())


async def history(store: Store, endpoint: str) -> list[Release]:
    """Every record of ``endpoint``, oldest first (unreadable lines are skipped)."""
    data = await store.read(path_of(endpoint))
    if not data:
        return []
    records = (Release.parse(line) for line in data.decode("utf-8", "replace").splitlines())
    return [record for record in records if record is not None]


def current(records: list[Release], host: str | None = None) -> Release | None:
    """The last successful release (on ``host``, when given)."""
    for record in reversed(records):
        if record.outcome == "ok" and (host is None or record.host == host):
            return record
    return None
