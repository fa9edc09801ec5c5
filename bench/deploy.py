"""Benchmark: ``workbench --batch deploy`` of 6 endpoints over SSH vs docker-compose and raw ssh.

Measured in the same run, on the real sshd (root@127.0.0.1:42022, from .ci/setup) that drives
this machine's Docker Engine, with the local base image (no registry pulls):

- workbench full:  ``workbench --batch deploy --env staging`` of a fresh project (6 endpoints:
  3 python, 3 static), every image really built (a unique file is written into each endpoint's
  build context before each run) and 6 containers started, plus workbench's own proxy.
- compose full:    Debian's ``docker-compose`` 1.29 (paramiko) ``up -d --build`` of the same 6
  build contexts with ``DOCKER_HOST=ssh://root@127.0.0.1:42022``.
- raw full:        per endpoint one ``tar c -C DIR . | ssh HOST 'docker build - && docker run'``,
  the 6 in parallel.
- workbench no-op: ``deploy --env staging`` again right after a successful deploy, nothing changed.

Tools alternate over ``--repeat`` repetitions; each tool's containers, images, networks, volumes
(and workbench's state root) are removed between its runs. Goals: no-op under 1 s; workbench full
at most 0.5x compose and at most 1.15x raw. Missed goals are printed, not raised. At the end, one
more full workbench deploy (not counted) runs with ``--json`` and its step events are timestamped
as they arrive: where workbench's time goes.

workbench runs from its source tree (an editable install); it gets a bytecode cache in the bench's
temporary folder (``PYTHONPYCACHEPREFIX``, filled by a ``plan`` before measuring), as an installed
package has: under ``PYTHONDONTWRITEBYTECODE`` it would compile its modules again at every run,
which Debian's docker-compose (shipped with its .pyc) never does.

    .venv/bin/python bench/deploy.py [--repeat 3] [--timeout 180]

Needs ``docker-compose`` and ``python3-paramiko`` (apt). Everything the bench created is removed
at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
WORKBENCH = str(BIN / "workbench")
KEY = Path("/var/lib/workbench-ci/ssh/id_ed25519")
KNOWN = Path("/var/lib/workbench-ci/ssh/known_hosts")
USER, HOST, PORT = "root", "127.0.0.1", 42022
BASE_IMAGE = os.environ.get("WB_BASE_IMAGE", "workbench/base:bookworm")
PYTHON = ["api1", "api2", "api3"]
STATIC = ["web1", "web2", "web3"]
ENDPOINTS = PYTHON + STATIC
DOCKER = shutil.which("docker") or "docker"


def sh(command: list[str], env: dict[str, str], cwd: Path | None = None,
       timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


class Bench:
    def __init__(self, tmp: Path, timeout: float) -> None:
        self.tmp, self.timeout = tmp, timeout
        self.tag = uuid.uuid4().hex[:8]
        self.name = "bd" + self.tag
        self.label = f"dev.workbench.bench=deploy-{self.tag}"
        home = tmp / "home"
        ssh = home / ".ssh"
        ssh.mkdir(parents=True, mode=0o700)
        shutil.copy(KEY, ssh / "id_ed25519")
        (ssh / "id_ed25519").chmod(0o600)
        shutil.copy(KNOWN, ssh / "known_hosts")
        (ssh / "config").write_text(f"Host {HOST}\n  User {USER}\n  Port {PORT}\n"
                                    f"  IdentityFile {ssh / 'id_ed25519'}\n  IdentitiesOnly yes\n"
                                    f"  UserKnownHostsFile {ssh / 'known_hosts'}\n")
        self.env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                    "XDG_DATA_HOME": str(home / ".local/share"),
                    "XDG_CACHE_HOME": str(home / ".cache"), "GIT_CONFIG_NOSYSTEM": "1"}
        for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "SSH_AUTH_SOCK"):
            self.env.pop(name, None)
        self.local = dict(self.env)  # the engine itself, for cleanup
        # workbench runs from its source tree (an editable install). Under PYTHONDONTWRITEBYTECODE
        # (which the CI environment sets) it compiled all its modules again at every run, where an
        # installed package has them compiled once, as Debian's docker-compose has. Its runs get
        # a bytecode cache in this bench's temporary folder (nothing is written to the tree).
        self.wb_env = {**self.env, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
        self.wb_env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.root = tmp / self.name
        self.proxy_port = 0

    # -- project ------------------------------------------------------------------------------
    def make_project(self) -> None:
        sh([WORKBENCH, "--batch", "new", self.name], self.wb_env, cwd=self.tmp)
        for name in PYTHON:
            sh([WORKBENCH, "--batch", "new", "-e", name], self.wb_env, cwd=self.root)
        for name in STATIC:
            sh([WORKBENCH, "--batch", "new", "-e", name, "--template", "static"], self.wb_env,
               cwd=self.root)
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.proxy_port = probe.getsockname()[1]
        file = self.root / "workbench.yaml"
        text = file.read_text().replace("build_args: {}",
                                        f'build_args: {{BASE_IMAGE: "{BASE_IMAGE}"}}', 1)
        text += (f"  staging:\n    hosts: [{USER}@{HOST}:{PORT}]\n"
                 f"    proxy_port: {self.proxy_port}\n    proxy_bind: 127.0.0.1\n"
                 f"    proxy_image: {BASE_IMAGE}\n")
        file.write_text(text)
        services = []
        for name in ENDPOINTS:
            services.append(
                f"  {name}:\n    build:\n      context: endpoints/{name}\n"
                f"      args: {{BASE_IMAGE: \"{BASE_IMAGE}\"}}\n"
                f"      labels: {{dev.workbench.bench: \"deploy-{self.tag}\"}}\n"
                f"    image: wbbench-{self.tag}-compose-{name}\n"
                f"    labels: {{dev.workbench.bench: \"deploy-{self.tag}\"}}\n")
        (self.root / "bench-compose.yml").write_text(
            "version: \"3.7\"\nservices:\n" + "".join(services))

    def touch(self, tool: str, rep: int) -> None:
        """New content in every build context (static images only copy public/)."""
        nonce = f"{tool} {rep} {uuid.uuid4().hex}\n"
        for name in PYTHON:
            (self.root / "endpoints" / name / "bench-nonce.txt").write_text(nonce)
        for name in STATIC:
            (self.root / "endpoints" / name / "public" / "bench-nonce.txt").write_text(nonce)

    # -- tools --------------------------------------------------------------------------------
    def workbench(self, *args: str) -> subprocess.CompletedProcess[str]:
        return sh([WORKBENCH, "--batch", *args], self.wb_env, cwd=self.root,
                  timeout=self.timeout)

    def deploy_workbench(self, groups: list[list[str]] | None = None) -> float:
        started = time.perf_counter()
        for group in groups or [[]]:
            self.workbench("deploy", "--env", "staging", *[a for n in group for a in ("-e", n)])
        return time.perf_counter() - started

    def deploy_compose(self, rep: int) -> float:
        # COMPOSE_PARAMIKO_SSH: 1.29 otherwise runs the ssh CLI, which reads the passwd home's
        # ~/.ssh, not $HOME's (so not this bench's known_hosts); COMPOSE_DOCKER_CLI_BUILD=0: build
        # through docker-py (paramiko) as well, not the docker CLI.
        env = {**self.env, "DOCKER_HOST": f"ssh://{USER}@{HOST}:{PORT}",
               "COMPOSE_PARAMIKO_SSH": "1", "COMPOSE_DOCKER_CLI_BUILD": "0",
               "COMPOSE_PROJECT_NAME": f"{self.name}c{rep}"}
        started = time.perf_counter()
        sh(["docker-compose", "-f", "bench-compose.yml", "up", "-d", "--build"], env,
           cwd=self.root, timeout=self.timeout)
        return time.perf_counter() - started

    def deploy_raw(self, rep: int) -> float:
        procs = []
        started = time.perf_counter()
        for name in ENDPOINTS:
            image = f"wbbench-{self.tag}-raw-{name}:{rep}"
            remote = (f"docker build -q --label {self.label} --build-arg BASE_IMAGE={BASE_IMAGE} "
                      f"-t {image} - >/dev/null && docker run -d --label {self.label} "
                      f"--name wbbench-{self.tag}-raw-{name}-{rep} {image}")
            command = (f"tar c -C endpoints/{name} . | ssh -F {self.env['HOME']}/.ssh/config "
                       f"-o BatchMode=yes {HOST} '{remote}'")
            procs.append(subprocess.Popen(["bash", "-o", "pipefail", "-c", command],
                                          cwd=self.root, env=self.env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for proc in procs:
            out, err = proc.communicate(timeout=self.timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"raw deploy failed: {out}{err}")
        return time.perf_counter() - started

    def timeline(self) -> list[tuple[float, dict[str, object]]]:
        """A full ``deploy --json``: each event with the seconds since the process started, and
        a last ``exit`` event when the process ended."""
        import threading

        started = time.perf_counter()
        proc = subprocess.Popen([WORKBENCH, "--batch", "--json", "deploy", "--env", "staging"],
                                env=self.wb_env, cwd=self.root, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        watchdog = threading.Timer(self.timeout, proc.kill)
        watchdog.start()
        events: list[tuple[float, dict[str, object]]] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                events.append((time.perf_counter() - started, json.loads(line)))
            proc.wait()
        finally:
            watchdog.cancel()
        events.append((time.perf_counter() - started, {"event": "exit", "code": proc.returncode}))
        return events

    # -- cleanup ------------------------------------------------------------------------------
    def docker(self, *args: str) -> list[str]:
        done = sh([DOCKER, *args], self.local, check=False)
        return done.stdout.split()

    def remove_labelled(self, label: str) -> None:
        ids = self.docker("ps", "-aq", "--filter", f"label={label}")
        if ids:
            self.docker("rm", "-f", "-v", *ids)
        volumes = self.docker("volume", "ls", "-q", "--filter", f"label={label}")
        if volumes:
            self.docker("volume", "rm", "-f", *volumes)
        networks = self.docker("network", "ls", "-q", "--filter", f"label={label}")
        if networks:
            self.docker("network", "rm", *networks)
        images = self.docker("images", "-q", "--filter", f"label={label}")
        if images:
            self.docker("rmi", "-f", *sorted(set(images)))

    def clean_workbench(self) -> None:
        self.remove_labelled(f"dev.workbench.project={self.name}")
        shutil.rmtree(f"/var/lib/workbench/{self.name}", ignore_errors=True)

    def clean_others(self) -> None:
        self.remove_labelled(self.label)
        for network in self.docker("network", "ls", "-q", "--filter", f"name={self.name}c"):
            self.docker("network", "rm", network)
        for image in self.docker("images", "-q", f"wbbench-{self.tag}-*"):
            self.docker("rmi", "-f", image)

    def kill_strays(self) -> None:
        """A workbench deploy killed by the timeout leaves its lock: drop it with the state root."""
        shutil.rmtree(f"/var/lib/workbench/{self.name}", ignore_errors=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="wb-bench-deploy-") as tmp:
        bench = Bench(Path(tmp), args.timeout)
        try:
            bench.make_project()
            bench.workbench("trust", "staging")
            bench.workbench("plan", "--env", "staging")  # fills the bytecode cache; changes nothing
            measure(bench, args)
        finally:
            bench.clean_workbench()
            bench.clean_others()


def measure(bench: Bench, args: argparse.Namespace) -> None:
    times: dict[str, list[float]] = {"workbench": [], "compose": [], "raw": []}
    hung: list[str] = []
    split = [PYTHON, STATIC]  # 3 at a time: see the note printed on a hang

    def workbench_once(rep: int) -> None:
        bench.touch("workbench", rep)
        try:
            times["workbench"].append(bench.deploy_workbench())
        except subprocess.TimeoutExpired:
            hung.append(f"rep {rep}: all 6 in one deploy did not finish in {args.timeout:.0f} s")
            bench.clean_workbench()
            bench.touch("workbench", rep)
            times.setdefault("workbench (2 deploys of 3)", []).append(
                bench.deploy_workbench(split))
        bench.clean_workbench()

    def compose_once(rep: int) -> None:
        bench.touch("compose", rep)
        times["compose"].append(bench.deploy_compose(rep))
        bench.clean_others()

    def raw_once(rep: int) -> None:
        bench.touch("raw", rep)
        times["raw"].append(bench.deploy_raw(rep))
        bench.clean_others()

    tools: dict[str, Callable[[int], None]] = {
        "workbench": workbench_once, "compose": compose_once, "raw": raw_once}
    order = list(tools)
    for rep in range(args.repeat):
        for tool in order[rep % 3:] + order[:rep % 3]:
            tools[tool](rep)
            done = {k: [round(x, 2) for x in v] for k, v in times.items() if v}
            print(f"  rep {rep} {tool:<9} done {done} {hung}", file=sys.stderr, flush=True)

    # No-op: deploy (in groups of 3 when one deploy of 6 hangs), then again with no change.
    bench.touch("noop", 0)
    bench.deploy_workbench(split if hung else None)
    noop = [bench.deploy_workbench() for _ in range(args.repeat)]
    imports = sh([sys.executable, "-X", "importtime", "-m", "workbench", "--batch", "deploy",
                  "--env", "staging"], bench.wb_env, cwd=bench.root, timeout=args.timeout).stderr
    # Where workbench's time goes: one more full deploy (not counted), its events timestamped.
    bench.clean_workbench()
    bench.touch("timeline", 0)
    events = [] if hung else bench.timeline()

    report(times, noop, hung, events, imports)


def report(times: dict[str, list[float]], noop: list[float], hung: list[str],
           events: list[tuple[float, dict[str, object]]], imports: str) -> None:
    print("\nfull deploy of 6 endpoints (3 python, 3 static), medians of "
          f"{len(times['compose'])} runs:")
    for tool, values in times.items():
        if values:
            shown = " ".join(f"{v:.2f}" for v in values)
            print(f"  {tool:<27} median {median(values):6.2f} s   ({shown})")
    for line in hung:
        print(f"  workbench HUNG: {line}")
    ours = times["workbench"] or times.get("workbench (2 deploys of 3)", [])
    label = "workbench" if times["workbench"] else "workbench (2 deploys of 3)"
    if ours:
        to_compose = median(ours) / median(times["compose"])
        to_raw = median(ours) / median(times["raw"])
        print(f"  ratio {label}/compose: {to_compose:.2f}x   goal at most 0.5x "
              f"({'met' if to_compose <= 0.5 and not hung else 'missed'})")
        print(f"  ratio {label}/raw:     {to_raw:.2f}x   goal at most 1.15x "
              f"({'met' if to_raw <= 1.15 and not hung else 'missed'})")
    if hung:
        print("  (a hung deploy counts as a missed goal; the ratio is of the workaround)")
    print(f"\nno-op redeploy of 6 endpoints: median {median(noop):.2f} s   "
          f"({' '.join(f'{v:.2f}' for v in noop)})   goal under 1 s "
          f"({'met' if median(noop) < 1 else 'missed'})")
    rows = []
    for line in imports.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    print("  slowest imports (cumulative, -X importtime of the no-op deploy):")
    for micros, name in rows[:10]:
        print(f"    {micros / 1000:7.1f} ms {name}")
    if events:
        print_timeline(events)


def print_timeline(events: list[tuple[float, dict[str, object]]]) -> None:
    """Per step, from the first endpoint's start to the last one's end (s since exec)."""
    spans: dict[str, list[float]] = {}
    slowest: dict[str, float] = {}
    for at, event in events:
        step = str(event.get("step", ""))
        kind = step.split("/", 1)[1].split(" ")[0] if "/" in step else ""
        if event.get("event") == "step_started":
            span = spans.setdefault(kind, [at, at])
            span[1] = max(span[1], at)
        elif event.get("event") == "step_finished" and kind in spans:
            spans[kind][1] = max(spans[kind][1], at)
            slowest[kind] = max(slowest.get(kind, 0.0), float(str(event.get("duration", 0))))
    print("\none more full workbench deploy (not counted), s since the process started:")
    for kind, (first, last) in spans.items():
        print(f"  {kind:<8} {first:6.2f} .. {last:6.2f}   "
              f"slowest endpoint {slowest.get(kind, 0.0):.2f} s")
    for at, event in events:
        if event.get("event") in ("result", "exit"):
            print(f"  {event['event']:<8} {at:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180,
                        help="seconds before one deploy counts as hung")
    args = parser.parse_args()
    for tool in ("docker-compose", "ssh", "tar"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing (apt-get install -y docker-compose python3-paramiko)")
    run(args)


if __name__ == "__main__":
    main()
