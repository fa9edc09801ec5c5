"""Bad input to ``clone``, ``sync`` and ``update`` through the real CLI: one line on stderr
naming the problem and the fix, the right exit code, no traceback, nothing half-made."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import template_v2
from team_project import GROUP, git, make_shop

from workbench import registry

BAD_INPUT, UNREACHABLE = 2, 3
RunWorkbench = Callable[..., subprocess.CompletedProcess[str]]


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    err = done.stderr.strip()
    assert "Traceback" not in done.stderr + done.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("workbench: error: "), err
    for word in words:
        assert word in err, err


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (the .git folders too) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "index.lock" not in p.name}


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, str]:
    """A project pushed to file:// bare repos; returns (its folder, the project repo URL)."""
    host = tmp_path / "git-host"
    root = make_shop(tmp_path / "alice", "shop", f"file://{host}/{{group}}/{{name}}.git")
    return root, f"file://{host}/{GROUP}/shop.git"


# -- clone -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "words"), [
    ("not a url", ["is not a git URL", "give the project repo's URL"]),
    ("https://{group}/{name}.git", ["is a URL template"]),
    ("ftp://host/shop.git", ["is not a git URL"]),
    ("--upload-pack=touch /tmp/x", ["is not a git URL"]),
])
def test_clone_refuses_what_is_not_a_git_url(run_workbench: RunWorkbench, tmp_path: Path,
                                             url: str, words: list[str]) -> None:
    done = run_workbench("--batch", "clone", url, cwd=tmp_path)
    assert_one_line_error(done, BAD_INPUT, *words)
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]


def test_a_url_that_is_not_a_workbench_project(run_workbench: RunWorkbench, tmp_path: Path,
                                               remote: tuple[Path, str]) -> None:
    _, url = remote
    work = tmp_path / "bob"
    work.mkdir()
    done = run_workbench("--batch", "clone", url.replace("shop.git", "orders.git"), cwd=work)
    assert_one_line_error(done, BAD_INPUT, "orders.git is not a workbench project",
                          "no workbench.yaml", "the project's repo")
    assert list(work.iterdir()) == []  # no folder, no staging folder
    assert [e.name for e in registry.load()] == ["shop"]  # alice's only


def test_a_project_repo_that_is_not_there(run_workbench: RunWorkbench, tmp_path: Path) -> None:
    done = run_workbench("--batch", "clone", f"file://{tmp_path}/nowhere/shop.git", cwd=tmp_path)
    assert_one_line_error(done, UNREACHABLE, "cannot clone", "does not appear to be a git "
                          "repository", "check the URL")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_a_child_repo_missing_on_the_remote(run_workbench: RunWorkbench, tmp_path: Path,
                                            remote: tuple[Path, str]) -> None:
    _, url = remote
    shutil.rmtree(tmp_path / "git-host" / GROUP / "customer.git")
    work = tmp_path / "bob"
    work.mkdir()
    done = run_workbench("--batch", "clone", url, cwd=work)
    assert_one_line_error(done, UNREACHABLE, "model customer is not on the git remote",
                          "customer.git", "remove 'customer' from 'models'")
    assert sorted(p.name for p in (work / "shop" / "models").iterdir()) == [".gitkeep"]
    assert (work / "shop" / "endpoints" / "orders" / "app.py").is_file()  # the others arrived


def test_a_target_folder_that_exists(run_workbench: RunWorkbench, tmp_path: Path,
                                     remote: tuple[Path, str]) -> None:
    _, url = remote
    work = tmp_path / "bob"
    (work / "shop").mkdir(parents=True)
    (work / "shop" / "mine.txt").write_text("keep me\n")
    before = snapshot(work)
    done = run_workbench("--batch", "clone", url, cwd=work)
    assert_one_line_error(done, BAD_INPUT, f"{work / 'shop'} already exists",
                          "choose another folder")
    assert snapshot(work) == before
    # a clone of another project there is refused too, naming what it is
    other = tmp_path / "other"
    (other / "endpoints").mkdir(parents=True)
    (other / "workbench.yaml").write_text("project: other\n")
    git(other, "init", "-q")
    git(other, "remote", "add", "origin", "file:///srv/git/other.git")
    before = snapshot(other)
    done = run_workbench("--batch", "clone", url, "other", cwd=tmp_path)
    assert_one_line_error(done, BAD_INPUT, "is a clone of file:///srv/git/other.git")
    assert snapshot(other) == before


