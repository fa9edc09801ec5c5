"""``new`` in process: repos with commits, answers files, events, and all-or-nothing failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from workbench import events, gitrepo, registry
from workbench.errors import Unreachable
from workbench.model import load_project
from workbench.ops.new import new_child, new_project


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_new_project_and_children_make_repos_and_register(tmp_path: Path) -> None:
    seen: list[events.Event] = []
    created = new_project(tmp_path, "shop", emit=seen.append)
    root = tmp_path / "shop"
    assert created.path == root and created.remote is None
    assert git(root, "log", "--format=%s") == "Create project shop with workbench"
    assert git(root, "status", "--porcelain") == ""
    assert [e.name for e in registry.load()] == ["shop"]
    assert isinstance(seen[-1], events.Result) and seen[-1].ok
    finished = [e for e in seen if isinstance(e, events.StepFinished)]
    assert [e.step for e in finished] == ["render", "commit", "place"]
    assert all(e.ok and e.duration >= 0 for e in finished)

    new_child(root, "endpoint", "orders")
    new_child(root / "endpoints", "endpoint", "web", template="static")
    new_child(root, "model", "customer-record")
    new_child(root, "utility", "text")
    project = load_project(root)
    assert [e.name for e in project.endpoints] == ["orders", "web"]
    assert [(e.template, e.port) for e in project.endpoints] == [("python", 8000),
                                                                 ("static", 8080)]
    assert project.models[0].name == "customer-record"
    assert (root / "models" / "customer-record" / "customer_record" / "__init__.py").is_file()
    for child in project.children:
        assert git(child.path, "rev-list", "--count", "HEAD") == "1"
        answers = yaml.safe_load((child.path / ".workbench-answers.yaml").read_text())
        assert answers["inputs"] == {"name": child.name, "package": child.name.replace("-", "_"),
                                     "project": "shop"}
        assert answers["template_version"] == 1
    assert git(root, "log", "--format=%s").splitlines() == [
        "Add utility text", "Add model customer-record", "Add endpoint web",
        "Add endpoint orders", "Create project shop with workbench"]
    assert git(root, "status", "--porcelain") == ""  # children are ignored by the project repo


def test_registration_keeps_comments_and_layout(tmp_path: Path) -> None:
    new_project(tmp_path, "shop")
    path = tmp_path / "shop" / "workbench.yaml"
    text = path.read_text().replace("endpoints: []", "endpoints:   # the services\n  - first")
    path.write_text(text)
    (tmp_path / "shop" / "endpoints" / "first").mkdir()
    (tmp_path / "shop" / "endpoints" / "first" / "endpoint.yaml").write_text("port: 8000\n")
    new_child(tmp_path / "shop", "endpoint", "second")
    after = path.read_text()
    assert "endpoints:   # the services\n  - first\n  - second\n" in after
    assert after.replace("  - second\n", "") == text


def test_failure_while_pushing_removes_everything(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    remote = f"file://{tmp_path}/remotes/{{group}}/{{name}}.git"
    new_project(tmp_path, "shop", remote=remote)
    root = tmp_path / "shop"
    before = (root / "workbench.yaml").read_text()
    head = git(root, "rev-parse", "HEAD")

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gitrepo, "push", interrupted)
    with pytest.raises(KeyboardInterrupt):
        new_child(root, "endpoint", "orders")
    with pytest.raises(KeyboardInterrupt):
        new_project(tmp_path, "other", remote=remote)
    assert (root / "workbench.yaml").read_text() == before
    assert git(root, "rev-parse", "HEAD") == head
    assert sorted(p.name for p in (root / "endpoints").iterdir()) == [".gitkeep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "remotes", "shop"]
    assert [e.name for e in registry.load()] == ["shop"]


def test_project_push_failure_is_a_warning_not_a_loss(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    new_project(tmp_path, "shop", remote=f"file://{tmp_path}/remotes/{{group}}/{{name}}.git")

    def down(*_args: object) -> None:
        raise Unreachable("cannot push to the project remote", "check the network")

    monkeypatch.setattr(gitrepo, "push_existing", down)
    seen: list[events.Event] = []
    new_child(tmp_path / "shop", "endpoint", "orders", emit=seen.append)
    warnings = [e for e in seen if isinstance(e, events.Warning)]
    assert len(warnings) == 1 and "not pushed" in warnings[0].message
    assert git(tmp_path / "remotes" / "shop" / "orders.git", "log", "--format=%s", "main") == (
        "Create endpoint orders from template python v1")


def test_registry_reports_moved_projects(tmp_path: Path) -> None:
    new_project(tmp_path, "one")
    new_project(tmp_path, "two")
    (tmp_path / "two").rename(tmp_path / "moved")
    assert [(e.name, e.exists) for e in registry.load()] == [("one", True), ("two", False)]
    assert registry.remove(tmp_path / "two") is True
    assert [e.name for e in registry.load()] == ["one"]
    assert registry.remove(tmp_path / "two") is False
