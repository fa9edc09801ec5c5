"""The pure parts of workbench.ssh: known_hosts names and lines, fingerprints, error lines."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import asyncssh
import pytest

from workbench import cli
from workbench.errors import ExitCode, Unreachable
from workbench.knownhosts import (
    HostKey,
    Trusted,
    fingerprint,
    known_hosts_name,
    names_host,
    without_host,
)
from workbench.model import Host
from workbench.ssh import _key_problem, _Target, _unreachable, resolve

# made with ssh-keygen; fingerprints as `ssh-keygen -lf` prints them
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBeyZ/YQaf6T2DAnDxyzw1N8LK1qCaILAVHlMxdzbyqT"
ED25519_FP = "SHA256:cq73CSG7l32+V/urZzXlju18fFNhH08MrKFctzflVg0"
RSA = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC92KavIVL5DYPZzUm8/d4hgu3Xiecvc5EHRbyJDdbe+ITIMSW"
       "vB8/zjgARg8O/T1gLXaTvORqsARCdqXD5wpKMaZYJNT4evfqfE64sedZuyl2fJ22CvgG8ujML3HjBcemdSvfM2x"
       "ZjB96AlBSFielS3nPnpgM89gtb97BIXaf9Qw==")
RSA_FP = "SHA256:C4cPlxg/ebqDvycDT6BpOEj2Dc1Tuj0BdJaBVi8UnyU"
# `ssh-keygen -H` of "[127.0.0.1]:42022 <ED25519>"
HASHED = "|1|l9jrJlWqp/5ArzCLQYvHlArn4kQ=|acVjrOc7qsCb/9hwIzAa1WeWMZs="


@pytest.mark.parametrize(("host", "port", "name"), [
    ("example.com", 22, "example.com"),
    ("example.com", None, "example.com"),
    ("10.0.0.5", 2222, "[10.0.0.5]:2222"),
    ("127.0.0.1", 42022, "[127.0.0.1]:42022"),
    ("[::1]", 22, "::1"),
    ("[::1]", 2222, "[::1]:2222"),
])
def test_known_hosts_name(host: str, port: int | None, name: str) -> None:
    assert known_hosts_name(host, port) == name


@pytest.mark.parametrize(("line", "expected"), [
    (ED25519, ED25519_FP),
    (ED25519 + " with a comment", ED25519_FP),
    (RSA, RSA_FP),
])
def test_fingerprint_is_the_one_ssh_keygen_prints(line: str, expected: str) -> None:
    assert fingerprint(line) == expected


def test_host_key_and_trusted_lines() -> None:
    key = HostKey("ssh-ed25519", ED25519_FP, ED25519)
    assert str(key) == f"ssh-ed25519 {ED25519_FP}"
    where = "root@127.0.0.1:42022"
    assert Trusted("trusted", where, key, Path("kh")).line == f"trusted {where} {key}"
    assert Trusted("already trusted", where, key, Path("kh")).line.startswith("already trusted ")
    assert Trusted("replaced", where, key, Path("kh"), (f"ssh-rsa {RSA_FP}",)).line == (
        f"replaced {where} {key} (was ssh-rsa {RSA_FP})")


# -- replacing lines ----------------------------------------------------------------------------
def test_without_host_removes_only_that_name() -> None:
    text = (
        "# my hosts\n"
        f"[127.0.0.1]:42022 {RSA}\n"
        f"127.0.0.1 {ED25519}\n"
        f"[127.0.0.1]:2222 {ED25519}\n"
        f"*.example.com {RSA}\n"
        f"@revoked [127.0.0.1]:42022 {RSA}\n"
        f"[127.0.0.1]:42022 {ED25519}\n"
    )
    new, removed = without_host(text, "[127.0.0.1]:42022")
    assert removed == 2
    assert new == (
        "# my hosts\n"
        f"127.0.0.1 {ED25519}\n"
        f"[127.0.0.1]:2222 {ED25519}\n"
        f"*.example.com {RSA}\n"
        f"@revoked [127.0.0.1]:42022 {RSA}\n"
    )


def test_without_host_keeps_the_other_names_of_a_line() -> None:
    text = f"web1,Web2.example.com,10.0.0.5 {ED25519}\nother {RSA}"
    new, removed = without_host(text, "web2.example.com")
    assert (new, removed) == (f"web1,10.0.0.5 {ED25519}\nother {RSA}", 1)
    assert without_host(new, "absent") == (new, 0)


def test_without_host_removes_hashed_entries() -> None:
    assert names_host(HASHED, "[127.0.0.1]:42022")
    assert not names_host(HASHED, "127.0.0.1")
    assert not names_host("|1|broken", "x")
    text = f"{HASHED} {ED25519}\nkeep {RSA}\n"
    assert without_host(text, "[127.0.0.1]:42022") == (f"keep {RSA}\n", 1)
    assert without_host(text, "[127.0.0.1]:2222") == (text, 0)


# -- one-line errors ----------------------------------------------------------------------------
def target(host: str = "10.0.0.5", port: int = 2222, spec: str | None = None) -> _Target:
    options = SimpleNamespace(host=host, port=port, username="deploy", host_key_alias=None,
                              connect_timeout=None)
    return _Target(spec=spec or host, port_arg=port, options=options,  # type: ignore[arg-type]
                   known_hosts=(Path("/home/u/.ssh/known_hosts"),))


@pytest.mark.parametrize(("exc", "words"), [
    (asyncssh.PermissionDenied("no"), ["deploy@10.0.0.5:2222 refused our SSH keys",
                                       "authorized_keys", "ssh-agent", "IdentityFile"]),
    (ConnectionRefusedError(111, "Connection refused"), ["10.0.0.5:2222 refused the connection",
                                                         "sshd runs there"]),
    (socket.gaierror(-2, "Name or service not known"), ["cannot resolve the host name '10.0.0.5'",
                                                        "Name or service not known", "HostName"]),
    (TimeoutError(), ["no SSH answer from 10.0.0.5:2222 within 10 s", "firewalls"]),
    (OSError(113, "No route to host"), ["cannot reach 10.0.0.5:2222 (No route to host)"]),
    (asyncssh.ConnectionLost("gone"), ["SSH to deploy@10.0.0.5:2222 failed (gone)"]),
])
def test_connection_failures_are_one_line(exc: BaseException, words: list[str]) -> None:
    err = _unreachable(exc, target())
    assert isinstance(err, Unreachable) and err.exit_code == ExitCode.UNREACHABLE
    assert "\n" not in err.line and ";" in err.line
    for word in words:
        assert word in err.line, err.line


def test_a_bug_is_not_turned_into_unreachable() -> None:
    with pytest.raises(KeyError):
        raise _unreachable(KeyError("bug"), target())


def test_unknown_and_changed_keys_name_fingerprints_and_the_fix() -> None:
    offered = HostKey("ssh-ed25519", ED25519_FP, ED25519)
    err = _key_problem(target(), offered, [], "staging")
    assert err.line == (f"host key of 10.0.0.5:2222 is not known (ssh-ed25519 {ED25519_FP}); "
                        "check the fingerprint and run 'workbench --batch trust staging'")
    err = _key_problem(target("::1"), offered, [asyncssh.import_public_key(RSA)], None)
    assert err.line.startswith(f"host key of [::1]:2222 has CHANGED: the server offers "
                               f"ssh-ed25519 {ED25519_FP}, /home/u/.ssh/known_hosts expects "
                               f"ssh-rsa {RSA_FP};")
    assert err.line.endswith("'workbench --batch trust ENV --replace'")


def test_where_names_the_alias_and_the_real_host() -> None:
    assert target().where == "deploy@10.0.0.5:2222"
    assert target(spec="wbtarget").where == "wbtarget (deploy@10.0.0.5:2222)"
    assert target().key_name == "[10.0.0.5]:2222"
    assert target(port=22).key_name == "10.0.0.5"


# -- ~/.ssh/config (read only, nothing connects) ------------------------------------------------
async def test_explicit_user_and_port_win_over_ssh_config(isolated_env: Path) -> None:
    ssh = isolated_env / ".ssh"
    ssh.mkdir()
    (ssh / "config").write_text("Host web\n  HostName 10.9.8.7\n  Port 2200\n  User cfg\n"
                                "  UserKnownHostsFile ~/mine/kh /etc/other_kh\n"
                                "Host plain\n  UserKnownHostsFile none\n")
    resolved = await resolve(Host("web"))
    assert (resolved.host, resolved.port, resolved.options.username) == ("10.9.8.7", 2200, "cfg")
    assert resolved.known_hosts == (isolated_env / "mine/kh", Path("/etc/other_kh"))
    assert resolved.key_name == "[10.9.8.7]:2200"
    resolved = await resolve(Host("web", user="deploy", port=2222))
    assert (resolved.host, resolved.port, resolved.options.username) == (
        "10.9.8.7", 2222, "deploy")
    # 'none' never turns checking off: the default file is used
    resolved = await resolve(Host("plain"))
    assert resolved.known_hosts == (isolated_env / ".ssh/known_hosts",)


# -- the batch command without a network ------------------------------------------------------
def test_trust_refuses_local_and_unknown_environments(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "workbench.yaml").write_text(
        "project: shop\nendpoints: []\nmodels: []\nutilities: []\n"
        "environments:\n  staging:\n    hosts: [deploy@10.0.0.5]\n")
    assert cli.run(["-C", str(tmp_path), "trust", "local"]) == ExitCode.BAD_INPUT
    assert "'local' is the local Docker engine" in capsys.readouterr().err
    assert cli.run(["-C", str(tmp_path), "trust", "stagin"]) == ExitCode.BAD_INPUT
    assert "did you mean 'staging'" in capsys.readouterr().err


def test_importing_workbench_ssh_loads_neither_asyncssh_nor_docker() -> None:
    code = ("import sys, workbench.ssh, workbench.cli; "
            "print(sorted(m for m in ('asyncssh', 'docker') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