def test_sync_outside_a_project(run_workbench: RunWorkbench, tmp_path: Path) -> None:
    done = run_workbench("--batch", "sync", cwd=tmp_path)
    assert_one_line_error(done, BAD_INPUT, "not inside a workbench project")


# -- update ------------------------------------------------------------------------------------
@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return template_v2.make_templates(tmp_path)


@pytest.fixture
def shop(tmp_path: Path, templates: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_SCAFFOLDS", str(templates))
    root = make_shop(tmp_path / "alice", "shop", f"file://{tmp_path}/git/{{group}}/{{name}}.git")
    template_v2.bump(templates)
    return root


def update(run_workbench: RunWorkbench, root: Path, *args: str
           ) -> subprocess.CompletedProcess[str]:
    return run_workbench("--batch", "update", *args, cwd=root)


def test_an_answers_file_edited_by_hand(run_workbench: RunWorkbench, shop: Path) -> None:
    orders = shop / "endpoints" / "orders"
    answers = orders / ".workbench-answers.yaml"
    answers.write_text(answers.read_text().replace("template_version: 1",
                                                   "template_version: 2"))
    git(orders, "commit", "-qam", "skip the update")
    before = snapshot(orders)
    done = update(run_workbench, shop, "-e", "orders")
    assert_one_line_error(done, BAD_INPUT, "was edited by hand", "checksum",
                          "restore it from git")
    assert snapshot(orders) == before
    # broken YAML, and a name that is not the folder's
    answers.write_text("template: [python\n")
    git(orders, "commit", "-qam", "broken")
    assert_one_line_error(update(run_workbench, shop, "-e", "orders"), BAD_INPUT,
                          "is not valid YAML")


def test_an_answers_file_that_is_missing(run_workbench: RunWorkbench, shop: Path) -> None:
    customer = shop / "models" / "customer"
    git(customer, "rm", "-q", ".workbench-answers.yaml")
    git(customer, "commit", "-qm", "gone")
    before = snapshot(customer)
    done = update(run_workbench, shop, "-m", "customer")
    assert_one_line_error(done, BAD_INPUT, "model customer has no .workbench-answers.yaml",
                          "checkout HEAD -- .workbench-answers.yaml")
    assert snapshot(customer) == before


def test_a_template_that_no_longer_exists(run_workbench: RunWorkbench, shop: Path,
                                          templates: Path) -> None:
    shutil.rmtree(templates / "endpoint-static")
    site = shop / "endpoints" / "site"
    before = snapshot(site)
    done = update(run_workbench, shop, "-e", "site")
    assert_one_line_error(done, BAD_INPUT, "was made from the endpoint template 'static'",
                          "no longer has", "its endpoint templates are: python")
    assert snapshot(site) == before


@pytest.mark.parametrize(("args", "words"), [
    ((), ["which folders?", "--all"]),
    (("-e", "order"), ["has no endpoint 'order'", "did you mean 'orders'"]),
    (("--all", "-e", "orders"), ["not both"]),
    (("-m", "orders"), ["has no model 'orders'"]),
])
def test_update_names_what_it_updates(run_workbench: RunWorkbench, shop: Path,
                                      args: tuple[str, ...], words: list[str]) -> None:
    before = snapshot(shop / "endpoints" / "orders")
    assert_one_line_error(update(run_workbench, shop, *args), BAD_INPUT, *words)
    assert snapshot(shop / "endpoints" / "orders") == before
