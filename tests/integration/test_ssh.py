"""workbench.ssh against the real OpenSSH sshd on 127.0.0.1 (from .ci/setup) and its dockerd.

Every test has its own HOME (conftest's isolated_env): ~/.ssh/config and known_hosts are
written here, never read from the real user.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, free_port

from workbench.errors import ExitCode, Unreachable
from workbench.model import LOCAL, Environment, Host
from workbench.ssh import connect, host_key, trust
from workbench.tunnel import environment_engine, remote_engine

pytestmark = pytest.mark.integration

Run = Callable[..., subprocess.CompletedProcess[str]]


# -- helpers ------------------------------------------------------------------------------------
def ssh_dir(home: Path) -> Path:
    folder = home / ".ssh"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def write_config(home: Path, text: str) -> None:
    (ssh_dir(home) / "config").write_text(text)


def use_key(home: Path, key: Path, host: str = "127.0.0.1") -> None:
    """~/.ssh/config: log in to ``host`` with ``key``."""
    write_config(home, f"Host {host}\n  IdentityFile {key}\n  IdentitiesOnly yes\n")


def server_key(target: SSHTarget) -> tuple[str, str]:
    """The sshd's key as ``TYPE BASE64`` and its fingerprint, as ssh-keygen computes it."""
    line = target.known_hosts.read_text().split()
    openssh = f"{line[1]} {line[2]}"
    done = subprocess.run(["ssh-keygen", "-lf", str(target.known_hosts)], capture_output=True,
                          text=True, check=True)
    return openssh, done.stdout.split()[1]


def new_key(folder: Path, name: str = "other") -> Path:
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
                   check=True)
    return path


def fingerprint_of(pub: Path) -> str:
    done = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                          check=True)
    return done.stdout.split()[1]


def host_of(target: SSHTarget, **changes: object) -> Host:
    values: dict[str, object] = {"host": target.host, "user": target.user, "port": target.port,
                                 "docker_socket": target.docker_socket, **changes}
    return Host(**values)  # type: ignore[arg-type]


def trusted(home: Path, target: SSHTarget) -> None:
    """~/.ssh/known_hosts holds the sshd's key."""
    (ssh_dir(home) / "known_hosts").write_text(target.known_hosts.read_text())


@pytest.fixture
def staging(run_workbench: Run, tmp_path: Path, ssh_target: SSHTarget) -> Path:
    """A project with a `staging` environment on the real sshd."""
    done = run_workbench("--batch", "new", "shop", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "shop"
    path = root / "workbench.yaml"
    text = path.read_text()
    local = "  local:\n    proxy_port: 8080\n"
    assert local in text
    path.write_text(text.replace(local, local + f"  staging:\n    hosts: [{ssh_target.spec}]\n"))
    return root


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: "), done.stderr
    return lines[0]


# -- 1. unknown key -------------------------------------------------------------------------------
async def test_unknown_host_key_is_refused_with_its_fingerprint(
        ssh_target: SSHTarget, isolated_env: Path) -> None:
    use_key(isolated_env, ssh_target.key)
    _, fp = server_key(ssh_target)
    with pytest.raises(Unreachable) as caught:
        await connect(host_of(ssh_target), "staging")
    err = caught.value
    assert err.exit_code == ExitCode.UNREACHABLE
    assert err.line == (f"host key of 127.0.0.1:{ssh_target.port} is not known (ssh-ed25519 "
                        f"{fp}); check the fingerprint and run 'workbench --batch trust staging'")
    assert not (isolated_env / ".ssh" / "known_hosts").exists()
    assert await host_key(host_of(ssh_target)) == ("ssh-ed25519", fp, server_key(ssh_target)[0])
    assert not (isolated_env / ".ssh" / "known_hosts").exists()


# -- 2. trust ---------------------------------------------------------------------------------
async def test_trust_records_the_key_then_connect_works(
        run_workbench: Run, staging: Path, ssh_target: SSHTarget, isolated_env: Path) -> None:
    (isolated_env / ".ssh").mkdir(mode=0o755)  # an existing folder keeps its mode
    use_key(isolated_env, ssh_target.key)
    openssh, fp = server_key(ssh_target)
    done = run_workbench("--batch", "trust", "staging", cwd=staging)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"trusted root@127.0.0.1:{ssh_target.port} ssh-ed25519 {fp}\n"
    known = isolated_env / ".ssh" / "known_hosts"
    assert known.read_text() == f"[127.0.0.1]:{ssh_target.port} {openssh}\n"
    assert stat.S_IMODE(known.stat().st_mode) == 0o600

    conn = await connect(host_of(ssh_target), "staging")
    async with conn:
        result = await conn.run("echo hello", check=True)
        assert result.stdout == "hello\n"

    done = run_workbench("--batch", "trust", "staging", cwd=staging)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"already trusted root@127.0.0.1:{ssh_target.port} ssh-ed25519 {fp}\n"
    done = run_workbench("--batch", "trust", "staging", "--json", cwd=staging)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "host": ssh_target.spec, "status": "already trusted",
        "where": f"root@127.0.0.1:{ssh_target.port}", "key_type": "ssh-ed25519",
        "fingerprint": fp, "known_hosts": str(known), "old": []}
    assert known.read_text() == f"[127.0.0.1]:{ssh_target.port} {openssh}\n"


