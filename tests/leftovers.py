"""What a test's process may have left behind: the watcher's threads, and its sockets (TCP
connections to given ports, unix sockets of forwarded docker sockets), read from /proc."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def sockets(ports: set[int]) -> dict[str, str]:
    """This process's TCP connections to ``ports`` on this machine, and its unix sockets of
    forwarded docker sockets (``wb-ssh-*`` folders): inode -> what it is."""
    inodes = _socket_inodes()
    found = {}
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        port = int(parts[2].rpartition(":")[2], 16)
        if parts[9] in inodes and port in ports:
            found[parts[9]] = f"tcp to {port} (state {parts[3]})"
    for line in Path("/proc/self/net/unix").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 8 and parts[6] in inodes and "/wb-ssh-" in parts[7]:
            found[parts[6]] = f"unix {parts[7]}"
    return found


def watcher_threads() -> list[str]:
    """The names of workbench's own threads still running (event readers, the stop waiter)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("workbench")]


def listening(port: int) -> bool:
    """Whether something listens on ``port`` (IPv4, from /proc: no connection is made)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A" and int(parts[1].rpartition(":")[2], 16) == port:
            return True
    return False
