"""Helpers shared by the tests (importable as `helpers`; conftest.py re-uses them)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from workbench.gitlab import GitLab

if TYPE_CHECKING:
    import docker

DEFAULT_BASE_IMAGE = "workbench/base:bookworm"
SETUP_HINT = "run `sudo bash .ci/setup`"
HANG_GUARD = 600.0
"""Seconds a test waits for what must end (a request, a process, a thread) before it calls it
hung. A safety cap for a broken build only: never reached when things work, however loaded the
machine, so no test depends on how fast it runs."""


CI_VALUES = frozenset({"true", "1", "yes"})
"""What ``CI`` is set to on a CI run, in any case (GitHub and GitLab say ``true``, others ``1``)."""


def under_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this is a CI run: ``CI`` is true, 1 or yes in any case. The one CI check of the
    tests: use it wherever CI changes what a test does."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in CI_VALUES


def require_part(name: str, reason: str) -> NoReturn:
    """Fail under CI (see ``under_ci``: a missing part never skips there), skip otherwise."""
    message = f"{name} is not available: {reason}; {SETUP_HINT}"
    if under_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tcp_reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    """Whether a TCP connect to host:port succeeds within timeout seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ci_state_dir() -> Path:
    """The folder .ci/setup writes to."""
    return Path(os.environ.get("WORKBENCH_CI_STATE") or "/var/lib/workbench-ci")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse shell-style KEY=value lines, ignoring blanks and comments."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def target_env() -> dict[str, str]:
    """Contents of target.env written by .ci/setup, or {} when it is missing."""
    path = ci_state_dir() / "target.env"
    return read_env_file(path) if path.is_file() else {}


@dataclass(frozen=True)
class SSHTarget:
    """The real sshd set up by .ci/setup, which also drives the local Docker Engine."""

    user: str
    host: str
    port: int
    key: Path
    known_hosts: Path
    docker_socket: str

    @classmethod
    def from_env(cls, values: dict[str, str]) -> SSHTarget:
        """Build from target.env values (KeyError/ValueError when incomplete)."""
        return cls(
            user=values["WB_SSH_USER"],
            host=values["WB_SSH_HOST"],
            port=int(values["WB_SSH_PORT"]),
            key=Path(values["WB_SSH_KEY"]),
            known_hosts=Path(values["WB_SSH_KNOWN_HOSTS"]),
            docker_socket=values.get("WB_DOCKER_SOCKET", "/var/run/docker.sock"),
        )

    @property
    def options(self) -> list[str]:
        """ssh options: this key only, strict host key checking, never prompt."""
        return [
            "-i", str(self.key),
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
        ]  # fmt: skip

    @property
    def ssh_command(self) -> str:
        """A command line usable as GIT_SSH_COMMAND."""
        return shlex.join(["ssh", *self.options])

    @property
    def spec(self) -> str:
        """The target as workbench environments write it: user@host:port."""
        return f"{self.user}@{self.host}:{self.port}"

    def url(self, path: str | os.PathLike[str]) -> str:
        """An ssh:// URL (e.g. a git remote) for an absolute path on the target."""
        return f"ssh://{self.user}@{self.host}:{self.port}{Path(path).absolute().as_posix()}"

    def ssh_argv(self, *remote: str, options: Sequence[str] = ()) -> list[str]:
        """argv running the remote command (quoted for the remote shell) on the target."""
        argv = ["ssh", *self.options, "-o", "ConnectTimeout=10", *options, "-p", str(self.port)]
        argv.append(f"{self.user}@{self.host}")
        if remote:
            argv += ["--", shlex.join(remote)]
        return argv


def clean(client: docker.DockerClient, name: str, state_root: Path) -> None:
    """Remove what a staged project left on one host: containers, volumes, networks, images,
    and its folder under that host's /var/lib/workbench (``state_root``)."""
    import docker.errors

    label = {"label": f"dev.workbench.project={name}"}
    # Each one may be gone meanwhile (a process of the test still cleaning up its own).
    for container in client.containers.list(all=True, filters=label, sparse=True):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container.id, force=True, v=True)
    for volume in client.volumes.list(filters=label):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)
    for network in client.networks.list(filters=label):
        if network.attrs.get("Scope") == "swarm":
            continue  # the manager removes a Swarm's overlay; a node's copy then goes by itself
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    for image in client.images.list(filters=label):
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(image.id, force=True)
    shutil.rmtree(state_root / name, ignore_errors=True)


# -- a fake GitLab REST API serving recorded replies ------------------------------------------
FIXTURES = Path(__file__).parent / "fixtures" / "gitlab"
GITLAB_TOKEN = "glpat-Xq7vR2mN9sLk4TzW8bYc"


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str  # raw, url-encoding kept
    token: str | None
    headers: dict[str, str]
    body: Any


# a reply: (status, fixture file name or JSON value or raw bytes, extra headers)
Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]


@dataclass
class FakeGitLab:
    url: str
    routes: dict[tuple[str, str], Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def client(self, **kwargs: Any) -> GitLab:
        return GitLab(self.url, GITLAB_TOKEN, **kwargs)

    def calls(self) -> list[tuple[str, str]]:
        return [(s.method, s.path) for s in self.seen]


@contextmanager
def serve_fake_gitlab() -> Iterator[FakeGitLab]:
    """A fake GitLab API on 127.0.0.1 replying from a route table and recording requests."""
    fake = FakeGitLab(url="")

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fake.seen.append(
                Seen(
                    method=self.command,
                    path=self.path,
                    token=self.headers.get("PRIVATE-TOKEN"),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )
            )
            reply = fake.routes.get(
                (self.command, self.path), (599, {"message": f"no route {self.path}"})
            )
            status, content, extra = (*reply, {}) if len(reply) == 2 else reply
            if isinstance(content, bytes):
                data = content
            elif isinstance(content, str) and content.endswith(".json"):
                data = (FIXTURES / content).read_bytes()
            else:
                data = json.dumps(content).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


