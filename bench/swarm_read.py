"""Benchmark: ``status`` and ``diff`` of a Swarm environment against the same of a single-host
environment of the same size, measured in the same run.

The fleet (bench/fleet.py): N static endpoints deployed to ``staging`` (root@127.0.0.1:42022)
and ``prod`` (the second host), both ``engine: docker``, and to ``cluster``: ``engine: swarm``
on the CI Swarm (swarm1 manager, swarm2 worker; dnsrr, host-mode ports), one replica each.

- status: ``status --env cluster --json`` against ``status --env prod --json``;
- diff: ``diff staging cluster --json`` against ``diff staging prod --json``.

Goal: the Swarm environment is read no slower than the single host (ratio at most 1.0x,
with 10% for noise). Missed goals are printed, not raised.

    .venv/bin/python bench/swarm_read.py [--endpoints 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fleet import BASE_IMAGE, CI, DOCKER, HOST, Fleet, free_port, sh

SWARM = {"swarm1": (42024, "/run/wb-ci-swarm1/docker.sock", CI / "swarm1/state"),
         "swarm2": (42025, "/run/wb-ci-swarm2/docker.sock", CI / "swarm2/state")}
GOAL = 1.1


def add_cluster(fleet: Fleet) -> None:
    hosts = "".join(f"      - {{host: 'root@{HOST}:{port}', docker_socket: {socket}}}\n"
                    for port, socket, _state in SWARM.values())
    with (fleet.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  cluster:\n    engine: swarm\n    hosts:\n{hosts}"
                     f"    swarm: {{endpoint_mode: dnsrr, publish_mode: host}}\n"
                     f"    proxy_port: {free_port()}\n    proxy_image: {BASE_IMAGE}\n")
    fleet.workbench("deploy", "--env", "cluster")


def clean_cluster(fleet: Fleet) -> None:
    manager = [DOCKER, "-H", f"unix://{SWARM['swarm1'][1]}"]
    label = f"label=dev.workbench.project={fleet.name}"
    services = sh([*manager, "service", "ls", "-q", "--filter", label], fleet.env,
                  check=False).stdout.split()
    if services:
        sh([*manager, "service", "rm", *services], fleet.env, check=False)
    for _ in range(600):  # until the tasks' containers are gone from both nodes (0.25 s each)
        if not any(sh([DOCKER, "-H", f"unix://{socket}", "ps", "-aq", "--filter", label],
                      fleet.env, check=False).stdout.split() for _p, socket, _s in
                   SWARM.values()):
            break
        time.sleep(0.25)
    for kind in ("secret", "network"):
        ids = sh([*manager, kind, "ls", "-q", "--filter", label], fleet.env,
                 check=False).stdout.split()
        if ids:
            sh([*manager, kind, "rm", *ids], fleet.env, check=False)
    for _port, socket, state in SWARM.values():
        docker = [DOCKER, "-H", f"unix://{socket}"]
        for ls, rm in ((["volume", "ls", "-q"], ["volume", "rm", "-f"]),
                       (["images", "-q"], ["rmi", "-f"])):
            ids = sh([*docker, *ls, "--filter", label], fleet.env, check=False).stdout.split()
            if ids:
                sh([*docker, *rm, *ids], fleet.env, check=False)
        sh(["rm", "-rf", str(state / fleet.name)], fleet.env, check=False)


def timed(fleet: Fleet, *args: str) -> float:
    started = time.perf_counter()
    done = fleet.workbench(*args, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}\n{done.stdout[-2000:]}")
    json.loads(done.stdout)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pairs = {"status": (("status", "--env", "cluster", "--json"),
                        ("status", "--env", "prod", "--json")),
             "diff": (("diff", "staging", "cluster", "--json"),
                      ("diff", "staging", "prod", "--json"))}
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in pairs}
    with tempfile.TemporaryDirectory(prefix="wb-bench-swarm-read-") as tmp:
        fleet = Fleet(Path(tmp), args.endpoints)
        try:
            print(f"deploying {args.endpoints} endpoints to staging, prod and cluster ...",
                  flush=True)
            fleet.make(("staging", "prod"))
            add_cluster(fleet)
            rows = json.loads(fleet.workbench("status", "--env", "cluster", "--json").stdout)
            healthy = sum(1 for r in rows["rows"] if r["running"] and
                          r["running"]["health"] == "healthy")
            if healthy != args.endpoints:
                raise RuntimeError(f"status saw {healthy} healthy services of {args.endpoints}")
            for _ in range(args.repeat):
                for what, (swarm, single) in pairs.items():
                    times[what][0].append(timed(fleet, *swarm))
                    times[what][1].append(timed(fleet, *single))
        finally:
            fleet.clean()
            clean_cluster(fleet)
    print(f"{args.endpoints} endpoints, median of {args.repeat}:")
    for what, (swarm, single) in times.items():
        ours, peer = statistics.median(swarm), statistics.median(single)
        ratio = ours / peer
        print(f"  {what}: Swarm {ours:.3f} s, single host {peer:.3f} s, ratio {ratio:.2f}x "
              f"(goal <= {GOAL}x){'  GOAL MISSED' if ratio > GOAL else ''}")


if __name__ == "__main__":
    main()
