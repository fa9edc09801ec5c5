"""Benchmark: ``workbench --batch deploy`` of 4 endpoints x 2 replicas to the CI Swarm against
``docker stack deploy --detach=false -c`` of the exported compose file, measured in the same run.

The cluster is the CI Swarm (tests/hosts.py): manager swarm1 (root@127.0.0.1:42024, docker
socket /run/wb-ci-swarm1/docker.sock), worker swarm2 (:42025). The project has 4 static
endpoints (built FROM workbench/base:bookworm, as bench/fleet.py's) with ``replicas: 2`` and
one environment ``cluster``: ``engine: swarm``, ``endpoint_mode: dnsrr``, ``publish_mode:
host``, ``proxy_image: workbench/base:bookworm``.

The pairing is the first deploy of the environment against a fresh stack ("deploy 4 endpoints
x 2 replicas ... with the same images present, while workbench also builds, health-gates and
records"). Each repetition:

1. a new file in every endpoint's ``public/``: a new version of all 4;
2. **workbench** (timed): ``workbench --batch --json deploy --env cluster`` onto an empty
   environment (no services, network, proxy, release records or state root on the nodes). It
   connects over SSH, takes the lock, builds the 4 images on the manager, streams each
   (``docker save | docker load``) to the worker, creates the overlay network and the proxy
   service (nginx, config written into its volume and reloaded), creates the 4 services
   (start-first, rollback on failure, health check in the container), waits until all 8 tasks
   run healthy, routes the proxy and writes 4 release records. Then (untimed) the proxy must
   answer for all 4 endpoints in the manager's namespace;
3. (untimed) ``workbench --batch export --env cluster --compose FILE``; then workbench's
   services, network, proxy config volume and state roots are removed. The images stay: the
   4 just built are on both nodes, the proxy image too;
4. **docker stack** (timed): ``docker stack deploy --detach=false -c FILE wb_<project>_cluster``
   on the manager: creates the same network, proxy (seeded with the routes by the file) and
   the 4 services x 2 replicas with the same images, health checks and update settings, and
   waits until they converge (a task with a health check runs only once healthy; the CLI
   waits for one service after the other, and for each watches 5 s that its tasks stay
   running, so about 25 s of its time is that check). Then
   (untimed) the proxy must answer for all 4 and every service run its replicas;
5. (untimed) ``docker stack rm`` and wait until its tasks, network and volume are gone.

So both sides create the same 10 Swarm objects and wait for the same 9 healthy tasks; workbench
also builds and distributes 4 images and records 4 releases. One repetition first is not
counted (it fills workbench's bytecode cache, ``PYTHONPYCACHEPREFIX`` in the bench's temporary
folder as an installed package has, and checks everything works). The timed workbench deploys
print their ``--json`` step events with timestamps: per step kind the span from the first
endpoint's start to the last one's end (median), which says where workbench's time goes.

Goal: workbench at most 1.2x docker stack (medians). A missed goal is printed, not raised.

    .venv/bin/python bench/swarm.py [--repeat 5] [--timeout 600]

Needs root (the nodes' sockets, namespaces and state folders) and the docker CLI. Everything
the bench made (its stack, services, secrets, networks, volumes, images with its project's
label, its state root folders on both nodes, its temporary folder) is removed at the end, also
on failure or Ctrl-C. The swarm itself is left alone.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).parent))
from fleet import BASE_IMAGE, CI, DOCKER, HOST, WORKBENCH, Fleet, sh

ENDPOINTS = 4
REPLICAS = 2
GOAL = 1.2
ENV = "cluster"
NODES = {"swarm1": (42024, "/run/wb-ci-swarm1/docker.sock", "wb-ci-swarm1",
                    CI / "swarm1/state"),
         "swarm2": (42025, "/run/wb-ci-swarm2/docker.sock", "wb-ci-swarm2",
                    CI / "swarm2/state")}
MANAGER = NODES["swarm1"]
TRIES = 1200
"""A cap on cleanup polling loops (0.25 s apart), never reached when things work."""


class SwarmBench:
    """The project, its ``cluster`` environment on the CI Swarm, and both deploy tools."""

    def __init__(self, tmp: Path, timeout: float) -> None:
        self.fleet = Fleet(tmp, ENDPOINTS)
        self.timeout = timeout
        self.name = self.fleet.name
        self.stack = f"wb_{self.name}_{ENV}"
        self.label = f"label=dev.workbench.project={self.name}"
        self.port = random.randint(40000, 44999)  # in the manager's namespace only
        self.file = tmp / "stack.yaml"

    # -- project ------------------------------------------------------------------------------
    def make(self) -> None:
        fleet = self.fleet
        sh([WORKBENCH, "--batch", "new", self.name], fleet.wb_env, cwd=fleet.tmp)
        for name in fleet.endpoints:
            fleet.workbench("new", "-e", name, "--template", "static")
            with (fleet.root / "endpoints" / name / "endpoint.yaml").open("a") as handle:
                handle.write(f"replicas: {REPLICAS}\n")
        file = fleet.root / "workbench.yaml"
        text = file.read_text().replace("build_args: {}",
                                        f'build_args: {{BASE_IMAGE: "{BASE_IMAGE}"}}', 1)
        head, _, _ = text.partition("environments:")
        hosts = "".join(f"      - {{host: 'root@{HOST}:{port}', docker_socket: {socket}}}\n"
                        for port, socket, _ns, _state in NODES.values())
        file.write_text(head + f"environments:\n  {ENV}:\n    engine: swarm\n    hosts:\n"
                        f"{hosts}    proxy_port: {self.port}\n    proxy_image: {BASE_IMAGE}\n"
                        "    swarm: {endpoint_mode: dnsrr, publish_mode: host}\n")

    def touch(self, rep: int) -> None:
        """A new version of every endpoint (static images copy public/)."""
        nonce = f"{rep} {uuid.uuid4().hex}\n"
        for name in self.fleet.endpoints:
            (self.fleet.root / "endpoints" / name / "public" / "bench-nonce.txt").write_text(nonce)

    # -- the two sides ------------------------------------------------------------------------
    def deploy_workbench(self) -> tuple[float, list[tuple[float, dict[str, object]]]]:
        """The timed deploy, and its events with the seconds since the process started."""
        command = [WORKBENCH, "--batch", "--json", "deploy", "--env", ENV]
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=self.fleet.wb_env, cwd=self.fleet.root, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        events: list[tuple[float, dict[str, object]]] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip():
                    events.append((time.perf_counter() - started, json.loads(line)))
            proc.wait(timeout=self.timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            assert proc.stderr is not None
            said = [str(e.get("message", e)) for _, e in events][-20:]
            raise RuntimeError(f"workbench deploy failed ({proc.returncode}):\n"
                               + "\n".join(said) + proc.stderr.read()[-2000:])
        return elapsed, events

    def deploy_stack(self) -> float:
        started = time.perf_counter()
        sh([*self.docker(MANAGER), "stack", "deploy", "--detach=false", "-c", str(self.file),
            self.stack], self.fleet.env, timeout=self.timeout)
        return time.perf_counter() - started

    def export(self) -> None:
        self.fleet.workbench("export", "--env", ENV, "--compose", str(self.file))

    # -- checks -------------------------------------------------------------------------------
    def check_serving(self, who: str) -> None:
        """Every endpoint answers through the proxy, every service runs all its replicas."""
        for name in self.fleet.endpoints:
            status = self.get(f"/{name}/")
            if status != 200:
                raise RuntimeError(f"after {who}: GET /{name}/ through the proxy gave {status}")
        lines = sh([*self.docker(MANAGER), "service", "ls", "--filter", self.label, "--format",
                    "{{.Name}} {{.Replicas}}"], self.fleet.env).stdout.split("\n")
        shown = sorted(line for line in lines if line)
        want = sorted([f"{self.stack}_{n} {REPLICAS}/{REPLICAS}" for n in self.fleet.endpoints]
                      + [f"{self.stack}_proxy 1/1"])
        if shown != want:
            raise RuntimeError(f"after {who}: services {shown}, not {want}")

    def get(self, path: str) -> int:
        """GET through the proxy in the manager's namespace: the status (0: no answer)."""
        code = ("import urllib.error, urllib.request\n"
                "try:\n"
                f"    print(urllib.request.urlopen('http://127.0.0.1:{self.port}{path}', "
                "timeout=10).status)\n"
                "except urllib.error.HTTPError as e:\n"
                "    print(e.code)\n"
                "except OSError:\n"
                "    print(0)\n")
        done = sh(["nsenter", f"--net=/run/netns/{MANAGER[2]}", "python3", "-c", code],
                  self.fleet.env, timeout=60)
        return int(done.stdout.strip() or 0)

    # -- cleanup ------------------------------------------------------------------------------
    @staticmethod
    def docker(node: tuple[int, str, str, Path]) -> list[str]:
        return [DOCKER, "-H", f"unix://{node[1]}"]

    def ids(self, node: tuple[int, str, str, Path], *ls: str) -> list[str]:
        return sh([*self.docker(node), *ls, "-q", "--filter", self.label], self.fleet.env,
                  check=False).stdout.split()

    def poll(self, done: object, what: str) -> None:
        for _ in range(TRIES):
            if done():  # type: ignore[operator]
                return
            time.sleep(0.25)
        raise RuntimeError(f"cleanup: {what} after {TRIES} tries")

    def removed(self, node: tuple[int, str, str, Path], kind: str) -> bool:
        """Remove the project's objects of ``kind``; whether none is left."""
        for found in self.ids(node, kind, "ls"):
            sh([*self.docker(node), kind, "rm", found], self.fleet.env, check=False)
        return not self.ids(node, kind, "ls")

    def remove_deployment(self, images: bool = False) -> None:
        """The stack and workbench's services, then their tasks' containers on both nodes,
        secrets, networks, volumes, state roots (and with ``images``, the project's images)."""
        env = self.fleet.env
        manager = self.docker(MANAGER)
        sh([*manager, "stack", "rm", self.stack], env, check=False)
        services = self.ids(MANAGER, "service", "ls")
        if services:
            sh([*manager, "service", "rm", *services], env, check=False)
        self.poll(lambda: not any(self.ids(node, "ps", "-a") for node in NODES.values()),
                  "task containers still there")
        for secret in self.ids(MANAGER, "secret", "ls"):
            sh([*manager, "secret", "rm", secret], env, check=False)
        self.poll(lambda: self.removed(MANAGER, "network"), "networks still in use")
        for node in NODES.values():
            volumes = self.ids(node, "volume", "ls")
            if volumes:
                sh([*self.docker(node), "volume", "rm", "-f", *volumes], env, check=False)
            if images:
                found = sorted(set(self.ids(node, "images")))
                if found:
                    sh([*self.docker(node), "rmi", "-f", *found], env, check=False)
            shutil.rmtree(node[3] / self.name, ignore_errors=True)


