"""The state root on a real server: a deploy user that is not root, and the one-line errors of
a server that cannot keep state (no SFTP, no permission, a full disk).

- ``wbdeploy`` (from .ci/setup: group docker, the CI key) deploys through the CI sshd with its
  own ``state_root``, and with none (its home's ``.local/state/workbench/...``).
- A state root it may not write, a server without the SFTP subsystem, and a state root on a
  full file system each end the command with one line naming the host, the path or the
  subsystem, and the fix (exit 3), having changed nothing.

The last two run an sshd of their own, made by the test: ``sshd -i`` (inetd mode) per
connection on a port the test listens on, with the CI host key; for the full disk in a mount
namespace of its own where a tiny tmpfs, filled up, is the state root (nothing else sees it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import docker
import pytest
from helpers import HANG_GUARD, SSHTarget, ci_state_dir, clean, require_part, target_env
from staging import RunWorkbench, Staged, stage

pytestmark = pytest.mark.integration


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: "), done.stderr
    return lines[0].removeprefix("workbench: error: ")


def containers(client: docker.DockerClient, project: str) -> list[str]:
    return [c.name for c in client.containers.list(
        all=True, filters={"label": f"dev.workbench.project={project}"})]


# -- a deploy user that is not root -------------------------------------------------------------
@pytest.fixture
def deploy_user(ssh_target: SSHTarget) -> pwd.struct_passwd:
    name = target_env().get("WB_DEPLOY_USER", "")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        require_part("deploy user", f"WB_DEPLOY_USER={name!r} in target.env is no user here")


@pytest.fixture
def as_deploy_user(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench,
                   base_image: str, ssh_target: SSHTarget, deploy_user: pwd.struct_passwd,
                   docker_client: docker.DockerClient) -> Iterator[Staged]:
    """A staged project whose staging host is the CI sshd, logged in as the deploy user."""
    spec = f"{deploy_user.pw_name}@{ssh_target.host}:{ssh_target.port}"
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target, [spec])
    yield project
    clean(docker_client, project.name, tmp_path / "no-state-root-here")
    home = Path(deploy_user.pw_dir)
    shutil.rmtree(home / ".local" / "state" / "workbench" / project.name, ignore_errors=True)
    shutil.rmtree(home / f"wb-state-{project.name}", ignore_errors=True)


def set_state_root(project: Staged, root: str) -> None:
    with (project.root / "workbench.yaml").open("a") as handle:  # staging is the last block
        handle.write(f"    state_root: {root}\n")


def owned_files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): pwd.getpwuid(p.stat().st_uid).pw_name
            for p in sorted(folder.rglob("*"))}


def test_a_deploy_user_that_is_not_root_deploys_with_its_own_state_root(
        as_deploy_user: Staged, deploy_user: pwd.struct_passwd) -> None:
    project = as_deploy_user
    state = Path(deploy_user.pw_dir) / f"wb-state-{project.name}"
    state.mkdir()
    os.chown(state, deploy_user.pw_uid, deploy_user.pw_gid)
    set_state_root(project, str(state))
    project.edit("endpoints/orders/endpoint.yaml", "secrets: []", "secrets: [API_TOKEN]")
    secrets = project.root / ".workbench" / "secrets" / "staging.env"
    secrets.parent.mkdir(parents=True)
    secrets.write_text("API_TOKEN=t0k3n\n")

    done = project.deploy()
    assert done.returncode == 0, done.stdout + done.stderr
    assert project.get("/orders/health") == (200, '{"status": "ok"}\n')
    assert project.get("/site/")[0] == 200
    files = owned_files(state)
    assert {"releases/orders.jsonl", "releases/site.jsonl", "secrets/orders.env"} <= set(files)
    assert set(files.values()) == {deploy_user.pw_name}
    assert not any(name == "lock" or name.startswith(("lock.", ".lock.")) for name in files)
    assert (state / "secrets" / "orders.env").stat().st_mode & 0o777 == 0o600
    assert [r["outcome"] for r in project.releases("orders")] == ["ok"]
    assert not Path("/var/lib/workbench", project.name).exists()
    status = project.workbench("lock", "status", "--env", "staging")
    assert status.returncode == 0 and "is not locked" in status.stdout, status.stderr


def test_a_deploy_user_without_state_root_keeps_state_in_its_home(
        as_deploy_user: Staged, deploy_user: pwd.struct_passwd) -> None:
    project = as_deploy_user
    done = project.deploy("-e", "site")
    assert done.returncode == 0, done.stdout + done.stderr
    state = Path(deploy_user.pw_dir, ".local/state/workbench", project.name, "staging")
    files = owned_files(state)
    assert "releases/site.jsonl" in files and "lock" not in files
    assert set(files.values()) == {deploy_user.pw_name}
    assert project.get("/site/")[0] == 200


def test_a_state_root_the_user_may_not_write_is_one_line_and_changes_nothing(
        as_deploy_user: Staged, deploy_user: pwd.struct_passwd, ssh_target: SSHTarget,
        docker_client: docker.DockerClient) -> None:
    project = as_deploy_user
    root = f"/var/lib/workbench/{project.name}/staging"  # root's folder, mode 0755
    set_state_root(project, root)
    user = deploy_user.pw_name
    where = f"{user}@{ssh_target.host}:{ssh_target.port}"
    line = one_line_error(project.deploy(), 3)
    assert line == (
        f"{where}: {user} may not create the folder {root} (permission denied); set state_root "
        f"for environment 'staging' in workbench.yaml to a folder {user} can write, or give "
        f"{user} that folder on the host (e.g. sudo install -d -o {user} {root})")
    assert containers(docker_client, project.name) == []
    assert not Path(root).exists()


# -- an sshd of the test's own ------------------------------------------------------------------
class InetdSSHD:
    """Listens on 127.0.0.1 (a free port, listening before it is known) and runs
    ``argv`` (an ``sshd -i`` command) for each connection, on the connection."""

    def __init__(self, argv: Sequence[str], log: Path) -> None:
        self.argv, self.log = list(argv), log
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.children: list[subprocess.Popen[bytes]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed: stop
                return
            with conn, self.log.open("ab") as log:
                self.children.append(subprocess.Popen(self.argv, stdin=conn, stdout=conn,
                                                      stderr=log))

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join()
        for child in self.children:
            if child.poll() is None:
                child.terminate()
            child.wait(timeout=HANG_GUARD)


def sshd_config(folder: Path, sftp: bool) -> Path:
    """The CI sshd's config (keys, users, forwarding), with or without SFTP."""
    ci = ci_state_dir() / "ssh" / "sshd_config"
    if not ci.is_file() or not shutil.which("sshd", path="/usr/sbin:/usr/bin"):
        require_part("OpenSSH sshd", f"{ci} is missing")
    lines = [line for line in ci.read_text().splitlines()
             if not line.startswith(("Port ", "PidFile ", "ListenAddress "))
             and (sftp or not line.startswith("Subsystem "))]
    path = folder / "sshd_config"
    path.write_text("\n".join(lines) + "\n")
    return path


