"""``new --gitlab``: the group and one GitLab project per repo are made through the REST API
(recorded replies over real HTTP on 127.0.0.1) before each repo is pushed (real bare repos)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import GITLAB_TOKEN, FakeGitLab, serve_fake_gitlab

from workbench.errors import Unreachable
from workbench.ops.new import new_child, new_project


@pytest.fixture
def gitlab(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitLab]:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITLAB_TOKEN", GITLAB_TOKEN)
    with serve_fake_gitlab() as fake:
        fake.routes[("GET", "/api/v4/groups/acme?with_projects=false")] = (200, "group.json")
        for name in ("shop", "orders"):
            fake.routes[("GET", f"/api/v4/projects/acme%2F{name}")] = (404, "404_project.json")
        fake.routes[("POST", "/api/v4/projects")] = (201, "project.json")
        yield fake


def test_gitlab_projects_are_created_before_each_push(gitlab: FakeGitLab, tmp_path: Path) -> None:
    remote = f"file://{tmp_path}/host/{{group}}/{{name}}.git"
    created = new_project(tmp_path, "shop", remote=remote, group="acme", gitlab=gitlab.url)
    new_child(created.path, "endpoint", "orders")

    posts = [s for s in gitlab.seen if s.method == "POST"]
    assert [(p.body["name"], p.body["namespace_id"], p.body["visibility"]) for p in posts] == [
        ("shop", 84213, "private"), ("orders", 84213, "private")]
    assert {s.token for s in gitlab.seen} == {GITLAB_TOKEN}
    for name, local in (("shop", created.path), ("orders", created.path / "endpoints/orders")):
        bare = tmp_path / "host" / "acme" / f"{name}.git"
        head = subprocess.run(["git", "-C", str(local), "rev-parse", "HEAD"], text=True,
                              capture_output=True, check=True).stdout
        pushed = subprocess.run(["git", "-C", str(bare), "rev-parse", "main"], text=True,
                                capture_output=True, check=True).stdout
        assert pushed == head
    assert f"gitlab: {gitlab.url}" in (created.path / "workbench.yaml").read_text()


def test_rejected_token_stops_before_anything_is_written(gitlab: FakeGitLab,
                                                         tmp_path: Path) -> None:
    gitlab.routes[("GET", "/api/v4/groups/acme?with_projects=false")] = (401, "401.json")
    with pytest.raises(Unreachable) as caught:
        new_project(tmp_path, "shop", group="acme", gitlab=gitlab.url)
    assert caught.value.exit_code == 3 and GITLAB_TOKEN not in caught.value.line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
