"""``ensure_demo``: a demo project in the user's data folder, to look around without setup.

``$XDG_DATA_HOME/workbench/demo/demo`` holds two endpoints (python and static), a model, a
utility and two example environments on hosts that cannot resolve (``.invalid``), so nothing is
ever contacted. It has no git remote. Calling it again returns the existing project and only
adds what is missing (for instance after an interrupted first run).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .. import registry
from ..errors import ConfigError
from ..events import Emit, ignore
from ..model import PROJECT_FILE, Kind, load_project, parse_project_file
from ..paths import data_dir
from ..yamlfile import parse, write_atomic

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
    """Append environment blocks after the last line of ``environments:``, then commit."""
    path = root / PROJECT_FILE
    text = path.read_text(encoding="utf-8")
    node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    envs = next((v for k, v in node.value if k.value == "environments"), None)
    if not isinstance(envs, yaml.MappingNode) or envs.flow_style or not envs.value:
        raise ConfigError(path, None, "the demo expects a block 'environments:' mapping",
                          f"remove {root} and open the demo again")
    last: yaml.Node = envs.value[-1][1]
    while isinstance(last, yaml.MappingNode | yaml.SequenceNode) and last.value:
        item = last.value[-1]
        last = item[1] if isinstance(item, tuple) else item
    end = text.find("\n", last.end_mark.index)
    end = len(text) if end < 0 else end + 1
    new = text[:end] + "".join(blocks) + text[end:]
    parse_project_file(path, parse(new, path))
    write_atomic(path, new)
    import git

    from .. import gitrepo

    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return
    gitrepo.commit_all(repo, "Add the demo environments", [PROJECT_FILE])
