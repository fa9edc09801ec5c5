"""Shared fixtures: isolation from the real user, `python -m workbench` runner, real parts.

Real parts (Docker Engine, base image, OpenSSH sshd) come from `.ci/setup`. When one is
missing, tests needing it skip locally and fail under CI (`CI` set to true, 1 or yes in any
case; see `helpers.under_ci` and `helpers.require_part`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import docker
import docker.errors
import pytest
from helpers import (
    DEFAULT_BASE_IMAGE,
    HANG_GUARD,
    SSHTarget,
    ci_state_dir,
    clean,
    require_part,
    target_env,
    tcp_reachable,
)
from hosts import SecondHost, swarm_cluster  # noqa: F401 (swarm_cluster: a fixture)
from staging import Staged, stage

# Variables from the real user's session that must not reach a test.
_LEAKY_PREFIXES = ("GIT_AUTHOR_", "GIT_COMMITTER_", "WORKBENCH_", "GIT_CONFIG_")
_LEAKY_NAMES = (
    "GITLAB_TOKEN",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "SSH_AUTH_SOCK",
)
_KEEP = ("WORKBENCH_CI_STATE",)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give every test its own HOME and XDG folders; drop git/workbench/agent variables."""
    home = tmp_path / "home"
    folders = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CACHE_HOME": home / ".cache",
    }
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(folder))
    for name in list(os.environ):
        if name in _KEEP:
            continue
        if name in _LEAKY_NAMES or name.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return home


class RunWorkbench(Protocol):
    """Signature of the `run_workbench` fixture."""

    def __call__(
        self,
        *args: str,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def run_workbench(isolated_env: Path) -> RunWorkbench:
    """Run `python -m workbench ARGS` in the isolated environment, capturing text output."""

    def run(
        *args: str,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workbench", *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A docker.DockerClient on DOCKER_HOST (default: the local socket) that answered ping()."""
    base_url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        probe = docker.DockerClient(base_url=base_url, timeout=HANG_GUARD)
        try:
            probe.ping()
        finally:
            probe.close()
    except Exception as exc:
        require_part("Docker Engine", f"no answer on {base_url} ({exc})")
    client = docker.DockerClient(base_url=base_url, timeout=HANG_GUARD)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    """Name of the local base image (python3 + nginx), verified present in the engine."""
    name = target_env().get("WB_BASE_IMAGE") or DEFAULT_BASE_IMAGE
    try:
        docker_client.images.get(name)
    except docker.errors.ImageNotFound:
        require_part(f"base image {name}", "not in the local Docker Engine")
    return name


@pytest.fixture(scope="session")
def ssh_target() -> SSHTarget:
    """The real OpenSSH sshd from .ci/setup, verified by a TCP connect."""
    path = ci_state_dir() / "target.env"
    if not path.is_file():
        require_part("OpenSSH sshd", f"{path} is missing")
    try:
        target = SSHTarget.from_env(target_env())
    except (KeyError, ValueError) as exc:
        require_part("OpenSSH sshd", f"{path} is incomplete ({exc!r})")
    for file in (target.key, target.known_hosts):
        if not os.access(file, os.R_OK):
            require_part("OpenSSH sshd", f"{file} is not readable")
    if not tcp_reachable(target.host, target.port, timeout=HANG_GUARD):
        require_part("OpenSSH sshd", f"nothing listens on {target.host}:{target.port}")
    return target


@pytest.fixture
def git_ssh_env(
    ssh_target: SSHTarget, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> dict[str, str]:
    """Make git use the CI key and known_hosts; return {"GIT_SSH_COMMAND": ...}."""
    monkeypatch.setenv("GIT_SSH_COMMAND", ssh_target.ssh_command)
    return {"GIT_SSH_COMMAND": ssh_target.ssh_command}


@pytest.fixture(scope="session")
def second_host(ssh_target: SSHTarget) -> Iterator[SecondHost]:
    values = target_env()
    if "WB_HOST2_PORT" not in values:
        require_part("second host", "target.env names no WB_HOST2_PORT")
    port = int(values["WB_HOST2_PORT"])
    if not tcp_reachable(ssh_target.host, port):
        require_part("second host", f"nothing listens on {ssh_target.host}:{port}")
    if os.geteuid() != 0:
        require_part("second host", "its namespace is entered with nsenter, which needs root")
    socket = values["WB_HOST2_DOCKER_SOCKET"]
    client = docker.DockerClient(base_url=f"unix://{socket}", timeout=HANG_GUARD)
    try:
        client.ping()
    except Exception as exc:
        require_part("second host", f"its engine does not answer on {socket} ({exc})")
    yield SecondHost(f"{ssh_target.user}@{ssh_target.host}:{port}", values["WB_HOST2_NETNS"],
                     socket, Path(values["WB_HOST2_STATE"]), client)
    client.close()


@pytest.fixture
def staged(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
           ssh_target: SSHTarget, docker_client: docker.DockerClient) -> Iterator[Staged]:
    """A project staged for deploys to the first CI host (tests/staging.py), removed after."""
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target,
                    [ssh_target.spec])
    yield project
    clean(docker_client, project.name, Path("/var/lib/workbench"))
