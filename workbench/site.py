"""One host of an environment, as the operations see it: its engine, its state root, and a
way to reach containers (:class:`Site`); opened by :func:`workbench.sites.open_sites`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .engine import Engine
from .model import Endpoint, Environment, Project
from .releases import Release
from .state import Store

Connect = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
"""Open a TCP connection to a container's address and port (through the SSH tunnel)."""


@dataclass(slots=True)
class Site:
    """One host of the environment: its engine, its state root, and a way to reach containers."""

    name: str
    engine: Engine
    store: Store
    connect: Connect
    proxy_id: str = ""
    network: str = ""
    """The name of the environment's network on this host (found by labels when the proxy is
    made ready: a deployment made before today's names keeps its own)."""
    current: dict[str, Release] = field(default_factory=dict)
    """endpoint -> its current release on this host (read once, when the run starts)."""
    active: dict[str, tuple[str, Endpoint]] = field(default_factory=dict)
    """endpoint -> (container name, endpoint) the proxy routes to."""
    ready: asyncio.Future[None] | None = None
    """The network, the proxy and its current routes made ready (beside the builds)."""
    proxy_address: str = ""
    """The proxy's address on the environment's network (where its health path answers)."""
    retiring: set[int] = field(default_factory=set)
    """PIDs of the proxy's nginx workers from before a reload: they finish the requests they
    have in flight (perhaps to an old container), then exit."""


SiteOpener = Callable[[Project, Environment], contextlib.AbstractAsyncContextManager[list[Site]]]
"""Opens every host of an environment (:func:`workbench.sites.open_sites`, or a test's)."""