StartSSHD = Callable[..., "InetdSSHD"]
"""``start(argv_prefix, sftp=...)``: an sshd of the test's own."""


@pytest.fixture
def own_sshd(tmp_path: Path, ssh_target: SSHTarget) -> Iterator[StartSSHD]:
    if os.geteuid() != 0:
        require_part("a test sshd", "sshd -i needs root")
    servers: list[InetdSSHD] = []

    def start(argv_prefix: Sequence[str], sftp: bool) -> InetdSSHD:
        folder = tmp_path / f"sshd{len(servers)}"
        folder.mkdir()
        config = sshd_config(folder, sftp)
        server = InetdSSHD([*argv_prefix, "/usr/sbin/sshd", "-i", "-f", str(config),
                            "-E", str(folder / "sshd.log")], folder / "stderr.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def add_host(project: Staged, target: SSHTarget, port: int, state_root: str | None) -> None:
    """Staging's host becomes root@127.0.0.1:PORT (the CI host key, trusted there too)."""
    project.edit("workbench.yaml", f"hosts: [{target.spec}]", f"hosts: [root@127.0.0.1:{port}]")
    if state_root:
        set_state_root(project, state_root)
    key = " ".join(target.known_hosts.read_text().split()[1:3])
    home = Path(os.environ["HOME"])
    with (home / ".ssh" / "known_hosts").open("a") as handle:
        handle.write(f"[127.0.0.1]:{port} {key}\n")


@pytest.fixture
def staged_root(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench,
                base_image: str, ssh_target: SSHTarget,
                docker_client: docker.DockerClient) -> Iterator[Staged]:
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target,
                    [ssh_target.spec])
    yield project
    clean(docker_client, project.name, Path("/var/lib/workbench"))


def test_a_server_without_sftp_is_one_line(staged_root: Staged, own_sshd: StartSSHD,
                                           ssh_target: SSHTarget,
                                           docker_client: docker.DockerClient) -> None:
    server = own_sshd([], sftp=False)
    add_host(staged_root, ssh_target, server.port, None)
    line = one_line_error(staged_root.deploy(), 3)
    assert line == (
        f"root@127.0.0.1:{server.port} offers no SFTP: the server refused its sftp subsystem "
        "(Session request failed); enable SFTP in that host's sshd_config (e.g. 'Subsystem "
        "sftp internal-sftp') and reload sshd")
    assert containers(docker_client, staged_root.name) == []
    line = one_line_error(staged_root.workbench("lock", "status", "--env", "staging"), 3)
    assert "offers no SFTP" in line


def test_a_full_disk_is_one_line(staged_root: Staged, own_sshd: StartSSHD,
                                 ssh_target: SSHTarget, docker_client: docker.DockerClient
                                 ) -> None:
    """The state root (root's default) is on a full file system: SFTP says only 'Failure',
    like for a lock that exists; the lock must not take it for one and ask again forever."""
    if not shutil.which("unshare"):
        require_part("unshare", "util-linux is missing")
    full = Path("/var/lib/workbench", staged_root.name, "staging")
    # each connection's sshd gets a private mount of a 64 KiB tmpfs, filled up, at `full`
    fill = ('mkdir -p "$0" && mount -t tmpfs -o size=64k wb-test-full "$0" && '
            '{ head -c 1048576 /dev/zero > "$0/filler" 2>/dev/null; true; } && exec "$@"')
    server = own_sshd(["unshare", "--mount", "--propagation", "private", "sh", "-c", fill,
                       str(full)], sftp=True)
    add_host(staged_root, ssh_target, server.port, None)
    # a hang test: today's lock asks again forever; ending at all proves it
    done = staged_root.workbench("deploy", "--env", "staging", "--lock-wait", "0",
                                 timeout=HANG_GUARD)
    line = one_line_error(done, 3)
    where = f"root@127.0.0.1:{server.port}"
    assert line == (
        f"{where}: cannot write {full}/lock (the server says 'Failure': its disk may be full or "
        f"read-only); check free space on {where} (df -h {full}), or set state_root for "
        "environment 'staging' in workbench.yaml to another folder")
    assert containers(docker_client, staged_root.name) == []
    assert list(full.iterdir()) == []  # the tmpfs was the sshd's alone
