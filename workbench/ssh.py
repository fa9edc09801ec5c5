"""SSH to the hosts of an environment (asyncssh); the Docker engine reached through it is in
:mod:`workbench.tunnel`.

::

    connect(host, env)            an SSH connection; the host key is checked against known_hosts
    host_key(host)                the key the server offers, with its fingerprint
    trust(host, replace, env)     record that key in known_hosts

Settings come from the Host (workbench.yaml) first, then ``~/.ssh/config`` (HostName, Port,
User, IdentityFile, UserKnownHostsFile, HostKeyAlias, ProxyJump...), then asyncssh's defaults
(the agent at SSH_AUTH_SOCK, ``~/.ssh/id_*``). Host keys are always checked, against the
UserKnownHostsFile of the config or ``~/.ssh/known_hosts``; ``UserKnownHostsFile none`` does not
turn checking off. Errors: :class:`Unreachable` (exit 3) when a host cannot be reached, refuses
us or shows an unknown or changed key; :class:`BadInput` (exit 2) for unusable SSH settings or a
conflicting ``trust``.

asyncssh is imported inside functions, so commands without SSH never load it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .errors import BadInput, Unreachable, WorkbenchError
from .knownhosts import HostKey, Trusted, fingerprint, known_hosts_name, record
from .model import Host

if TYPE_CHECKING:
    import asyncssh

CONNECT_TIMEOUT = 10.0
"""Seconds to connect, exchange keys and log in, unless ConnectTimeout in ~/.ssh/config says."""
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


# -- where a Host really is -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Target:
    """A Host after ``~/.ssh/config``: where asyncssh connects and which key it expects."""

    spec: str
    """The host as workbench.yaml names it (maybe a config alias)."""
    port_arg: Any
    options: asyncssh.SSHClientConnectionOptions
    known_hosts: tuple[Path, ...]
    """Files checked; :func:`trust` writes to the first."""

    @property
    def host(self) -> str:
        return str(self.options.host)

    @property
    def port(self) -> int:
        return int(self.options.port)

    @property
    def key_name(self) -> str:
        """The known_hosts name of the host's key (HostKeyAlias is used as is, like OpenSSH)."""
        return self.options.host_key_alias or known_hosts_name(self.host, self.port)

    @property
    def timeout(self) -> float:
        return float(self.options.connect_timeout or CONNECT_TIMEOUT)

    @property
    def where(self) -> str:
        """``user@host:port``, after the alias when ~/.ssh/config renamed the host."""
        real = f"{self.options.username}@{self.address}"
        return real if self.spec == self.host else f"{self.spec} ({real})"

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def known(self) -> asyncssh.SSHKnownHosts:
        """Every entry of the known_hosts files that exist."""
        import asyncssh

        known = asyncssh.SSHKnownHosts()
        for path in self.known_hosts:
            try:
                known.load(path.read_text(encoding="utf-8", errors="replace"))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise BadInput(f"cannot read {path} ({exc.strerror})",
                               "check its permissions") from None
            except ValueError as exc:
                raise BadInput(f"{path}: {exc}", "fix or remove that line") from None
        return known

    def known_keys(self, known: asyncssh.SSHKnownHosts, addr: str = "") -> list[Any]:
        """The keys known_hosts trusts for this host, matched the way asyncssh does."""
        import asyncssh

        port = None if self.port == 22 else self.port
        host = self.options.host_key_alias or self.host
        return list(asyncssh.match_known_hosts(known, host, addr, port)[0])


def library() -> ModuleType:
    """asyncssh, imported without its slow search for a liboqs that is not installed.

    On import asyncssh asks ``ctypes.util.find_library`` for ``oqs`` and ``liboqs`` (for the
    sntrup761 key exchange), which on Linux runs ``ldconfig``, ``gcc`` and ``ld`` in
    subprocesses: about 50 ms of every command that uses SSH. The loader's cache (what
    ``ldconfig -p`` prints) and ``LD_LIBRARY_PATH`` answer the same question in a read; when
    they name liboqs, the real search runs.
    """
    if "asyncssh" in sys.modules:
        return sys.modules["asyncssh"]
    import ctypes.util

    search = ctypes.util.find_library
    if sys.platform.startswith("linux") and not _has_liboqs():
        ctypes.util.find_library = lambda name: (  # type: ignore[assignment]
            None if name in ("oqs", "liboqs") else search(name))
    try:
        import asyncssh
    finally:
        ctypes.util.find_library = search
    from .sshwindow import install

    install(asyncssh)  # a slow reader's buffered data counts against the window
    return asyncssh


