"""``diff ENV_A ENV_B``: what differs between two running environments.

Both environments are observed at once (every host of each, one SSH connection per host), with
secret values sealed under one key made for this comparison and kept in this process, so a
secret is told ``same`` or ``differs`` and never shown. Each side is normalized
(:mod:`workbench.normalize`: what the engine fills in is dropped, by a written table of rules)
and the two are compared (:func:`workbench.compare.compare`, pure).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence

from ..compare import Comparison, compare
from ..errors import BadInput
from ..model import Project
from ..normalize import normalize
from .observe import Opener, observe


async def diff_envs(project: Project, env_a: str, env_b: str, endpoints: Sequence[str],
                    opener: Opener) -> Comparison:
    """Compare environment ``env_a`` with ``env_b`` (the endpoints named, or all)."""
    if env_a == env_b:
        raise BadInput(f"'{env_a}' is compared with itself",
                       "name two environments, or one with --repo, --since or --previous")
    a, b = project.environment(env_a), project.environment(env_b)
    key = secrets.token_bytes(32)  # exists only in this process, for this comparison
    state_a, state_b = await asyncio.gather(observe(project, a, opener, key, with_secrets=True),
                                            observe(project, b, opener, key, with_secrets=True))
    return compare(normalize(state_a), normalize(state_b), list(endpoints) or None)