def spans(events: list[tuple[float, dict[str, object]]], total: float) -> dict[str, float]:
    """Per step kind (build, image, service, rollout, switch, record; ``transfer``: the
    streams to the worker inside ``image``): seconds from the first endpoint's start to the
    last one's end; ``before`` the first step, ``after`` the last."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for at, event in events:
        step = str(event.get("step", ""))
        if "/" not in step or event.get("event") not in ("step_started", "step_finished"):
            continue
        head, _, tail = step.partition("/")
        kind = "transfer" if head == "image" else tail.split(" ")[0]  # image/<tag>@<node>
        first.setdefault(kind, at)
        last[kind] = at
    out = {kind: last[kind] - first[kind] for kind in first}
    if first:
        out["before"] = min(first.values())
        out["after"] = total - max(last.values())
    return out


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds before one deploy counts as failed")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    ours: list[float] = []
    theirs: list[float] = []
    steps: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="wb-bench-swarm-") as tmp:
        bench = SwarmBench(Path(tmp), args.timeout)
        try:
            bench.make()
            for rep in range(args.repeat + 1):
                bench.touch(rep)
                wb, events = bench.deploy_workbench()
                bench.check_serving("workbench deploy")
                bench.export()
                bench.remove_deployment()
                stack = bench.deploy_stack()
                bench.check_serving("docker stack deploy")
                bench.remove_deployment()
                counted = "not counted" if rep == 0 else f"{rep}/{args.repeat}"
                print(f"  rep {counted}: workbench {wb:.2f} s, docker stack {stack:.2f} s",
                      file=sys.stderr, flush=True)
                if rep:
                    ours.append(wb)
                    theirs.append(stack)
                    steps.append(spans(events, wb))
        finally:
            bench.remove_deployment(images=True)
    report(ours, theirs, steps)


def report(ours: list[float], theirs: list[float], steps: list[dict[str, float]]) -> None:
    wb, peer = statistics.median(ours), statistics.median(theirs)
    ratio = wb / peer
    print(f"first deploy of {ENDPOINTS} endpoints x {REPLICAS} replicas to the CI Swarm "
          f"(2 nodes), median of {len(ours)}:")
    print(f"  workbench deploy (builds, streams, health-gates, records): {wb:.2f} s   "
          f"({' '.join(f'{v:.2f}' for v in ours)})")
    print(f"  docker stack deploy --detach=false (images present):     {peer:.2f} s   "
          f"({' '.join(f'{v:.2f}' for v in theirs)})")
    print(f"  ratio: {ratio:.2f}x (goal <= {GOAL}x){'  GOAL MISSED' if ratio > GOAL else ''}")
    kinds = [k for k in steps[0] if all(k in s for s in steps)] if steps else []
    print("  where workbench's time goes (median span, first start to last end, s):")
    for kind in kinds:
        print(f"    {kind:<8} {statistics.median(s[kind] for s in steps):6.2f}")


if __name__ == "__main__":
    main()