def _has_liboqs() -> bool:
    try:
        if b"liboqs" in Path("/etc/ld.so.cache").read_bytes():
            return True
    except OSError:
        return True  # no cache to read: let asyncssh search
    folders = [f for f in os.environ.get("LD_LIBRARY_PATH", "").split(":") if f]
    return any(name.startswith("liboqs") for folder in folders if os.path.isdir(folder)
               for name in os.listdir(folder))


async def resolve(host: Host) -> _Target:
    """Apply ~/.ssh/config to ``host``: explicit user and port win over the config's."""
    asyncssh = library()

    name = host.host.strip("[]")
    # Host cannot tell an absent port from ':22', so 22 lets ~/.ssh/config decide.
    port_arg: Any = host.port if host.port not in (None, 22) else ()
    try:
        options = await asyncssh.SSHClientConnectionOptions.construct(
            config=(), host=name, port=port_arg, username=host.user or ())
    except (asyncssh.Error, ValueError, OSError) as exc:
        raise BadInput(f"cannot use the SSH settings for {host.spec} ({reason_of(exc)})",
                       "check ~/.ssh/config and the key files it names") from None
    files = options.known_hosts if isinstance(options.known_hosts, list) else []
    paths = tuple(Path(str(f)).expanduser() for f in files) or (
        Path(DEFAULT_KNOWN_HOSTS).expanduser(),)
    return _Target(spec=name, port_arg=port_arg, options=options, known_hosts=paths)


_GCM = (b"aes128-gcm@openssh.com", b"aes256-gcm@openssh.com")


def _ciphers(options: asyncssh.SSHClientConnectionOptions) -> dict[str, Any]:
    """asyncssh's ciphers with AES-GCM first, unless ~/.ssh/config names its own ``Ciphers``.

    Both are AEAD ciphers that OpenSSH offers by default; asyncssh's chacha20-poly1305 builds
    three cipher objects per packet in Python (~6 times the CPU of AES-GCM per packet), and a
    deploy sends thousands of packets through the docker socket's tunnel.
    """
    if options.config.get("Ciphers", ()):
        return {}
    algs: Sequence[bytes] = options.encryption_algs
    first = [alg for alg in _GCM if alg in algs]
    return {"encryption_algs": [a.decode() for a in first + [a for a in algs if a not in first]]}


def _socket(options: asyncssh.SSHClientConnectionOptions) -> dict[str, Any]:
    """The TCP connection with one send per loop turn (:mod:`workbench.sshsocket`), unless
    ~/.ssh/config routes the host through a ``ProxyJump`` or ``ProxyCommand``."""
    if options.tunnel or options.proxy_command :
        return {}
    from .sshsocket import Direct

    return {"tunnel": Direct()}


# -- connecting -------------------------------------------------------------------------------
async def connect(host: Host, env: str | None = None) -> asyncssh.SSHClientConnection:
    """An SSH connection to ``host`` whose host key known_hosts vouches for.

    ``env`` names the environment in the fix of an unknown or changed key.
    """
    target = await resolve(host)
    return await connect_target(target, env)


async def connect_target(target: _Target, env: str | None) -> asyncssh.SSHClientConnection:
    import asyncssh

    known = target.known()
    offered: list[tuple[str, Any]] = []

    class Client(asyncssh.SSHClient):
        def validate_host_public_key(self, host: str, addr: str, port: int,
                                     key: asyncssh.SSHKey) -> bool:
            offered.append((addr, key))  # not in known_hosts: remember it, refuse it
            return False

    try:
        async with asyncio.timeout(target.timeout):
            return await asyncssh.connect(target.spec, target.port_arg, options=target.options,
                                          **_ciphers(target.options), **_socket(target.options),
                                          known_hosts=known, client_factory=Client)
    except asyncssh.HostKeyNotVerifiable as exc:
        if not offered:
            raise Unreachable(f"host key of {target.address} was refused ({exc.reason})",
                              f"check {target.known_hosts[0]} for @revoked or "
                              "@cert-authority lines") from None
        addr, key = offered[-1]
        raise _key_problem(target, _host_key(key), target.known_keys(known, addr),
                           env) from None
    except asyncssh.KeyExchangeFailed as exc:
        trusted = target.known_keys(known)
        if not trusted:
            raise _unreachable(exc, target) from None
        # known_hosts only holds key types the server no longer offers: a changed key too
        key = await _fetch_key(target, ())
        if str(key) in _fingerprints(trusted):
            raise _unreachable(exc, target) from None
        raise _key_problem(target, key, trusted, env) from None
    except Exception as exc:
        raise _unreachable(exc, target) from None


