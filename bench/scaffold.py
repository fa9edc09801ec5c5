"""Benchmark: ``workbench --batch new -e`` against cookiecutter plus ``git init`` and a commit.

Both sides render the same python endpoint template (converted to a cookiecutter template in a
temporary folder), start as fresh processes the way a user runs them, and end with a
committed git repo. Prints median wall times and the ratio; goal: at most 1.0x cookiecutter.

    python bench/scaffold.py [--runs 15]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "scaffolds" / "endpoint-python" / "files"
BIN = Path(sys.executable).parent
GIT_ID = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def cookiecutter_template(where: Path) -> Path:
    """The python endpoint template, as a cookiecutter template."""
    root = where / "cc-template"
    inner = root / "{{cookiecutter.name}}"
    shutil.copytree(TEMPLATE, inner)
    verbatim: list[str] = []
    for path in sorted(inner.rglob("*"), reverse=True):
        new_name = path.name.replace("{{ ", "{{cookiecutter.").replace(" }}", "}}")
        if new_name.startswith("dot-"):
            new_name = "." + new_name[4:]
        if new_name.endswith(".j2"):
            new_name = new_name[:-3]
            text = path.read_text()
            for var in ("name", "package", "project", "kind", "workbench_version"):
                text = text.replace("{{ " + var, "{{ cookiecutter." + var)
            path.write_text(text.replace("{{ template", "{{ cookiecutter.wb_template"))
        elif path.is_file():
            verbatim.append(str(path.relative_to(inner).with_name(new_name)))
        if new_name != path.name:
            path.rename(path.with_name(new_name))
    (root / "cookiecutter.json").write_text(json.dumps({
        "name": "svc", "package": "svc", "project": "bench", "wb_template": "python",
        "kind": "endpoint", "workbench_version": "0",
        "_copy_without_render": verbatim}))
    return root


def timed(commands: list[list[str]], env: dict[str, str]) -> float:
    started = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "HOME": str(work), "XDG_CONFIG_HOME": str(work / "cfg")}
        subprocess.run([str(BIN / "workbench"), "--batch", "new", "bench"], cwd=work,
                       check=True, env=env, stdout=subprocess.DEVNULL)
        template = cookiecutter_template(work)
        ours, theirs = [], []
        for run in range(runs):
            name = f"svc{run}"
            ours.append(timed([[str(BIN / "workbench"), "--batch", "-C", str(work / "bench"),
                                "new", "-e", name]], env))
            out = work / "cc" / name
            theirs.append(timed([
                [str(BIN / "cookiecutter"), "--no-input", "-o", str(out.parent), str(template),
                 f"name={name}", f"package={name}"],
                ["git", "init", "-q", "-b", "main", str(out)],
                ["git", "-C", str(out), "add", "--all"],
                ["git", "-C", str(out), *GIT_ID, "commit", "-qm", "Create"],
            ], env))
        assert (work / "bench" / "endpoints" / "svc0" / ".git").is_dir()
        assert (work / "cc" / "svc0" / ".git").is_dir()
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"workbench new -e            median {a * 1000:7.1f} ms  ({runs} runs)")
    print(f"cookiecutter + git commit   median {b * 1000:7.1f} ms  ({runs} runs)")
    print(f"ratio workbench/cookiecutter: {a / b:.2f}x  (goal: at most 1.0x)")


if __name__ == "__main__":
    main()
