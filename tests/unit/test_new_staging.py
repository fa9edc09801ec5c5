"""A ``new`` killed outright leaves its hidden staging folder; the next ``new`` removes it, and
never the folder of a ``new`` still running."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import HANG_GUARD

from workbench.model import load_project
from workbench.ops.new import new_child, new_project

KILLED_NEW = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from workbench import gitrepo
    from workbench.ops.new import new_child

    def killed(path, message):
        os.kill(os.getpid(), signal.SIGKILL)  # after the render, before the rename

    gitrepo.init = killed
    new_child(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
""")


def kill_new(root: Path, kind: str, name: str) -> None:
    """Run ``new`` in a process that is SIGKILLed half-way (no cleanup can run)."""
    done = subprocess.run([sys.executable, "-c", KILLED_NEW, str(root), kind, name],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=HANG_GUARD)
    assert done.returncode == -9, done.stderr


def staged(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".wb-new-" in p.name)


def test_the_next_new_removes_what_a_killed_new_left(tmp_path: Path) -> None:
    root = new_project(tmp_path, "shop").path
    kill_new(root, "endpoint", "orders")
    left = staged(root / "endpoints")
    assert len(left) == 1 and left[0].startswith(".orders.wb-new-")
    assert (root / "endpoints" / left[0] / "orders" / "app.py").is_file()  # rendered, then killed
    assert not (root / "endpoints" / "orders").exists()

    new_child(root, "model", "customer")  # any kind: the next new cleans every kind's folder

    assert staged(root / "endpoints") == [] and staged(root / "models") == []
    new_child(root, "endpoint", "orders")  # the name was never taken
    assert [e.name for e in load_project(root).endpoints] == ["orders"]


def test_a_killed_new_project_is_cleaned_by_the_next_new_project(tmp_path: Path) -> None:
    script = KILLED_NEW.replace("new_child(Path(sys.argv[1]), sys.argv[2], sys.argv[3])",
                                "from workbench.ops.new import new_project\n"
                                "new_project(Path(sys.argv[1]), sys.argv[3])")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), "project", "shop"],
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert done.returncode == -9, done.stderr
    assert len(staged(tmp_path)) == 1
    new_project(tmp_path, "bank")
    assert staged(tmp_path) == []


def test_a_running_new_keeps_its_staging_folder(tmp_path: Path) -> None:
    from workbench.ops.new import clean_stale_staging, staging

    target = tmp_path / "orders"
    with staging(target) as work:
        work.mkdir()
        assert clean_stale_staging(tmp_path) == []
        assert work.is_dir()
    assert staged(tmp_path) == []
