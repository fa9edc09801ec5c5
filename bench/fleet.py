"""A fleet for the read benchmarks (status, diff): N endpoints deployed to environments on the
two CI hosts and the local engine. Shared by bench/status.py and bench/diff.py.

The project has N static endpoints (their images build in a second) and environments:
``local`` (this machine's engine), ``staging`` (root@127.0.0.1:42022, the same engine over
SSH), ``prod`` (root@127.0.0.1:42023, the second host's engine). workbench gets a bytecode
cache in the bench's temporary folder, as an installed package has. Everything the fleet made
is removed by :meth:`Fleet.clean`, also on failure, Ctrl-C, SIGTERM or SIGHUP (not SIGKILL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
WORKBENCH = str(BIN / "workbench")
CI = Path("/var/lib/workbench-ci")
KEY, KNOWN = CI / "ssh/id_ed25519", CI / "ssh/known_hosts"
HOST, PORTS = "127.0.0.1", {"staging": 42022, "prod": 42023}
HOST2_SOCKET = "/run/wb-ci-host2/docker.sock"
HOST2_STATE = CI / "host2/state"
BASE_IMAGE = os.environ.get("WB_BASE_IMAGE", "workbench/base:bookworm")
DOCKER = shutil.which("docker") or "docker"


def sh(command: list[str], env: dict[str, str], cwd: Path | None = None,
       timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Fleet:
    """A project of ``count`` endpoints with environments local, staging and prod."""

    def __init__(self, tmp: Path, count: int) -> None:
        self.tmp, self.count = tmp, count
        self.name = "bf" + uuid.uuid4().hex[:8]
        self.endpoints = [f"e{i:02d}" for i in range(count)]
        home = tmp / "home"
        ssh = home / ".ssh"
        ssh.mkdir(parents=True, mode=0o700)
        shutil.copy(KEY, ssh / "id_ed25519")
        (ssh / "id_ed25519").chmod(0o600)
        shutil.copy(KNOWN, ssh / "known_hosts")
        (ssh / "config").write_text(f"Host {HOST}\n  User root\n"
                                    f"  IdentityFile {ssh / 'id_ed25519'}\n  IdentitiesOnly yes\n"
                                    f"  UserKnownHostsFile {ssh / 'known_hosts'}\n")
        self.ssh_config = ssh / "config"
        self.env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                    "XDG_DATA_HOME": str(home / ".local/share"),
                    "XDG_STATE_HOME": str(home / ".local/state"),
                    "XDG_CACHE_HOME": str(home / ".cache"), "GIT_CONFIG_NOSYSTEM": "1"}
        for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "SSH_AUTH_SOCK"):
            self.env.pop(name, None)
        self.wb_env = {**self.env, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
        self.wb_env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.root = tmp / self.name

    def workbench(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh([WORKBENCH, "--batch", *args], self.wb_env, cwd=self.root, check=check)

    def make(self, envs: tuple[str, ...] = ("local", "staging", "prod")) -> None:
        """Create the project and deploy it to ``envs``."""
        sh([WORKBENCH, "--batch", "new", self.name], self.wb_env, cwd=self.tmp)
        for name in self.endpoints:
            self.workbench("new", "-e", name, "--template", "static")
        file = self.root / "workbench.yaml"
        text = file.read_text().replace("build_args: {}",
                                        f'build_args: {{BASE_IMAGE: "{BASE_IMAGE}"}}', 1)
        head, _, _ = text.partition("environments:")
        blocks = {
            "local": "",
            "staging": f"    hosts: [root@{HOST}:{PORTS['staging']}]\n",
            "prod": f"    hosts: [{{host: 'root@{HOST}:{PORTS['prod']}', docker_socket: "
                    f"{HOST2_SOCKET}}}]\n",
        }
        text = head + "environments:\n" + "".join(
            f"  {env}:\n{blocks[env]}    proxy_port: {free_port()}\n    proxy_bind: 127.0.0.1\n"
            f"    proxy_image: {BASE_IMAGE}\n" for env in ("local", "staging", "prod"))
        file.write_text(text)
        for env in envs:
            self.workbench("deploy", "--env", env)

    def clean(self) -> None:
        """Remove what the fleet made on both engines, and its state roots."""
        for socket_path, state in (("/var/run/docker.sock", Path("/var/lib/workbench")),
                                   (HOST2_SOCKET, HOST2_STATE)):
            docker = [DOCKER, "-H", f"unix://{socket_path}"]
            label = f"label=dev.workbench.project={self.name}"
            for kind, ls in (("container", ["ps", "-aq"]), ("volume", ["volume", "ls", "-q"]),
                             ("network", ["network", "ls", "-q"]),
                             ("image", ["images", "-q"])):
                ids = sh([*docker, *ls, "--filter", label], self.env, check=False).stdout.split()
                if not ids:
                    continue
                remove = {"container": ["rm", "-f"], "volume": ["volume", "rm", "-f"],
                          "network": ["network", "rm"], "image": ["rmi", "-f"]}[kind]
                sh([*docker, *remove, *ids], self.env, check=False)
            shutil.rmtree(state / self.name, ignore_errors=True)


def _exit_on_signal(number: int, _frame: object) -> None:
    raise SystemExit(128 + number)


def compare(what: str, envs: tuple[str, ...], ours: Callable[[Fleet], float],
            theirs: Callable[[Fleet], float], baseline: str, goal_ratio: float,
            goal_seconds: float, doc: str) -> None:
    """The bench's whole run: make a fleet deployed to ``envs``, time ``ours`` (once first to
    fill the bytecode cache and check it) and ``theirs`` alternately, print the medians, the
    ratio and the goals, and remove the fleet."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for number in (signal.SIGTERM, signal.SIGHUP):  # run the finally below: remove the fleet
        signal.signal(number, _exit_on_signal)
    with tempfile.TemporaryDirectory(prefix=f"wb-bench-{what}-") as tmp:
        fleet = Fleet(Path(tmp), args.endpoints)
        try:
            print(f"deploying {args.endpoints} endpoints to {', '.join(envs)} ...", flush=True)
            fleet.make(envs)
            ours(fleet)
            mine, peer = [], []
            for _ in range(args.repeat):
                mine.append(ours(fleet))
                peer.append(theirs(fleet))
        finally:
            fleet.clean()
    wb, base = statistics.median(mine), statistics.median(peer)
    ratio = wb / base
    print(f"{what} of {args.endpoints} endpoints x {len(envs)} environments, "
          f"median of {args.repeat}:")
    print(f"  workbench {what}: {wb:.3f} s")
    print(f"  {baseline}: {base:.3f} s")
    print(f"  ratio: {ratio:.2f}x (goal <= {goal_ratio}x)  absolute: {wb:.3f} s "
          f"(goal < {goal_seconds:g} s)")
    if ratio > goal_ratio or wb >= goal_seconds:
        print("  GOAL MISSED")
