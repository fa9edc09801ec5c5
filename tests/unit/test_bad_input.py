"""Bad input through the real CLI: one line naming the problem and the fix, the right exit
code, no traceback, and nothing half-created (no folder, no registry entry, no changed file).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

BAD_INPUT, UNREACHABLE = 2, 3


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below root (outside .git folders) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    err = done.stderr.strip()
    assert "Traceback" not in done.stderr + done.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("workbench: error: "), err
    for word in words:
        assert word in err, err


@pytest.fixture
def project(run_workbench: Callable[..., subprocess.CompletedProcess[str]],
            tmp_path: Path) -> Path:
    done = run_workbench("--batch", "new", "shop", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_workbench("--batch", "new", "-e", "orders", cwd=tmp_path / "shop")
    assert done.returncode == 0, done.stderr
    return tmp_path / "shop"


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- new PROJECT -------------------------------------------------------------------------------
NEW_PROJECT_CASES = [
    pytest.param(["new"], BAD_INPUT, ["needs a PROJECT name"], id="no-name"),
    pytest.param(["new", "Shop"], BAD_INPUT, ["bad project name", "'shop'"], id="upper-case"),
    pytest.param(["new", "my shop"], BAD_INPUT, ["' '", "try 'my-shop'"], id="space"),
    pytest.param(["new", "a;rm -rf ~"], BAD_INPUT, ["';'"], id="shell-chars"),
    pytest.param(["new", "$(id)"], BAD_INPUT, ["'$'"], id="command-substitution"),
    pytest.param(["new", "../evil"], BAD_INPUT, ["'.'", "'/'"], id="path-up"),
    pytest.param(["new", "a/b"], BAD_INPUT, ["'/'"], id="path-sep"),
    pytest.param(["new", "x" * 41], BAD_INPUT, ["41 characters", "limit is 40"], id="too-long"),
    pytest.param(["new", "1shop"], BAD_INPUT, ["start with a letter"], id="digit-first"),
    pytest.param(["new", "shop-"], BAD_INPUT, ["must not end with '-'"], id="dash-last"),
    pytest.param(["new", "--", "-shop"], BAD_INPUT, ["bad project name"], id="dash-first"),
    pytest.param(["new", "café"], BAD_INPUT, ["'é'"], id="non-ascii"),
    pytest.param(["new", "shop", "--git-remote", "file:///srv/{group}/{nom}.git"], BAD_INPUT,
                 ["{nom}", "only {group} and {name}"], id="remote-unknown-placeholder"),
    pytest.param(["new", "shop", "--git-remote", "file:///srv/git/repo.git"], BAD_INPUT,
                 ["has no {name}"], id="remote-without-name"),
    pytest.param(["new", "shop", "--git-remote", "ftp://host/{name}.git"], BAD_INPUT,
                 ["not a git URL"], id="remote-bad-scheme"),
    pytest.param(["new", "shop", "--git-remote", "file://relative/{name}"], BAD_INPUT,
                 ["absolute path"], id="remote-relative-file"),
    pytest.param(["new", "shop", "--git-remote", "git@host:{name"], BAD_INPUT,
                 ["unbalanced braces"], id="remote-unbalanced"),
    pytest.param(["new", "shop", "--git-remote", "git@host:{name}.git;reboot"], BAD_INPUT,
                 ["shell characters"], id="remote-shell"),
    pytest.param(["new", "shop", "--group", "team"], BAD_INPUT,
                 ["--group needs --git-remote or --gitlab"], id="group-alone"),
    pytest.param(["new", "shop", "--git-remote", "file:///tmp/{name}", "--group", "a b"],
                 BAD_INPUT, ["bad git group"], id="bad-group"),
    pytest.param(["new", "shop", "--gitlab", "https://gitlab.example.com"], BAD_INPUT,
                 ["GITLAB_TOKEN is not set"], id="gitlab-no-token"),
    pytest.param(["new", "shop", "--gitlab", "gitlab.example.com"], BAD_INPUT,
                 ["gitlab"], id="gitlab-bad-url"),
    pytest.param(["new", "shop", "--template", "static"], BAD_INPUT,
                 ["--template is for endpoints"], id="template-on-project"),
    pytest.param(["new", "shop", "-e", "orders"], BAD_INPUT, ["not both"], id="project-and-e"),
    pytest.param(["new", "-e", "a", "-m", "b"], BAD_INPUT, ["not allowed with"], id="e-and-m"),
    pytest.param(["nwe", "shop"], BAD_INPUT, ["invalid choice"], id="unknown-command"),
    pytest.param([], BAD_INPUT, ["no command given"], id="no-command"),
    pytest.param(["-C", "/nonexistent/dir", "list"], BAD_INPUT, ["does not exist"],
                 id="missing-dir"),
]


@pytest.mark.parametrize(("args", "code", "words"), NEW_PROJECT_CASES)
def test_new_project_bad_input_leaves_nothing(run_workbench, tmp_path: Path, args: list[str],
                                              code: int, words: list[str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = run_workbench("--batch", *args, cwd=work)
    assert_one_line_error(done, code, *words)
    assert list(work.iterdir()) == []
    assert not (tmp_path / "home" / ".config" / "workbench" / "projects.yaml").exists()


def test_existing_target_folder_is_left_untouched(run_workbench, tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "mine.txt").write_text("keep me")
    done = run_workbench("--batch", "new", "shop", cwd=tmp_path)
    assert_one_line_error(done, BAD_INPUT, "already exists", "choose another project name")
    assert [p.name for p in (tmp_path / "shop").iterdir()] == ["mine.txt"]


def test_unreachable_git_remote_is_exit_3_and_leaves_nothing(run_workbench,
                                                             tmp_path: Path) -> None:
    port = refused_port()
    done = run_workbench("--batch", "new", "shop", "--git-remote",
                         f"ssh://git@127.0.0.1:{port}/srv/{{group}}/{{name}}.git", cwd=tmp_path)
    assert_one_line_error(done, UNREACHABLE, "cannot push to ssh://git@127.0.0.1",
                          "Connection refused")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    assert not (tmp_path / "home" / ".config" / "workbench" / "projects.yaml").exists()


def test_remote_that_cannot_be_created_is_exit_3(run_workbench, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    done = run_workbench("--batch", "new", "shop", "--git-remote",
                         f"file://{blocker}/{{group}}/{{name}}.git", cwd=tmp_path)
    assert_one_line_error(done, UNREACHABLE, "cannot create the bare repo")
    assert not (tmp_path / "shop").exists()


def test_refusing_git_remote_is_exit_2(run_workbench, tmp_path: Path) -> None:
    bare = tmp_path / "remotes" / "shop" / "shop.git"
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(other)], check=True)
    (other / "x").write_text("x")
    git = ["git", "-C", str(other), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "x"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    subprocess.run([*git, "push", "-q", str(bare), "main"], check=True)
    work = tmp_path / "work"
    work.mkdir()
    done = run_workbench("--batch", "new", "shop", "--git-remote",
                         f"file://{tmp_path}/remotes/{{group}}/{{name}}.git", cwd=work)
    assert_one_line_error(done, BAD_INPUT, "rejected the push", "already holds other commits")
    assert list(work.iterdir()) == []


# -- inside a project --------------------------------------------------------------------------
CHILD_CASES = [
    pytest.param(["new", "-e", "Orders2"], ["bad endpoint name"], id="bad-child-name"),
    pytest.param(["new", "-e", "a|b"], ["'|'"], id="child-shell-char"),
    pytest.param(["new", "-m", "../../x"], ["bad model name"], id="child-path"),
    pytest.param(["new", "-e", "orders"], ["already used"], id="duplicate-child"),
    pytest.param(["new", "-u", "shop"], ["already used by the project"], id="child-is-project"),
    pytest.param(["new", "-e", "proxy"], ["reserved"], id="reserved"),
    pytest.param(["new", "-e", "api", "--template", "nope"], ["no endpoint template 'nope'",
                                                              "python", "static"], id="template"),
    pytest.param(["new", "-m", "m1", "--template", "python"], ["--template is for endpoints"],
                 id="template-on-model"),
    pytest.param(["new", "-e", "api", "--git-remote", "file:///x/{name}"],
                 ["set once per project"], id="remote-on-child"),
]


@pytest.mark.parametrize(("args", "words"), CHILD_CASES)
def test_child_bad_input_changes_nothing(run_workbench, project: Path, args: list[str],
                                         words: list[str]) -> None:
    before = snapshot(project)
    done = run_workbench("--batch", *args, cwd=project)
    assert_one_line_error(done, BAD_INPUT, *words)
    assert snapshot(project) == before


def test_new_child_outside_a_project(run_workbench, tmp_path: Path) -> None:
    done = run_workbench("--batch", "new", "-e", "orders", cwd=tmp_path)
    assert_one_line_error(done, BAD_INPUT, "not inside a workbench project", "-C PROJECT_DIR")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_list_outside_a_project(run_workbench, tmp_path: Path) -> None:
    done = run_workbench("--batch", "list", cwd=tmp_path)
    assert_one_line_error(done, BAD_INPUT, "not inside a workbench project")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        pytest.param(lambda t: t + "environments: [oops\n", ["invalid YAML", "workbench.yaml:"],
                     id="malformed-yaml"),
        pytest.param(lambda t: t.replace("models: []", "modles: []"),
                     ["unknown key 'modles'", "did you mean 'models'"], id="unknown-key"),
        pytest.param(lambda t: t.replace("proxy_port: 8080", "proxy_port: eighty"),
                     ["whole number"], id="wrong-type"),
        pytest.param(lambda t: t + "project: again\n", ["given twice"], id="duplicate-key"),
        pytest.param(lambda t: t.replace("proxy_port: 8080", "proxy_bind: localhost"),
                     ["proxy_bind 'localhost' is not an IP address", "127.0.0.1"],
                     id="proxy-bind-not-an-ip"),
        pytest.param(lambda t: t.replace("build_args: {}", "build_args: [BASE_IMAGE]"),
                     ["build_args", "must be a mapping"], id="build-args-not-a-mapping"),
    ],
)
def test_invalid_project_file(run_workbench, project: Path, edit, words: list[str]) -> None:
    path = project / "workbench.yaml"
    path.write_text(edit(path.read_text()))
    before = snapshot(project)
    for args in (["list"], ["new", "-e", "api"]):
        done = run_workbench("--batch", *args, cwd=project)
        assert_one_line_error(done, BAD_INPUT, f"{path}:", *words)
    assert snapshot(project) == before


def test_missing_endpoint_file(run_workbench, project: Path) -> None:
    (project / "endpoints" / "orders" / "endpoint.yaml").unlink()
    done = run_workbench("--batch", "list", cwd=project)
    assert_one_line_error(done, BAD_INPUT, "has no endpoint.yaml", "clone its repo")


def test_unknown_key_in_endpoint_file(run_workbench, project: Path) -> None:
    path = project / "endpoints" / "orders" / "endpoint.yaml"
    path.write_text(path.read_text() + "helth: /x\n")
    line = len(path.read_text().splitlines())
    done = run_workbench("--batch", "list", cwd=project)
    assert_one_line_error(done, BAD_INPUT, f"{path}:{line}:", "did you mean 'health'")


def test_unreachable_remote_for_a_child_changes_nothing(run_workbench, project: Path) -> None:
    path = project / "workbench.yaml"
    port = refused_port()
    path.write_text(path.read_text().replace(
        "project: shop\n",
        f"project: shop\ngit:\n  remote: ssh://git@127.0.0.1:{port}/srv/{{name}}.git\n"))
    subprocess.run(["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qam", "remote"], check=True)
    before = snapshot(project)
    done = run_workbench("--batch", "new", "-e", "api", cwd=project)
    assert_one_line_error(done, UNREACHABLE, "cannot push")
    assert snapshot(project) == before
    assert sorted(p.name for p in (project / "endpoints").iterdir()) == [".gitkeep", "orders"]


def test_corrupt_registry(run_workbench, tmp_path: Path) -> None:
    registry = tmp_path / "home" / ".config" / "workbench" / "projects.yaml"
    registry.parent.mkdir(parents=True)
    registry.write_text("projects: {oops\n")
    done = run_workbench("--batch", "projects", cwd=tmp_path)
    assert_one_line_error(done, BAD_INPUT, str(registry), "invalid YAML")


# -- test --------------------------------------------------------------------------------------
TEST_CASES = [
    pytest.param(["test"], BAD_INPUT, ["none was named", "-e NAME"], id="nothing-named"),
    pytest.param(["test", "-e", "ordes"], BAD_INPUT, ["no endpoint 'ordes'", "orders"],
                 id="unknown-endpoint"),
    pytest.param(["test", "--all", "-e", "orders"], BAD_INPUT, ["not both"], id="all-and-named"),
    pytest.param(["test", "--all", "--jobs", "0"], BAD_INPUT, ["--jobs", "above 0"],
                 id="zero-jobs"),
    pytest.param(["test", "--all", "--health-timeout", "soon"], BAD_INPUT,
                 ["--health-timeout", "'soon'"], id="bad-timeout"),
    pytest.param(["test", "--all", "--build-arg", "BASE_IMAGE"], BAD_INPUT,
                 ["not NAME=VALUE", "--build-arg BASE_IMAGE=python:3.12-slim"],
                 id="build-arg-without-value"),
]


@pytest.mark.parametrize(("args", "code", "words"), TEST_CASES)
def test_test_bad_input(run_workbench, project: Path, args: list[str], code: int,
                        words: list[str]) -> None:
    before = snapshot(project)
    assert_one_line_error(run_workbench("--batch", *args, cwd=project), code, *words)
    assert snapshot(project) == before


def test_test_when_docker_is_unreachable(run_workbench, project: Path, tmp_path: Path) -> None:
    done = run_workbench("--batch", "test", "--all", cwd=project,
                         env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert_one_line_error(done, UNREACHABLE, f"the Docker Engine at unix://{tmp_path}/no-docker"
                          ".sock does not answer", "DOCKER_HOST")


def test_test_needs_the_declared_secrets(run_workbench, project: Path) -> None:
    endpoint = project / "endpoints" / "orders" / "endpoint.yaml"
    endpoint.write_text(endpoint.read_text().replace("secrets: []", "secrets: [API_TOKEN]"))
    done = run_workbench("--batch", "test", "-e", "orders", cwd=project)
    assert_one_line_error(done, BAD_INPUT, "needs secrets API_TOKEN", ".workbench/secrets/"
                          "local.env does not exist")
    secrets = project / ".workbench" / "secrets" / "local.env"
    secrets.parent.mkdir(parents=True)
    secrets.write_text("OTHER=s3cr3t-value\n")
    done = run_workbench("--batch", "test", "-e", "orders", cwd=project)
    assert_one_line_error(done, BAD_INPUT, "has no value for API_TOKEN")
    assert "s3cr3t-value" not in done.stderr + done.stdout


def test_test_inside_an_endpoint_tests_that_one(run_workbench, project: Path,
                                                tmp_path: Path) -> None:
    # No engine here: the error proves the endpoint was picked (and nothing else was needed).
    done = run_workbench("--batch", "test", cwd=project / "endpoints" / "orders" / "tests",
                         env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert_one_line_error(done, UNREACHABLE, "does not answer")


# -- deploy, rollback, releases, lock, plan, trust -------------------------------------------
DEPLOY_CASES = [
    pytest.param(["deploy"], ["--env"], id="deploy-without-env"),
    pytest.param(["deploy", "--env", "stagin"], ["no environment 'stagin'"], id="unknown-env"),
    pytest.param(["deploy", "--env", "local", "-e", "ordes"], ["no endpoint 'ordes'", "orders"],
                 id="unknown-endpoint"),
    pytest.param(["deploy", "--env", "local", "--lock-wait", "soon"], ["--lock-wait"],
                 id="bad-lock-wait"),
    pytest.param(["rollback", "--env", "local"], ["-e/--endpoint"], id="rollback-without-e"),
    pytest.param(["releases", "--env", "local", "-e", "nope"], ["no endpoint 'nope'"],
                 id="releases-unknown-endpoint"),
    pytest.param(["lock", "open", "--env", "local"], ["invalid choice: 'open'"],
                 id="lock-bad-action"),
    pytest.param(["trust", "local"], ["local"], id="trust-local"),
]


@pytest.mark.parametrize(("args", "words"), DEPLOY_CASES)
def test_deploy_commands_bad_input(run_workbench, project: Path, args: list[str],
                                   words: list[str]) -> None:
    before = snapshot(project)
    assert_one_line_error(run_workbench("--batch", *args, cwd=project), BAD_INPUT, *words)
    assert snapshot(project) == before