def _key_problem(target: _Target, key: HostKey, trusted: list[Any],
                 env: str | None) -> Unreachable:
    where = f"host key of {target.address}"
    if not trusted:
        return Unreachable(f"{where} is not known ({key})",
                           f"check the fingerprint and run 'workbench --batch trust "
                           f"{env or 'ENV'}'")
    old = ", ".join(_fingerprints(trusted))
    files = str(target.known_hosts[0]) if len(target.known_hosts) == 1 else "known_hosts"
    return Unreachable(f"{where} has CHANGED: the server offers {key}, {files} expects {old}",
                       "check the new key with the server's admin, then run 'workbench --batch "
                       f"trust {env or 'ENV'} --replace'")


def _unreachable(exc: BaseException, target: _Target) -> WorkbenchError:
    """One line for a failed SSH connection."""
    import asyncssh

    address, user = target.address, target.options.username
    if isinstance(exc, WorkbenchError):
        return exc
    if isinstance(exc, asyncssh.PermissionDenied):
        return Unreachable(f"{user}@{address} refused our SSH keys",
                           f"add your public key to ~{user}/.ssh/authorized_keys there, load "
                           "it into ssh-agent, or set IdentityFile for it in ~/.ssh/config")
    if isinstance(exc, ConnectionRefusedError):
        return Unreachable(f"{address} refused the connection (nothing listens on port "
                           f"{target.port})", "check the host and port, and that sshd runs there")
    if isinstance(exc, socket.gaierror):
        return Unreachable(f"cannot resolve the host name '{target.host}' ({exc.strerror})",
                           "check its spelling, or add a Host entry with HostName to "
                           "~/.ssh/config")
    if isinstance(exc, TimeoutError):
        return Unreachable(f"no SSH answer from {address} within {target.timeout:g} s",
                           "check the address, the port and the firewalls on the way")
    if isinstance(exc, OSError):
        return Unreachable(f"cannot reach {address} ({exc.strerror or exc})",
                           "check the address, the port and the network")
    if isinstance(exc, asyncssh.Error):
        return Unreachable(f"SSH to {user}@{address} failed ({reason_of(exc)})",
                           "check that sshd runs there and accepts your key")
    raise exc


def reason_of(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc) or type(exc).__name__
    return text.splitlines()[0][:200]


# -- host keys --------------------------------------------------------------------------------
def _host_key(key: Any) -> HostKey:
    openssh = " ".join(key.export_public_key("openssh").decode().split()[:2])
    return HostKey(openssh.split()[0], fingerprint(openssh), openssh)


def _fingerprints(keys: list[Any]) -> list[str]:
    return [str(_host_key(k)) for k in keys]


async def _fetch_key(target: _Target, algs: Any) -> HostKey:
    """The key the server offers, preferring ``algs`` (the types known_hosts holds)."""
    import asyncssh

    try:
        async with asyncio.timeout(target.timeout):
            key = await asyncssh.get_server_host_key(
                target.spec, target.port_arg, options=target.options,
                server_host_key_algs=algs)
    except Exception as exc:
        raise _unreachable(exc, target) from None
    if key is None:
        raise Unreachable(f"{target.address} showed no host key", "use OpenSSH's sshd there")
    return _host_key(key)


async def _offered(target: _Target, trusted: list[Any]) -> HostKey:
    """The server's key of a type known_hosts holds (as connect sees it), else its default."""
    import asyncssh

    algs = [alg.decode() for k in trusted for alg in k.sig_algorithms]
    if algs:
        with contextlib.suppress(asyncssh.KeyExchangeFailed):
            return await _fetch_key(target, algs)
    return await _fetch_key(target, ())


async def host_key(host: Host) -> HostKey:
    """The key ``host`` offers, without trusting it."""
    target = await resolve(host)
    return await _offered(target, target.known_keys(target.known()))


async def trust(host: Host, replace: bool = False, env: str | None = None) -> Trusted:
    """Record the server's key of ``host`` in the known_hosts file that :func:`connect` uses.

    A different key known for the host is an error, unless ``replace`` removes it first.
    """
    target = await resolve(host)
    trusted = target.known_keys(target.known())
    key = await _offered(target, trusted)
    path = target.known_hosts[0]
    old = _fingerprints(trusted)
    if str(key) in old:
        return Trusted("already trusted", target.where, key, path)
    if old and not replace:
        raise BadInput(f"known_hosts already holds {', '.join(old)} for {target.address}, "
                       f"but the server offers {key}",
                       "check the new key with the server's admin, then run 'workbench --batch "
                       f"trust {env or 'ENV'} --replace'")
    await asyncio.to_thread(record, path, target.key_name, key.openssh, replace)
    return Trusted("replaced" if old else "trusted", target.where, key, path, tuple(old))
