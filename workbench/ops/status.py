"""``status``: what runs in each environment, per endpoint and host, with its drift flags.

Environments are observed concurrently (:func:`~.observe.observe`); the repo's side (each
endpoint's version and config hash as a deploy would compute them) is worked out beside them.
Drift flags per endpoint and host:

- ``code``: the repo's version (a hash of the build context) is not the one running;
- ``config``: the variables, secrets or endpoint.yaml values differ (config hash);
- ``missing``: released there, but no container serves it (gone or not running);
- ``replicas`` (Swarm): the service wants another number of replicas than the repo's
  endpoint.yaml (a ``scale``, or an edit not deployed yet).

A Swarm environment has one row per endpoint, on its first host (the manager), whose instance
is the service with its tasks on every node; its other hosts have rows only when they cannot
be read (their tasks' health is then not known).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import WorkbenchError
from ..model import Project
from ..observed import EnvState, HostState, Instance
from ..releases import Release
from .inputs import ReleaseInput, for_env, gather, keyed
from .observe import Opener, observe_keyed


@dataclass(frozen=True, slots=True)
class Row:
    """One endpoint on one host of one environment."""

    env: str
    endpoint: str
    host: str
    instance: Instance | None
    release: Release | None
    """Its current release there (the last ok one)."""
    last: Release | None
    """Its last release record there, whatever the outcome."""
    drift: tuple[str, ...]
    unreachable: str = ""


@dataclass(frozen=True, slots=True)
class Status:
    """Every environment asked for, as rows."""

    states: tuple[EnvState, ...]
    rows: tuple[Row, ...]
    notes: Mapping[str, str] = field(default_factory=dict)
    """env -> what could not be judged there, and why (e.g. its secrets file is missing)."""

    @property
    def unreachable(self) -> dict[str, str]:
        """``env host`` -> why it could not be read."""
        return {f"{s.env} {h}": why for s in self.states for h, why in s.unreachable.items()}


async def status(project: Project, env_names: Sequence[str], opener: Opener) -> Status:
    """Observe the environments (all by default) and compare each with the repo."""
    envs = [project.environment(n) for n in env_names] if env_names else \
        list(project.environments)
    key = secrets.token_bytes(32)  # seals secrets for this process only; status shows none
    notes: dict[str, str] = {}

    def repo_side() -> dict[str, dict[str, ReleaseInput]]:
        once = gather(project, envs[0], project.endpoints, with_secrets=False,
                      with_git=False) if envs else {}
        sides = {}
        for env in envs:
            try:
                sides[env.name] = for_env(project, env, once)
            except WorkbenchError as exc:  # e.g. its secrets file is missing here
                notes[env.name] = f"config drift not judged: {exc.line}"
                sides[env.name] = once
        return sides

    observing = [asyncio.ensure_future(observe_keyed(project, env, opener, key, with_images=False,
                                                     with_routes=False)) for env in envs]
    # The observers import asyncssh and start connecting first (then wait on the network);
    # the repo's side, CPU work on a thread, runs in those waits rather than against them.
    await asyncio.sleep(0)
    repo = asyncio.ensure_future(asyncio.to_thread(repo_side))
    observed = await asyncio.gather(*observing)
    inputs = await repo
    states = [state for state, _key in observed]
    env_keys = [env_key for _state, env_key in observed]
    rows: list[Row] = []
    for env, state, env_key in zip(envs, states, env_keys, strict=True):
        judged = bool(env_key) and env.name not in notes
        wanted = {n: keyed(i, env_key) if judged and env_key else i
                  for n, i in inputs[env.name].items()}
        rows += rows_of(state, wanted, judged)
    return Status(tuple(states), tuple(rows), notes)


def rows_of(state: EnvState, wanted: dict[str, ReleaseInput], keyed_hash: bool) -> list[Row]:
    """The rows of one environment: every endpoint of the repo or of the hosts, per host."""
    names = sorted(set(wanted) | set(state.endpoints))
    swarm = state.engine == "swarm"
    rows = []
    for n, host in enumerate(state.hosts):
        if host.unreachable:
            rows += [Row(state.env, name, host.host, None, None, None, (), host.unreachable)
                     for name in names]
            continue
        if swarm and n and not host.instances and not host.releases:
            continue  # a node: its tasks are the manager's rows
        for name in names:
            rows.append(_row(state.env, name, host, wanted.get(name), keyed_hash, swarm))
    return rows


def _row(env: str, name: str, host: HostState, want: ReleaseInput | None,
         keyed_hash: bool, swarm: bool = False) -> Row:
    instance = next((i for i in host.instances if i.endpoint == name), None)
    release, last = host.releases.get(name), host.last.get(name)
    drift: list[str] = []
    if want is None:
        drift.append("removed")  # runs here, but the repo has no such endpoint
    if release is not None and (instance is None or instance.state != "running"):
        drift.append("missing")
    deployed = instance or release
    if want is not None and deployed is not None:
        if want.context.version != deployed.version:
            drift.append("code")
        if keyed_hash and want.config_hash != deployed.config_hash:
            drift.append("config")
    if swarm and want is not None and instance is not None and \
            instance.replicas_desired != want.endpoint.replicas:
        drift.append("replicas")
    return Row(env, name, host.host, instance, release, last, tuple(drift))
