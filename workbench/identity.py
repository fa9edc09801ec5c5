"""Who a process is, in terms another process can check later: is that holder still alive?

A lock names its holder by more than its host name and pid, which can both repeat (cloned
machines share names; pids are reused, and after a reboot any pid may be taken again)::

    machine   /etc/machine-id: the installation
    boot      /proc/sys/kernel/random/boot_id (Linux) or kern.bootsessionuuid (macOS): this boot
    pidns     the pid namespace (/proc/self/ns/pid): containers on one kernel share the boot id
    start     when the process started (/proc/PID/stat, field 22): tells a reused pid apart

:func:`judge` says a holder is gone only when that is certain: same boot and pid namespace and
its process is not running (or another process has its pid), or same machine and host name but
another boot. Otherwise only the lock's expiry tells.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Here:
    """This machine, boot and pid namespace ("" where the system does not tell)."""

    host: str
    machine: str
    boot: str
    pidns: str

    @staticmethod
    @functools.cache
    def this() -> Here:
        machine = _first_line("/etc/machine-id", "/var/lib/dbus/machine-id")
        return Here(socket.gethostname(), machine, _boot_id(), _pid_namespace())


def judge(host: str, machine: str, boot: str, pidns: str, pid: int, start: str,
          here: Here) -> str | None:
    """Why the process ``pid`` (with those identity fields) is certainly gone, or None."""
    if boot and boot == here.boot:
        if pidns == here.pidns and not running(pid, start):
            return "its process is gone"
        return None
    if boot and machine and machine == here.machine and host == here.host:
        return "its machine restarted since"
    return None


def running(pid: int, start: str = "") -> bool:
    """Whether ``pid`` runs here and, when ``start`` is known, is the process that started then."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    return not start or process_start(pid) in ("", start)


def process_start(pid: int) -> str:
    """When ``pid`` started, in clock ticks since boot (Linux), or ""."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _first_line(*paths: str) -> str:
    for path in paths:
        try:
            line = Path(path).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if line:
            return line
    return ""


def _boot_id() -> str:
    found = _first_line("/proc/sys/kernel/random/boot_id")
    if found or sys.platform != "darwin":
        return found
    try:
        done = subprocess.run(["sysctl", "-n", "kern.bootsessionuuid"], capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""
