"""The real parts work: Docker Engine + base image, OpenSSH sshd, git over SSH."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import docker
import pytest
from helpers import HANG_GUARD, SSHTarget

pytestmark = pytest.mark.integration

TEST_LABEL = {"dev.workbench.test": "test_real_parts"}


def run_in_base(client: docker.DockerClient, image: str, *command: str) -> tuple[int, str]:
    """Run a command in a fresh container of image (no network); return exit code and logs."""
    container = client.containers.run(
        image, list(command), detach=True, network_disabled=True, labels=TEST_LABEL
    )
    try:
        status = container.wait(timeout=HANG_GUARD)["StatusCode"]
        return status, container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)


def git(*args: str, cwd: Path) -> str:
    """Run git (with a throwaway identity for commits) and return its stripped stdout."""
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout.strip()


def test_container_from_base_image_runs_python(
    docker_client: docker.DockerClient, base_image: str
) -> None:
    """A container of the base image runs python3 and its logs carry the output."""
    status, logs = run_in_base(docker_client, base_image, "python3", "-c", "print(6*7)")
    assert status == 0, logs
    assert logs.strip() == "42"


def test_base_image_has_nginx(docker_client: docker.DockerClient, base_image: str) -> None:
    """The base image doubles as the proxy image: nginx is installed."""
    status, logs = run_in_base(docker_client, base_image, "nginx", "-v")
    assert status == 0, logs
    assert "nginx version: nginx/" in logs


def test_ssh_target_drives_docker_engine(ssh_target: SSHTarget) -> None:
    """Over the real sshd with strict host key checking, the remote docker CLI answers."""
    remote = ["docker", "-H", f"unix://{ssh_target.docker_socket}", "version"]
    result = subprocess.run(
        ssh_target.ssh_argv(*remote, "--format", "{{.Server.Version}}"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", result.stdout.strip()), result.stdout


def test_ssh_with_unknown_host_key_is_refused(ssh_target: SSHTarget, tmp_path: Path) -> None:
    """With an empty known_hosts file, strict checking refuses the connection."""
    empty = tmp_path / "known_hosts"
    empty.touch()
    stranger = dataclasses.replace(ssh_target, known_hosts=empty)
    result = subprocess.run(
        stranger.ssh_argv("true", options=["-o", "GlobalKnownHostsFile=/dev/null"]),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr


def test_git_push_over_ssh_lands_commit(
    ssh_target: SSHTarget, git_ssh_env: dict[str, str], tmp_path: Path
) -> None:
    """git push over ssh:// into a bare repo lands the exact commit."""
    bare = tmp_path / "remote.git"
    work = tmp_path / "work"
    work.mkdir()
    git("init", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("init", "-b", "main", cwd=work)
    (work / "README.md").write_text("hello\n")
    git("add", "README.md", cwd=work)
    git("commit", "-m", "first", cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work)

    git("push", ssh_target.url(bare), "main", cwd=work)

    assert git("-C", str(bare), "rev-parse", "main", cwd=tmp_path) == sha
