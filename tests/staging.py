"""A project staged for deploys to the real sshd hosts from .ci/setup (used by test_deploy*).

`stage()` makes a fresh project (unique name) with endpoints ``orders`` (python, /data) and
``site`` (static) and a ``staging`` environment on the given hosts; `clean()` removes everything
labelled with the project from an engine, and its state root on that host
(`helpers.clean`).
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from helpers import HANG_GUARD, SSHTarget, free_port

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

RunWorkbench = Callable[..., subprocess.CompletedProcess[str]]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxies


class Staged:
    """A project with endpoints ``orders`` (python) and ``site`` (static) and a staging env."""

    def __init__(self, root: Path, name: str, port: int, run: RunWorkbench) -> None:
        self.root, self.name, self.port, self._run = root, name, port, run

    def workbench(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return self._run("--batch", *args, cwd=self.root, timeout=timeout)

    def deploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.workbench("deploy", "--env", "staging", *args)

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.root / path
        text = file.read_text()
        assert old in text, f"{old!r} not in {file}"
        file.write_text(text.replace(old, new, 1))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with _OPENER.open(self.url(path), timeout=HANG_GUARD) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def post(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(self.url(path), data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with _OPENER.open(request, timeout=HANG_GUARD) as reply:
            return reply.status, json.loads(reply.read())

    def releases(self, endpoint: str, env: str = "staging") -> list[dict[str, object]]:
        done = self.workbench("releases", "--env", env, "-e", endpoint, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def state_root(self, env: str = "staging", base: Path = Path("/var/lib/workbench")) -> Path:
        """The environment's state root on a host whose state roots are under ``base`` (the
        sshd from .ci/setup keeps them on this machine)."""
        return base / self.name / env

    def proxy(self, client: docker.DockerClient, env: str = "staging") -> Container:
        """The environment's proxy container on an engine (found by its labels)."""
        [found] = client.containers.list(all=True, filters={"label": [
            f"dev.workbench.project={self.name}", f"dev.workbench.env={env}",
            "dev.workbench.role=proxy"]})
        return found

    def apps(self, client: docker.DockerClient, endpoint: str, env: str = "staging",
             running: bool = True) -> list[Container]:
        """The endpoint's app containers on an engine (found by their labels)."""
        return client.containers.list(all=not running, filters={"label": [
            f"dev.workbench.project={self.name}", f"dev.workbench.env={env}",
            f"dev.workbench.endpoint={endpoint}", "dev.workbench.role=app"]})


def stage(tmp_path: Path, home: Path, run: RunWorkbench, base_image: str, target: SSHTarget,
          hosts: Sequence[str]) -> Staged:
    """A new project whose ``staging`` environment has ``hosts`` (YAML flow items)."""
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "config").write_text(f"Host {target.host}\n  IdentityFile {target.key}\n"
                                "  IdentitiesOnly yes\n")
    (ssh / "known_hosts").write_text(target.known_hosts.read_text())
    name = "d" + uuid.uuid4().hex[:8]
    for args, cwd in ((("new", name), tmp_path), (("new", "-e", "orders"), tmp_path / name),
                      (("new", "-e", "site", "--template", "static"), tmp_path / name)):
        done = run("--batch", *args, cwd=cwd)
        assert done.returncode == 0, done.stderr
    project = Staged(tmp_path / name, name, free_port(), run)
    project.edit("workbench.yaml", "build_args: {}", f'build_args: {{BASE_IMAGE: "{base_image}"}}')
    with (project.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  staging:\n    hosts: [{', '.join(hosts)}]\n"
                     f"    proxy_port: {project.port}\n    proxy_bind: 127.0.0.1\n"
                     f"    proxy_image: {base_image}\n")
    return project