async def test_trust_creates_a_private_ssh_folder(ssh_target: SSHTarget,
                                                  isolated_env: Path) -> None:
    assert not (isolated_env / ".ssh").exists()
    done = await trust(host_of(ssh_target), env="staging")
    assert done.status == "trusted"
    assert stat.S_IMODE((isolated_env / ".ssh").stat().st_mode) == 0o700
    assert stat.S_IMODE((isolated_env / ".ssh" / "known_hosts").stat().st_mode) == 0o600


# -- 3. changed key ---------------------------------------------------------------------------
async def test_changed_key_is_refused_and_replaced_only_on_request(
        run_workbench: Run, staging: Path, ssh_target: SSHTarget, isolated_env: Path,
        tmp_path: Path) -> None:
    use_key(isolated_env, ssh_target.key)
    openssh, fp = server_key(ssh_target)
    impostor = new_key(tmp_path, "impostor")
    impostor_line = " ".join((tmp_path / "impostor.pub").read_text().split()[:2])
    impostor_fp = fingerprint_of(tmp_path / "impostor.pub")
    known = isolated_env / ".ssh" / "known_hosts"
    other = f"other.example.com {impostor_line}\n"
    before = f"{other}[127.0.0.1]:{ssh_target.port} {impostor_line}\n"
    known.write_text(before)
    assert impostor.exists()

    with pytest.raises(Unreachable) as caught:
        await connect(host_of(ssh_target), "staging")
    line = caught.value.line
    assert "CHANGED" in line and fp in line and impostor_fp in line, line
    assert line.endswith("run 'workbench --batch trust staging --replace'"), line

    err = one_line_error(run_workbench("--batch", "trust", "staging", cwd=staging),
                         ExitCode.BAD_INPUT)
    assert fp in err and impostor_fp in err and "--replace" in err, err
    assert known.read_text() == before

    done = run_workbench("--batch", "trust", "staging", "--replace", cwd=staging)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"replaced root@127.0.0.1:{ssh_target.port} ssh-ed25519 {fp} "
                           f"(was ssh-ed25519 {impostor_fp})\n")
    assert known.read_text() == f"{other}[127.0.0.1]:{ssh_target.port} {openssh}\n"
    conn = await connect(host_of(ssh_target), "staging")
    conn.close()
    await conn.wait_closed()


# -- 4. the engine through the tunnel ---------------------------------------------------------
async def test_remote_engine_is_the_docker_api_over_ssh(
        ssh_target: SSHTarget, isolated_env: Path, docker_client: docker.DockerClient) -> None:
    use_key(isolated_env, ssh_target.key)
    trusted(isolated_env, ssh_target)
    local_version = docker_client.version()
    ctx = remote_engine(host_of(ssh_target), "staging")
    async with ctx as engine:
        assert engine.where == f"root@127.0.0.1:{ssh_target.port}"
        assert ctx.socket is not None
        folder = Path(ctx.socket).parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_ISSOCK(Path(ctx.socket).stat().st_mode)
        assert await asyncio.to_thread(engine.client.ping) is True
        assert await asyncio.to_thread(engine.client.version) == local_version
        listed = await asyncio.to_thread(engine.client.containers.list, all=True,
                                         filters={"label": "dev.workbench.test=test_ssh"})
        assert listed == []
        # sparse: no inspect of each one, which other tests' containers can leave meanwhile
        assert isinstance(await asyncio.to_thread(engine.client.containers.list, all=True,
                                                  sparse=True), list)
        # several requests at once share the tunnel
        infos = await asyncio.gather(*(asyncio.to_thread(engine.client.info) for _ in range(8)))
        assert {i["ID"] for i in infos} == {docker_client.info()["ID"]}
        assert ctx.conn is not None
        result = await ctx.conn.run("echo over-the-same-connection", check=True)
        assert result.stdout == "over-the-same-connection\n"
    assert not folder.exists()
    assert ctx.conn is None and ctx.engine is None


