"""The second host from .ci/setup (its own network namespace, dockerd and sshd on
127.0.0.1:42023), for tests that deploy to two hosts or two environments."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker


@dataclass(frozen=True)
class SecondHost:
    """The second host from .ci/setup: its engine, namespace and state folder."""

    spec: str
    netns: str
    docker_socket: str
    state: Path
    client: docker.DockerClient

    def get(self, port: int, path: str) -> tuple[int, str]:
        """GET http://127.0.0.1:PORT/PATH inside the host's network namespace."""
        code = ("import sys, urllib.error, urllib.request\n"
                "try:\n"
                f"    r = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=5)\n"
                "except urllib.error.HTTPError as e:\n"
                "    r = e\n"
                "sys.stdout.write(str(r.status) + ' ' + r.read().decode())\n")
        done = subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", "python3", "-c",
                               code], capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        status, _, body = done.stdout.partition(" ")
        return int(status), body
