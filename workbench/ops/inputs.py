"""What a deploy starts each endpoint with: its build context, env, secrets, config hash and
git state, gathered before any host is touched (:func:`gather`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import envkey
from ..context import BuildContext, build_context
from ..model import Endpoint, Environment, Project
from ..secrets import secrets_for


@dataclass(frozen=True, slots=True)
class ReleaseInput:
    """One endpoint's part of a deploy or rollback: what is built and how it is run.

    ``config_hash`` is "" until :func:`keyed` gives it the environment's key."""

    endpoint: Endpoint
    context: BuildContext
    env: Mapping[str, str]
    secrets: Mapping[str, str]
    config_hash: str
    git_sha: str
    dirty: bool
    kind: str = "deploy"
    image: str = ""
    """The image to run; "" for the project's name of the version (:func:`..naming.image`).
    A rollback runs the image its release recorded."""
    secrets_generation: str = ""
    """Which secrets it runs with: an HMAC under the environment's key (:mod:`..envkey`)."""


def gather(project: Project, env: Environment, endpoints: Sequence[Endpoint],
           build_args: Mapping[str, str] = MappingProxyType({}), *,
           with_secrets: bool = True, with_git: bool = True) -> dict[str, ReleaseInput]:
    """Each endpoint's input, by name (packs the build contexts; blocks: call in a thread).
    ``with_secrets=False`` leaves the secrets out (:func:`for_env` adds them per env);
    ``with_git=False`` asks git nothing (sha "" and not dirty: status needs no git state)."""
    result = {}
    paths = [endpoint.path for endpoint in endpoints] if with_git else []
    with GitStates(paths) as git:  # run while we pack
        for endpoint in endpoints:
            context = build_context(project, endpoint, build_args)
            variables = {**env.variables, **endpoint.env}
            secrets = secrets_for(project.root, env.secrets_file, env.name, endpoint.name,
                                  endpoint.secrets) if with_secrets else {}
            sha, dirty = git.state(endpoint.path) if with_git else ("", False)
            result[endpoint.name] = ReleaseInput(endpoint, context, variables, secrets, "",
                                                 sha, dirty)
    return result


def for_env(project: Project, env: Environment,
            inputs: Mapping[str, ReleaseInput]) -> dict[str, ReleaseInput]:
    """``inputs`` (gathered for one environment) with the variables and secrets of ``env``:
    the build context and git state are the same in every environment, so they are packed and
    asked once (blocks: reads the secrets file)."""
    result = {}
    for name, item in inputs.items():
        endpoint = item.endpoint
        secrets = secrets_for(project.root, env.secrets_file, env.name, endpoint.name,
                              endpoint.secrets)
        result[name] = replace(item, env={**env.variables, **endpoint.env}, secrets=secrets,
                               config_hash="", secrets_generation="")
    return result


async def current_config(project: Project, env: Environment,
                         endpoint: Endpoint) -> tuple[dict[str, str], dict[str, str]]:
    """The variables and secrets the endpoint runs with in ``env`` now."""
    variables = {**env.variables, **endpoint.env}
    secrets = await asyncio.to_thread(secrets_for, project.root, env.secrets_file, env.name,
                                      endpoint.name, endpoint.secrets)
    return variables, secrets


def deployed_config(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint.yaml values a release runs with, for its record (names of secrets only)."""
    return {"port": endpoint.port, "health": endpoint.health,
            "health_timeout": endpoint.health_timeout, "routes": list(endpoint.routes),
            "data": endpoint.data, "env": sorted(endpoint.env), "secrets": list(endpoint.secrets)}


def keyed(item: ReleaseInput, key: bytes) -> ReleaseInput:
    """``item`` with its config hash and secrets generation under the environment's key."""
    return replace(item, config_hash=config_hash(item.endpoint, item.env, item.secrets, key),
                   secrets_generation=envkey.generation(key, item.secrets))


def config_hash(endpoint: Endpoint, variables: Mapping[str, str],
                secrets: Mapping[str, str], key: bytes) -> str:
    """A hash of what the container is run with. Secret values enter only as HMACs under the
    environment's ``key`` (never as plain hashes, which weak secrets do not survive)."""
    body = {"port": endpoint.port, "health": endpoint.health, "routes": list(endpoint.routes),
            "data": endpoint.data, "env": dict(sorted(variables.items())),
            "secrets": {k: envkey.seal(key, k, v) for k, v in sorted(secrets.items())}}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


class GitStates:
    """``git rev-parse`` and ``git status`` started in every repo at once (not one after the
    other); :meth:`state` waits for a repo's two. Leaving the ``with`` reaps them all."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.running = {path: (self._start(path, "rev-parse", "--short=12", "HEAD"),
                               self._start(path, "status", "--porcelain")) for path in paths}
        self.states: dict[Path, tuple[str, bool]] = {}

    def __enter__(self) -> GitStates:
        return self

    def __exit__(self, *_exc: object) -> None:
        for path in self.running:
            self.state(path)

    def state(self, path: Path) -> tuple[str, bool]:
        """(short sha of HEAD, dirty); "" and False where git fails."""
        if path not in self.states:
            sha, status = self.running[path]
            self.states[path] = (self._output(sha), bool(self._output(status)))
        return self.states[path]

    @staticmethod
    def _start(path: Path, *args: str) -> subprocess.Popen[str] | None:
        try:
            return subprocess.Popen(["git", *args], cwd=path, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            return None

    @staticmethod
    def _output(proc: subprocess.Popen[str] | None) -> str:
        if proc is None:
            return ""
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return ""
        return out.strip() if proc.returncode == 0 else ""