async def test_a_dead_docker_socket_is_one_line_and_leaves_nothing(
        ssh_target: SSHTarget, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_key(isolated_env, ssh_target.key)
    trusted(isolated_env, ssh_target)
    ctx = remote_engine(host_of(ssh_target, docker_socket="/nonexistent/docker.sock"), "staging")
    # its socket folder goes in a temporary folder of this test's own (other tests, maybe
    # running at the same time, make theirs in /tmp)
    private = Path(tempfile.mkdtemp(prefix="wbt-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    with pytest.raises(Unreachable) as caught:
        async with ctx:
            pass
    assert caught.value.line == (
        f"docker socket /nonexistent/docker.sock on root@127.0.0.1:{ssh_target.port} does not "
        "answer (sshd cannot open it: it is missing, or root may not use it); check that Docker "
        "runs there and that root may use it, or set docker_socket for this host in "
        "workbench.yaml")
    assert list(private.iterdir()) == []
    private.rmdir()
    assert ctx.conn is None


async def test_environment_engine_is_one_path_for_local_and_remote(
        ssh_target: SSHTarget, isolated_env: Path, docker_client: docker.DockerClient) -> None:
    use_key(isolated_env, ssh_target.key)
    trusted(isolated_env, ssh_target)
    local = Environment(name=LOCAL)
    staging = Environment(name="staging", hosts=(host_of(ssh_target),))
    versions = []
    for env in (local, staging):
        ctx = environment_engine(env)
        async with ctx as engine:
            versions.append(await asyncio.to_thread(engine.client.version))
            assert (ctx.conn is None) == env.is_local
    assert versions[0] == versions[1] == docker_client.version()


# -- 5. ~/.ssh/config -------------------------------------------------------------------------
async def test_ssh_config_alias_is_honoured(ssh_target: SSHTarget, isolated_env: Path,
                                            tmp_path: Path) -> None:
    known = tmp_path / "mine" / "known_hosts"
    alias = (f"  HostName {ssh_target.host}\n  IdentityFile {ssh_target.key}\n"
             f"  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n")
    write_config(isolated_env, f"Host wbtarget\n  Port {ssh_target.port}\n  User root\n{alias}"
                 f"Host wrongcfg\n  Port 1\n  User nobody\n{alias}")
    openssh, fp = server_key(ssh_target)

    with pytest.raises(Unreachable) as caught:  # the alias's known_hosts is checked
        await connect(Host("wbtarget"), "staging")
    assert f"host key of 127.0.0.1:{ssh_target.port} is not known" in caught.value.line

    done = await trust(Host("wbtarget"), env="staging")
    assert done.line == (f"trusted wbtarget (root@127.0.0.1:{ssh_target.port}) ssh-ed25519 "
                         f"{fp}")
    assert done.known_hosts == known
    assert known.read_text() == f"[127.0.0.1]:{ssh_target.port} {openssh}\n"
    assert not (isolated_env / ".ssh" / "known_hosts").exists()

    async with await connect(Host("wbtarget"), "staging") as conn:
        assert (await conn.run("whoami", check=True)).stdout == "root\n"
    # explicit user and port (workbench.yaml) win over the config's
    async with await connect(Host("wrongcfg", user="root", port=ssh_target.port)) as conn:
        assert (await conn.run("whoami", check=True)).stdout == "root\n"
    with pytest.raises(Unreachable, match=r"127\.0\.0\.1:1 refused the connection"):
        await connect(Host("wrongcfg", user="root"))


# -- 6. refusals ------------------------------------------------------------------------------
async def test_auth_refused_is_one_line(ssh_target: SSHTarget, isolated_env: Path,
                                        tmp_path: Path) -> None:
    use_key(isolated_env, new_key(tmp_path, "stranger"))
    trusted(isolated_env, ssh_target)
    with pytest.raises(Unreachable) as caught:
        await connect(host_of(ssh_target), "staging")
    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert caught.value.line == (
        f"root@127.0.0.1:{ssh_target.port} refused our SSH keys; add your public key to "
        "~root/.ssh/authorized_keys there, load it into ssh-agent, or set IdentityFile for it "
        "in ~/.ssh/config")


async def test_connection_refused_is_one_line(run_workbench: Run, staging: Path,
                                              ssh_target: SSHTarget) -> None:
    port = free_port()
    path = staging / "workbench.yaml"
    path.write_text(path.read_text().replace(ssh_target.spec, f"root@127.0.0.1:{port}"))
    err = one_line_error(run_workbench("--batch", "trust", "staging", cwd=staging),
                         ExitCode.UNREACHABLE)
    assert f"127.0.0.1:{port} refused the connection" in err, err
    assert not Path(os.environ["HOME"], ".ssh", "known_hosts").exists()
