"""Benchmark: wall time of ``workbench --batch list`` on a 30-endpoint project.

Measured against ``python -c pass`` (the floor of any Python command) in the same run.
Goal: at most 0.25 s on these machines. Prints median wall times and the ratio.

    python bench/list_startup.py [--runs 20] [--endpoints 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
GIT_ID = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def make_project(root: Path, endpoints: int, env: dict[str, str]) -> Path:
    """A project with N endpoint repos, written directly (the bench is about list, not new)."""
    subprocess.run([str(BIN / "workbench"), "--batch", "new", "big"], cwd=root, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    project = root / "big"
    names = [f"svc-{i:02d}" for i in range(endpoints)]
    for name in names:
        folder = project / "endpoints" / name
        folder.mkdir(parents=True)
        (folder / "endpoint.yaml").write_text(f"port: 8000\nroutes: [/{name}]\n")
        (folder / "app.py").write_text("print('hi')\n")
        subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
        subprocess.run(["git", "-C", str(folder), "add", "--all"], check=True)
        subprocess.run(["git", "-C", str(folder), *GIT_ID, "commit", "-qm", "init"], check=True)
    text = (project / "workbench.yaml").read_text()
    (project / "workbench.yaml").write_text(
        text.replace("endpoints: []", f"endpoints: [{', '.join(names)}]"))
    return project


def median_wall(command: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--endpoints", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOME": tmp, "XDG_CONFIG_HOME": f"{tmp}/cfg"}
        project = make_project(Path(tmp), args.endpoints, env)
        listing = [str(BIN / "workbench"), "--batch", "-C", str(project), "list"]
        out = subprocess.run(listing, check=True, env=env, capture_output=True, text=True)
        assert out.stdout.count("svc-") == args.endpoints, out.stdout
        ours = median_wall(listing, args.runs, env)
        floor = median_wall([sys.executable, "-c", "pass"], args.runs, env)
    print(f"workbench --batch list ({args.endpoints} endpoints)  median {ours * 1000:6.1f} ms")
    print(f"python -c pass                          median {floor * 1000:6.1f} ms")
    print(f"ratio list/python: {ours / floor:.1f}x   goal: list at most 250 ms "
          f"({'met' if ours <= 0.25 else 'NOT met'})")


if __name__ == "__main__":
    main()
