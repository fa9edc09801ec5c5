"""``update``: a template change reaches a folder made from the old version, local edits
survive, a clash leaves conflict markers and no commit, ``--dry-run`` changes nothing."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import template_v2
from team_project import git
from template_v2 import CHANGELOG, NEW_LINE, OLD_LINE, OTHER_LINE

from workbench import cli
from workbench.ops.listing import list_project
from workbench.ops.new import new_child, new_project
from workbench.ops.update import Target, plan_update, update


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with endpoints orders, billing (python) and site (static), made from the
    templates where endpoint-python is still at version 1."""
    templates = template_v2.make_templates(tmp_path)
    monkeypatch.setenv("WORKBENCH_SCAFFOLDS", str(templates))
    root = new_project(tmp_path, "shop").path
    for name in ("orders", "billing"):
        new_child(root, "endpoint", name)
    new_child(root, "endpoint", "site", template="static")
    return root


def bump(root: Path) -> None:
    template_v2.bump(root.parent / "scaffolds")


def edit_and_commit(repo: Path, old: str, new: str) -> None:
    app = repo / "app.py"
    text = app.read_text()
    assert old in text
    app.write_text(text.replace(old, new))
    git(repo, "commit", "-qam", f"my edit: {new}")


def run(*args: str, cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(["--batch", "-C", str(cwd), *args])
    return code, out.getvalue(), err.getvalue()


def state(repo: Path) -> tuple[str, str, dict[str, bytes]]:
    """HEAD, status and every file's bytes (outside .git)."""
    files = {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*"))
             if p.is_file() and ".git" not in p.relative_to(repo).parts}
    return git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"), files


def test_a_template_change_reaches_an_old_endpoint_and_keeps_its_edits(shop: Path) -> None:
    orders = shop / "endpoints" / "orders"
    edit_and_commit(orders, OTHER_LINE, 'server_version = "orders/7"')
    bump(shop)
    listing = list_project(shop)
    row = next(r for r in listing.rows if r.child.name == "orders")
    assert row.template.update_available and row.template.summary() == "python 1 → 2 available"
    assert not next(r for r in listing.rows if r.child.name == "site").template.update_available
    code, shown, _err = run("list", cwd=shop)
    assert code == 0
    assert any(line.split()[:2] == ["endpoint", "orders"] and "python 1 → 2 available" in line
               for line in shown.splitlines()), shown

    code, out, err = run("update", "-e", "orders", cwd=shop)

    assert code == 0, out + err
    assert "endpoint orders: updated v1 -> v2 (commit " in out
    text = (orders / "app.py").read_text()
    assert NEW_LINE in text and OLD_LINE not in text  # the template's changed line
    assert 'server_version = "orders/7"' in text  # the local edit to another line
    assert (orders / "CONTRIBUTING.md").read_text().startswith("# Contributing to orders")
    assert not (orders / "lib" / "README.md").exists()  # dropped by v2, unchanged here
    assert git(orders, "status", "--porcelain") == ""
    message = git(orders, "log", "-1", "--format=%B")
    assert message.startswith("Update endpoint orders from template python v1 to v2")
    assert f"v2: {CHANGELOG}" in message
    changed = set(git(orders, "show", "--name-status", "--format=", "HEAD").splitlines())
    assert changed == {"M\t.workbench-answers.yaml", "A\tCONTRIBUTING.md", "M\tapp.py",
                       "D\tlib/README.md"}
    answers = (orders / ".workbench-answers.yaml").read_text()
    assert "template_version: 2" in answers
    assert not next(r for r in list_project(shop).rows
                    if r.child.name == "orders").template.update_available
    # a second run has nothing to do
    code, out, _ = run("update", "-e", "orders", cwd=shop)
    assert code == 0 and "endpoint orders: current" in out


def test_an_edit_to_the_same_line_gives_conflict_markers_and_no_commit(shop: Path) -> None:
    billing = shop / "endpoints" / "billing"
    edit_and_commit(billing, OLD_LINE, "GRACE_SECONDS = 7.0")
    head = git(billing, "rev-parse", "HEAD")
    bump(shop)

    code, out, err = run("update", "-e", "billing", cwd=shop)

    assert code == 1, out + err
    assert "endpoint billing: conflict v1 -> v2" in out and "app.py" in out
    assert err.count("\n") == 1 and "resolve app.py" in err and "reset --hard" in err
    text = (billing / "app.py").read_text()
    assert ("<<<<<<< yours\nGRACE_SECONDS = 7.0" in text
            and "=======\nGRACE_SECONDS = 10.0" in text
            and ">>>>>>> template python v2\n" in text)
    assert git(billing, "rev-parse", "HEAD") == head  # nothing committed
    status = {line.strip() for line in git(billing, "status", "--porcelain").splitlines()}
    assert status == {"M .workbench-answers.yaml", "M app.py", "?? CONTRIBUTING.md",
                      "D lib/README.md"}
    assert git(billing, "diff", "--cached", "--name-only") == ""  # nothing staged either
    assert "template_version: 2" in (billing / ".workbench-answers.yaml").read_text()
    # the repo is dirty now: another update is refused until the user resolves and commits
    code, out, err = run("update", "-e", "billing", cwd=shop)
    assert code == 2 and "has uncommitted changes" in err


def test_dry_run_prints_the_diff_and_changes_nothing(shop: Path) -> None:
    orders, billing = shop / "endpoints" / "orders", shop / "endpoints" / "billing"
    edit_and_commit(billing, OLD_LINE, "GRACE_SECONDS = 7.0")
    bump(shop)
    before = {p: state(p) for p in (shop, orders, billing, shop / "endpoints" / "site")}

    code, out, err = run("update", "--all", "--dry-run", cwd=shop)

    assert {p: state(p) for p in before} == before
    assert code == 1, out + err  # billing would conflict
    assert "--- a/app.py\n+++ b/app.py\n" in out
    assert f"-{OLD_LINE}" in out and f"+{NEW_LINE}" in out
    assert "+++ b/CONTRIBUTING.md\n@@ -0,0 +1,3 @@\n+# Contributing to orders" in out
    assert "--- a/lib/README.md\n+++ /dev/null" in out
    assert "-template_version: 1\n+template_version: 2" in out
    assert "endpoint orders: would update v1 -> v2" in out
    assert "endpoint billing: would conflict v1 -> v2" in out and "<<<<<<< yours" in out
    assert "endpoint site: current" in out and "project shop: current" in out
    assert "dry run: nothing was changed" in out


def test_inside_an_endpoint_update_alone_updates_it_and_json_has_the_outcome(
        shop: Path) -> None:
    orders = shop / "endpoints" / "orders"
    bump(shop)
    code, out, _ = run("update", "--json", cwd=orders / "tests")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    result = events[-1]
    assert result["event"] == "result" and result["ok"]
    [folder] = result["data"]["folders"]
    assert (folder["name"], folder["status"], folder["from_version"],
            folder["to_version"]) == ("orders", "updated", 1, 2)
    assert folder["commit"] == git(orders, "rev-parse", "HEAD")
    assert "+++ b/CONTRIBUTING.md" in folder["diff"]
    # billing was not named: untouched
    assert "template_version: 1" in (shop / "endpoints" / "billing" /
                                     ".workbench-answers.yaml").read_text()


def test_an_executable_bit_and_a_file_deleted_here_follow_the_merge_rules(shop: Path) -> None:
    orders = shop / "endpoints" / "orders"
    git(orders, "rm", "-q", "Dockerfile")
    git(orders, "commit", "-qm", "no Dockerfile")
    templates = shop.parent / "scaffolds"
    template_v2.bump(templates)
    files = templates / "endpoint-python" / "files"
    (files / "Dockerfile").write_text((files / "Dockerfile").read_text() + "# v2\n")
    (files / "tests" / "test_api.py").chmod(0o755)
    plan = plan_update(Target("endpoint", "orders", orders))
    assert plan is not None
    by_path = {c.path: c for c in plan.changes}
    assert by_path["Dockerfile"].action == "conflict"  # deleted here, changed in the template
    assert "you deleted it" in by_path["Dockerfile"].reason
    assert by_path["tests/test_api.py"].mode == 0o111
    assert "# tests/test_api.py becomes executable" in plan.diff()


def test_a_dirty_repo_is_refused_and_left_as_it_was(shop: Path) -> None:
    orders = shop / "endpoints" / "orders"
    bump(shop)
    (orders / "app.py").write_text((orders / "app.py").read_text() + "# wip\n")
    before = state(orders)
    code, out, err = run("update", "-e", "orders", "-e", "billing", cwd=shop)
    assert code == 2, out + err
    assert "endpoint orders: refused" in out and "has uncommitted changes" in err
    assert "endpoint billing: updated v1 -> v2" in out  # one refusal never stops the others
    assert state(orders) == before




def test_a_commit_that_fails_puts_the_folder_back(shop: Path) -> None:
    orders = shop / "endpoints" / "orders"
    bump(shop)
    plan = plan_update(Target("endpoint", "orders", orders))
    assert plan is not None
    before = state(orders)
    (orders / ".git" / "index.lock").write_text("")  # another git holds the index: add fails
    report = update([Target("endpoint", "orders", orders)])
    (orders / ".git" / "index.lock").unlink()
    [outcome] = report.outcomes
    assert outcome.status == "failed" and report.exit_code == 1
    assert "cannot update endpoint orders" in outcome.reason and "put back" in outcome.reason
    assert state(orders) == before
