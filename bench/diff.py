"""Benchmark: ``workbench --batch diff staging prod`` of 20 endpoints on the two CI hosts
against a naive script, measured in the same run.

The fleet (bench/fleet.py): 20 static endpoints deployed to ``staging`` (root@127.0.0.1:42022)
and ``prod`` (root@127.0.0.1:42023, the second host).

- workbench: ``workbench --batch diff staging prod --json``.
- baseline: ``ssh HOST docker inspect NAME`` for each container, one after the other, then
  Python's difflib over the two environments' JSON (per endpoint, sorted keys).

Goals: at most 0.3x the baseline, and under 1.5 s on loopback. Missed goals are printed, not
raised.

    .venv/bin/python bench/diff.py [--endpoints 20] [--repeat 5]
"""

from __future__ import annotations

import difflib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fleet import DOCKER, HOST, HOST2_SOCKET, PORTS, Fleet, compare, sh


def baseline(fleet: Fleet) -> float:
    started = time.perf_counter()
    found: dict[str, dict[str, object]] = {}
    for env in ("staging", "prod"):
        remote = f"{DOCKER} -H unix://{HOST2_SOCKET}" if env == "prod" else DOCKER
        ssh = ["ssh", "-F", str(fleet.ssh_config), "-p", str(PORTS[env]), "-o", "BatchMode=yes",
               HOST, remote]
        names = sh([*ssh, "ps", "--format", "{{.Names}}", "--filter",
                    f"label=dev.workbench.project={fleet.name}", "--filter",
                    f"label=dev.workbench.env={env}", "--filter", "label=dev.workbench.role=app"],
                   fleet.env).stdout.split()
        found[env] = {}
        for name in names:
            [data] = json.loads(sh([*ssh, "inspect", name], fleet.env).stdout)
            found[env][data["Config"]["Labels"]["dev.workbench.endpoint"]] = data
    lines = 0
    for endpoint in sorted(set(found["staging"]) | set(found["prod"])):
        a = json.dumps(found["staging"].get(endpoint), indent=1, sort_keys=True).splitlines()
        b = json.dumps(found["prod"].get(endpoint), indent=1, sort_keys=True).splitlines()
        lines += sum(1 for _ in difflib.unified_diff(a, b))
    if not lines:
        raise RuntimeError("the baseline found no difference at all: it read nothing?")
    return time.perf_counter() - started


def workbench(fleet: Fleet) -> float:
    started = time.perf_counter()
    done = fleet.workbench("diff", "staging", "prod", "--json")
    elapsed = time.perf_counter() - started
    body = json.loads(done.stdout)
    if body["partial"] or body["counts"]["endpoints"] != fleet.count:
        raise RuntimeError(f"diff compared {body['counts']} (partial: {body['partial']})")
    return elapsed


def main() -> None:
    compare("diff", ("staging", "prod"), workbench, baseline,
            "ssh docker inspect per container + difflib", 0.3, 1.5, __doc__ or "")


if __name__ == "__main__":
    main()
