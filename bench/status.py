"""Benchmark: ``workbench --batch status`` of 20 endpoints x 3 environments against a naive
script, measured in the same run.

The fleet (bench/fleet.py): 20 static endpoints deployed to ``local`` (this engine),
``staging`` (root@127.0.0.1:42022) and ``prod`` (root@127.0.0.1:42023, the second host).

- workbench: ``workbench --batch status --json`` (every environment and host at once).
- baseline: what a script without workbench does, one environment after the other: ``docker
  ps`` of the environment's containers (over ``ssh HOST`` for the remote ones), then ``docker
  inspect`` of each container, one call after the other.

Goals: at most 0.5x the baseline, and under 1 s. Missed goals are printed, not raised.

    .venv/bin/python bench/status.py [--endpoints 20] [--repeat 5]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fleet import DOCKER, HOST, HOST2_SOCKET, PORTS, Fleet, compare, sh


def baseline(fleet: Fleet) -> float:
    started = time.perf_counter()
    for env in ("local", "staging", "prod"):
        if env == "local":
            prefix = [DOCKER]
        else:
            remote = f"{DOCKER} -H unix://{HOST2_SOCKET}" if env == "prod" else DOCKER
            prefix = ["ssh", "-F", str(fleet.ssh_config), "-p", str(PORTS[env]),
                      "-o", "BatchMode=yes", HOST, remote]
        label = f"label=dev.workbench.env={env}"
        ids = sh([*prefix, "ps", "-q", "--filter", f"label=dev.workbench.project={fleet.name}",
                  "--filter", label], fleet.env).stdout.split()
        for container in ids:
            json.loads(sh([*prefix, "inspect", container], fleet.env).stdout)
    return time.perf_counter() - started


def workbench(fleet: Fleet) -> float:
    started = time.perf_counter()
    done = fleet.workbench("status", "--json")
    elapsed = time.perf_counter() - started
    rows = json.loads(done.stdout)["rows"]
    healthy = sum(1 for r in rows if r["running"] and r["running"]["health"] == "healthy")
    if healthy != 3 * fleet.count:
        raise RuntimeError(f"status saw {healthy} healthy of {3 * fleet.count}")
    return elapsed


def main() -> None:
    compare("status", ("local", "staging", "prod"), workbench, baseline,
            "naive ssh docker ps + inspect per container", 0.5, 1.0, __doc__ or "")


if __name__ == "__main__":
    main()
