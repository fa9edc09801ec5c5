"""Who owns a throwaway Docker object (a test run's container, volume, network), as a label,
and whether that owner is certainly gone.

The test loop removes what it started when it ends, even on Ctrl-C; a SIGKILLed run cannot.
So each object carries ``dev.workbench.owner``: the starting process as
:mod:`workbench.identity` names it (host, machine, boot, pid namespace, pid, start time).
:func:`gone` says the owner is gone only when that is certain (:func:`identity.judge`): a run
still going, one started on another machine (a shared ``DOCKER_HOST``), or an object made
before owners were recorded is never judged gone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from .engine import LABEL
from .identity import Here, judge, process_start

OWNER = f"{LABEL}owner"
"""The label naming the process that made a throwaway object (a JSON object)."""


def owner_labels() -> dict[str, str]:
    """The owner label for objects this process makes."""
    here = Here.this()
    pid = os.getpid()
    return {OWNER: json.dumps({"host": here.host, "machine": here.machine, "boot": here.boot,
                               "pidns": here.pidns, "pid": pid, "start": process_start(pid)},
                              sort_keys=True, separators=(",", ":"))}


def gone(labels: Mapping[str, str], here: Here) -> str | None:
    """Why the owner named in ``labels`` is certainly gone ("its process is gone"), or None
    (alive, elsewhere, or not named)."""
    try:
        owner = json.loads(labels.get(OWNER, ""))
        fields = [str(owner[k]) for k in ("host", "machine", "boot", "pidns", "start")]
        pid = int(owner["pid"])
    except (ValueError, TypeError, KeyError):
        return None
    host, machine, boot, pidns, start = fields
    return judge(host, machine, boot, pidns, pid, start, here)


def describe(labels: Mapping[str, str]) -> str:
    """The owner as a person reads it: ``pid 123 on host``, or "" when not named."""
    try:
        owner = json.loads(labels.get(OWNER, ""))
        return f"pid {int(owner['pid'])} on {owner['host']}"
    except (ValueError, TypeError, KeyError):
        return ""
