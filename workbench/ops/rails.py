"""Safety rails on environments, enforced by the core so that every front end obeys them.

- ``readonly: true``: nothing that changes the environment runs (deploy, rollback, scale,
  prune, releasing a live holder's lock).
- ``protected: true``: those run only when the caller names the environment again
  (``--confirm ENV`` in batch mode; the TUI asks the user to type the name).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BadInput
from ..model import ENDPOINT_FILE, Endpoint, Environment
from ..swarmconfig import UpdateSettings


def require_confirm(env: Environment, action: str, confirm: str | None) -> None:
    """Raise :class:`BadInput` (exit 2) unless ``action`` may change ``env``: refused on a
    readonly environment, and on a protected one unless ``confirm`` is its name."""
    if env.readonly:
        raise BadInput(f"environment '{env.name}' is readonly: {action} is refused",
                       f"set 'readonly: false' for '{env.name}' in workbench.yaml to change it")
    if env.protected and confirm != env.name:
        said = f" (--confirm {confirm!r} names another)" if confirm else ""
        raise BadInput(f"environment '{env.name}' is protected: {action} needs "
                       f"--confirm {env.name}{said}", f"rerun with --confirm {env.name}")


def require_docker_engine(env: Environment, action: str) -> None:
    """Refuse ``action`` on an environment whose engine cannot do it yet (``swarm``: deploy,
    rollback and scale can; prune cannot), with one line, instead of running plain containers
    where the user asked for a cluster."""
    if env.engine != "docker":
        raise BadInput(f"environment '{env.name}' has engine: {env.engine}, which workbench "
                       f"cannot {action} yet", f"set 'engine: docker' for '{env.name}' in "
                       "workbench.yaml to run one container per host")


def require_single_host(env: Environment, endpoints: Sequence[Endpoint], action: str) -> None:
    """Refuse ``action`` on an ``engine: docker`` environment for an endpoint that sets a
    Swarm-only key (replicas above 1, update, placement, volume_driver): one container per
    host would ignore it."""
    for endpoint in endpoints:
        keys = [key for key, used in (("replicas", endpoint.replicas != 1),
                                      ("update", endpoint.update != UpdateSettings()),
                                      ("placement", bool(endpoint.placement)),
                                      ("volume_driver", bool(endpoint.volume_driver))) if used]
        if keys:
            raise BadInput(f"{endpoint.path / ENDPOINT_FILE} sets {', '.join(keys)}, which "
                           f"environment '{env.name}' (engine: docker, one container per host) "
                           f"cannot {action} with", f"remove {keys[0]} from it, or {action} to "
                           "an environment with engine: swarm")
