"""Small core parts: names, remote templates, the YAML editor, git state, the headless rule."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import HANG_GUARD

from workbench import gitstate, names, projectfile, remotes
from workbench.errors import BadInput, ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["a", "orders", "order-api", "a1", "x" * 40])
def test_valid_names(name: str) -> None:
    assert names.problem(name) is None and names.check(name, "endpoint") == name


@pytest.mark.parametrize(("name", "fix"), [("Orders", "orders"), ("my_api", "my-api"),
                                           ("9lives", "lives"), ("a--", "a")])
def test_invalid_names_suggest_a_valid_one(name: str, fix: str) -> None:
    with pytest.raises(BadInput, match=f"try '{fix}'"):
        names.check(name, "endpoint")
    assert names.problem(names.suggest(name)) is None


@pytest.mark.parametrize("template", [
    "file:///srv/git/{group}/{name}.git", "git@gitlab.example.com:{group}/{name}.git",
    "ssh://git@127.0.0.1:2222/srv/{name}.git", "https://git.example.com/{group}/{name}.git",
    "ssh://h/{name}"])
def test_good_remote_templates(template: str) -> None:
    assert remotes.check_template(template) == template
    assert "{" not in remotes.render(template, group="g", name="n")


def test_file_remote_path() -> None:
    assert remotes.local_path("file:///srv/a%20b/x.git") == "/srv/a b/x.git"
    assert remotes.local_path("ssh://h/x.git") is None


FLOW = "project: shop\nendpoints: [a]  # mine\nmodels: []\n"
BLOCK = "project: shop\nendpoints:\n  - a   # first\n  # trailing comment\nmodels: []\n"


@pytest.mark.parametrize(("text", "key", "expected"), [
    (FLOW, "endpoints", "project: shop\nendpoints: [a, b]  # mine\nmodels: []\n"),
    (FLOW, "models", "project: shop\nendpoints: [a]  # mine\nmodels: [b]\n"),
    (FLOW, "utilities", FLOW + "utilities: [b]\n"),
    (BLOCK, "endpoints",
     "project: shop\nendpoints:\n  - a   # first\n  - b\n  # trailing comment\nmodels: []\n"),
    ("project: shop\nmodels:\n", "models", "project: shop\nmodels: [b]\n"),
])
def test_adding_a_child_edits_only_its_list(text: str, key: str, expected: str) -> None:
    assert projectfile.with_child(Path("workbench.yaml"), text, key, "b") == expected


def test_adding_a_child_to_a_non_list_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"workbench\.yaml:2: 'endpoints' must be a list"):
        projectfile.with_child(Path("workbench.yaml"), "project: x\nendpoints: {a: 1}\n",
                               "endpoints", "b")


def test_git_state_parses_porcelain() -> None:
    state = gitstate.parse("# branch.oid abc\n# branch.head main\n# branch.upstream origin/main\n"
                           "# branch.ab +2 -1\n1 .M N... 100644 100644 100644 a b f.py\n")
    assert (state.branch, state.dirty, state.ahead, state.behind) == ("main", True, 2, 1)
    assert state.summary() == "main dirty +2/-1"
    assert gitstate.parse("# branch.head main\n").summary() == "main clean no upstream"


def test_git_state_of_real_repos(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(repo)], check=True)
    (repo / "f").write_text("x")
    states = gitstate.read_many([repo, tmp_path])
    assert states[0].branch == "trunk" and states[0].dirty
    assert not states[1].repo and states[1].summary() == "not a repo"


def test_batch_list_loads_neither_textual_nor_heavy_libraries(run_workbench,
                                                              tmp_path: Path) -> None:
    assert run_workbench("--batch", "new", "shop", cwd=tmp_path).returncode == 0
    assert run_workbench("--batch", "new", "-e", "api", cwd=tmp_path / "shop").returncode == 0
    probe = (
        "import sys, json, io, contextlib\n"
        "from workbench.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = run(['--batch', '-C', {str(tmp_path / 'shop')!r}, 'list'])\n"
        "print(json.dumps([code, sorted(m.split('.')[0] for m in sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    code, modules = json.loads(done.stdout)
    assert code == 0
    for heavy in ("textual", "screens", "rich", "docker", "asyncssh", "git", "jinja2"):
        assert heavy not in modules, f"batch list imported {heavy}"


def test_batch_new_does_not_import_textual(run_workbench, tmp_path: Path) -> None:
    probe = ("import sys\nfrom workbench.cli import run\n"
             f"code = run(['--batch', '-C', {str(tmp_path)!r}, 'new', 'shop'])\n"
             "assert code == 0, code\n"
             "assert not [m for m in sys.modules if m.startswith(('textual', 'screens'))]\n")
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True)


def test_the_core_never_imports_textual_or_screens() -> None:
    offenders = []
    for path in (ROOT / "workbench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                       [node.module or ""] if isinstance(node, ast.ImportFrom) and
                       not node.level else [])
            offenders += [f"{path.name}: {m}" for m in modules
                          if m.split(".")[0] in ("textual", "screens")]
    assert offenders == []


def test_a_reader_that_goes_away_does_not_abort_new(tmp_path: Path) -> None:
    """`workbench --batch new ... | head -1`: the project is still made, quietly."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line
    done = subprocess.run([sys.executable, "-m", "workbench", "--batch", "new", "shop",
                           "--json"], cwd=tmp_path, stdout=writer, stderr=subprocess.PIPE,
                          text=True, timeout=HANG_GUARD)
    os.close(writer)
    assert done.returncode == 0 and done.stderr == ""
    assert (tmp_path / "shop" / "workbench.yaml").is_file()


def test_a_failed_deploy_line_gives_the_problem_then_the_fix() -> None:
    from workbench.health import Unhealthy
    from workbench.ops.report import DeployReport, Outcome
    from workbench.ops.runparts import OnHost, fix

    unhealthy = Unhealthy("GET /health did not answer 200 within 3s (last: 404)", ())
    assert fix(OnHost("web-2", unhealthy)) == fix(unhealthy) == "see its last log lines"
    assert fix(RuntimeError("boom")) == ""
    report = DeployReport("staging", (
        Outcome("orders", False, "v2", True, unhealthy.problem, ("web-1",), fix=fix(unhealthy)),
        Outcome("site", False, "v1", True, "RuntimeError: boom"),
        Outcome("billing", True, "v3", True)))
    assert report.summary().splitlines() == [
        "orders  FAILED  GET /health did not answer 200 within 3s (last: 404); switched back on "
        "web-1; see its last log lines",
        "site  FAILED  RuntimeError: boom",
        "billing  deployed  v3",
        "staging: 1 ok, 2 failed (orders, site)"]
    assert report.outcomes[0].as_dict()["fix"] == "see its last log lines"
