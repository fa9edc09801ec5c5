"""known_hosts: the names, keys and fingerprints in it, and writing a key to it (pure but for
:func:`record`). :mod:`workbench.ssh` checks keys against these files and records new ones."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple


class HostKey(NamedTuple):
    """A server's public host key."""

    key_type: str
    """e.g. ``ssh-ed25519``"""
    fingerprint: str
    """``SHA256:...``, as ``ssh-keygen -lf`` prints it"""
    openssh: str
    """``TYPE BASE64``: the key as a known_hosts line holds it after the host names"""

    def __str__(self) -> str:
        return f"{self.key_type} {self.fingerprint}"


@dataclass(frozen=True, slots=True)
class Trusted:
    """What :func:`trust` did for one host."""

    status: Literal["trusted", "replaced", "already trusted"]
    where: str
    key: HostKey
    known_hosts: Path
    old: tuple[str, ...] = ()
    """Fingerprints of the keys that were replaced."""

    @property
    def line(self) -> str:
        was = f" (was {', '.join(self.old)})" if self.old else ""
        return f"{self.status} {self.where} {self.key}{was}"

    def __str__(self) -> str:
        return self.line


def known_hosts_name(host: str, port: int | None) -> str:
    """The host as known_hosts names it: ``host`` on port 22, else ``[host]:port``."""
    host = host.strip("[]")
    return host if port in (None, 22) else f"[{host}]:{port}"


def fingerprint(openssh: str) -> str:
    """``SHA256:...`` of a public key given as ``TYPE BASE64 [comment]``."""
    blob = base64.b64decode(openssh.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def without_host(text: str, name: str) -> tuple[str, int]:
    """known_hosts ``text`` with the entries for ``name`` (plain or hashed) removed.

    A line naming other hosts too keeps them; ``@cert-authority``/``@revoked`` lines, wildcard
    patterns and comments stay. Returns the new text and how many entries were removed.
    """
    kept: list[str] = []
    removed = 0
    for line in text.splitlines(keepends=True):
        fields = line.split(None, 1)
        if len(fields) < 2 or fields[0].startswith(("#", "@")):
            kept.append(line)
            continue
        patterns = fields[0].split(",")
        rest = [p for p in patterns if not names_host(p, name)]
        removed += len(patterns) - len(rest)
        if len(rest) == len(patterns):
            kept.append(line)
        elif rest:
            kept.append(line.replace(fields[0], ",".join(rest), 1))
    return "".join(kept), removed


def names_host(pattern: str, name: str) -> bool:
    """Whether one known_hosts host pattern is exactly ``name`` (hashed ``|1|salt|hash`` too)."""
    if pattern.startswith("|1|"):
        try:
            _, _, salt, digest = pattern.split("|")
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except ValueError:
            return False
    return pattern.lower() == name.lower()


def record(path: Path, name: str, openssh: str, replace: bool) -> None:
    """Add ``name openssh`` to known_hosts ``path`` (0600, folder 0700 when created)."""
    path = path.resolve()
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True)
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        text, mode = "", 0o600
    if replace:
        text, _ = without_host(text, name)
    if text and not text.endswith("\n"):
        text += "\n"
    text += f"{name} {openssh}\n"
    fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
