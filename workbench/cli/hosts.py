"""The batch ``trust`` command: record an environment's SSH host keys."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import BadInput, ExitCode
from .output import Printer


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trust`` to the subcommands."""
    trust = sub.add_parser("trust", parents=[common], help="trust the SSH host keys of an "
                           "environment's hosts (known_hosts)",
                           description="Fetches the host key of every host of ENV and adds it "
                           "to the known_hosts file SSH uses for it (~/.ssh/known_hosts, or "
                           "UserKnownHostsFile in ~/.ssh/config). Check the fingerprints first.")
    trust.add_argument("environment", metavar="ENV", help="an environment with hosts")
    trust.add_argument("--replace", action="store_true", help="replace a different key known "
                       "for a host (after checking the new one with the server's admin)")
    trust.set_defaults(handler=_trust)


def _trust(args: argparse.Namespace, cwd: Path, emit: Printer) -> int:
    import asyncio

    from ..model import find_root, load_project
    from ..ssh import trust

    env = load_project(find_root(cwd)).environment(args.environment)
    if env.is_local:
        raise BadInput("'local' is the local Docker engine: it has no SSH hosts to trust",
                       "name an environment with hosts, e.g. 'workbench --batch trust staging'")
    for host in env.hosts:
        done = asyncio.run(trust(host, replace=args.replace, env=env.name))
        if emit.as_json:
            print(json.dumps({"host": host.spec, "status": done.status, "where": done.where,
                              "key_type": done.key.key_type,
                              "fingerprint": done.key.fingerprint,
                              "known_hosts": str(done.known_hosts), "old": list(done.old)}),
                  flush=True)
        else:
            print(done.line, flush=True)
    return ExitCode.OK

