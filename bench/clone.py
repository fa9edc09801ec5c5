"""Benchmark: ``workbench --batch clone`` of a project with 20 child repos over ssh://.

Measured against a shell loop of ``git clone`` per repo (the project, then each child), in the
same run, against the CI sshd (``sudo bash .ci/setup``; key and known_hosts from
/var/lib/workbench-ci/target.env), with the same ssh command for both. Goal: at most 0.4x the
loop. Prints the median wall times and the ratio.

    python bench/clone.py [--runs 3] [--children 20]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import SSHTarget, target_env

from workbench import scaffold

BIN = Path(sys.executable).parent
GIT_ID = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True)


def publish(folder: Path, bare: Path) -> None:
    """Commit everything in ``folder`` and push it to the new bare repo ``bare``."""
    git("init", "-q", "-b", "main", str(folder))
    git("add", "--all", cwd=folder)
    git("commit", "-qm", "init", cwd=folder)
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("push", "-q", str(bare), "main", cwd=folder)


def make_remote(srv: Path, work: Path, target: SSHTarget, children: int) -> tuple[str, list[str]]:
    """Bare repos of a project ``big`` and its children (half endpoints, half utilities),
    rendered from the real templates; returns the project's ssh URL and the children's."""
    endpoints = [f"svc-{i:02d}" for i in range(children // 2)]
    utilities = [f"lib-{i:02d}" for i in range(children - len(endpoints))]
    template = target.url(f"{srv}/{{group}}/{{name}}.git")
    inputs = {"project": "big", "git_remote": template, "git_group": "team", "gitlab": None}
    scaffold.render(scaffold.get("project", "project"), work / "big",
                    {"name": "big", "package": "big", **inputs})
    yaml_file = work / "big" / "workbench.yaml"
    yaml_file.write_text(yaml_file.read_text()
                         .replace("endpoints: []", f"endpoints: [{', '.join(endpoints)}]")
                         .replace("utilities: []", f"utilities: [{', '.join(utilities)}]"))
    publish(work / "big", srv / "team" / "big.git")
    urls = []
    for kind, names in (("endpoint", endpoints), ("utility", utilities)):
        chosen = scaffold.get(kind, "python" if kind == "endpoint" else "utility")
        for name in names:
            scaffold.render(chosen, work / name, {"name": name, "package": name.replace("-", "_"),
                                                  "project": "big"})
            publish(work / name, srv / "team" / f"{name}.git")
            urls.append(target.url(srv / "team" / f"{name}.git"))
    return target.url(srv / "team" / "big.git"), urls


def loop_script(project: str, children: list[str], dest: Path) -> str:
    """The peer: one ``git clone`` after the other, as a shell loop."""
    lines = [f"git clone -q {shlex.quote(project)} {shlex.quote(str(dest))}"]
    lines.append(f"for url in {' '.join(shlex.quote(u) for u in children)}; do")
    lines.append(f'  git clone -q "$url" {shlex.quote(str(dest))}/repos/"$(basename "$url" .git)"')
    lines.append("done")
    return "\n".join(lines)


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--children", type=int, default=20)
    args = parser.parse_args()
    try:
        target = SSHTarget.from_env(target_env())
    except (KeyError, ValueError):
        sys.exit("the CI sshd is not set up: run `sudo bash .ci/setup`")
    with tempfile.TemporaryDirectory(prefix="wb-bench-clone-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "HOME": tmp, "XDG_CONFIG_HOME": f"{tmp}/cfg",
               "GIT_SSH_COMMAND": target.ssh_command, "GIT_CONFIG_NOSYSTEM": "1"}
        env.pop("WORKBENCH_SCAFFOLDS", None)
        project, children = make_remote(root / "srv", root / "work", target, args.children)
        ours_times, loop_times = [], []
        for run in range(args.runs):
            ours_dest, loop_dest = root / f"ours-{run}", root / f"loop-{run}"
            ours_times.append(timed([str(BIN / "workbench"), "--batch", "clone", project,
                                     str(ours_dest)], env))
            loop_times.append(timed(["bash", "-ec", loop_script(project, children, loop_dest)],
                                    env))
            cloned = sorted(p.parent.name for p in ours_dest.glob("*/*/.git"))
            assert len(cloned) == args.children, cloned
            assert len(list(loop_dest.glob("repos/*/.git"))) == args.children
            shutil.rmtree(ours_dest)
            shutil.rmtree(loop_dest)
    ours, loop = statistics.median(ours_times), statistics.median(loop_times)
    ratio = ours / loop
    print(f"workbench --batch clone (project + {args.children} repos over ssh)  "
          f"median {ours:6.2f} s  runs: {', '.join(f'{t:.2f}' for t in ours_times)}")
    print(f"shell loop of git clone per repo                     median {loop:6.2f} s  "
          f"runs: {', '.join(f'{t:.2f}' for t in loop_times)}")
    print(f"ratio clone/loop: {ratio:.2f}x   goal: at most 0.4x "
          f"({'met' if ratio <= 0.4 else 'NOT met'})")


if __name__ == "__main__":
    main()
