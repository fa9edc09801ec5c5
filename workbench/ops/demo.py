"""``ensure_demo``: a demo project in the user's data folder, to look around without setup.

``$XDG_DATA_HOME/workbench/demo/demo`` holds two endpoints (python and static), a model, a
utility and two example environments on hosts that cannot resolve (``.invalid``), so nothing is
ever contacted. It has no git remote. Calling it again returns the existing project and only
adds what is missing (for instance after an interrupted first run).
"""

from __future__ import annotations

from pathlib import Path

from .. import gitrepo, registry
from ..events import Emit, ignore
from ..model import PROJECT_FILE, Kind, load_project
from ..paths import data_dir
from ..projectfile import with_environments
from ..yamlfile import write_atomic

DEMO_NAME = "demo"
#: kind, name and template of each child of the demo project, in creation order.
CHILDREN: tuple[tuple[Kind, str, str | None], ...] = (
    ("model", "customer", None),
    ("utility", "textutil", None),
    ("endpoint", "orders", "python"),
    ("endpoint", "storefront", "static"),
)
#: Example environments, added under ``environments:`` when missing.
ENVIRONMENTS: dict[str, str] = {
    "staging": "  staging:\n    hosts: [deploy@staging.invalid]\n    proxy_port: 80\n",
    "production": ("  production:\n    engine: swarm\n"
                   "    hosts: [deploy@prod-1.invalid, deploy@prod-2.invalid]\n"
                   "    proxy_port: 80\n    protected: true\n"),
}


def demo_root() -> Path:
    """``$XDG_DATA_HOME/workbench/demo/demo``."""
    return data_dir() / "demo" / DEMO_NAME


def ensure_demo(emit: Emit = ignore) -> Path:
    """Create the demo project when needed (idempotent); returns its root."""
    from .new import new_child, new_project

    root = demo_root()
    if not (root / PROJECT_FILE).is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        new_project(root.parent, DEMO_NAME, emit=emit)
    project = load_project(root)
    for kind, name, template in CHILDREN:
        if name not in project.names():
            new_child(root, kind, name, template=template, emit=emit)
    have = {env.name for env in project.environments}
    missing = [text for name, text in ENVIRONMENTS.items() if name not in have]
    if missing:
        _add_environments(root, missing)
    if all(entry.path != root.resolve() for entry in registry.load()):
        registry.add(DEMO_NAME, root)
    return root


def _add_environments(root: Path, blocks: list[str]) -> None:
    """Append environment blocks to workbench.yaml, then commit it."""
    path = root / PROJECT_FILE
    write_atomic(path, with_environments(path, path.read_text(encoding="utf-8"), blocks))
    repo = gitrepo.open_repo(root)
    if repo is not None:
        gitrepo.commit_all(repo, "Add the demo environments", [PROJECT_FILE])
