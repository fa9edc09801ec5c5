"""Bad input through the real CLI: one line naming the problem and the fix, the right exit
code, no traceback, and nothing half-created (no folder, no registry entry, no changed file).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import HANG_GUARD

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


# -- project input that would hang the tool or reach a server raw (issue 10, item 4) ----------
@pytest.fixture(scope="module")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made once by 'new' (shop with endpoint orders); tests copy it."""
    base = tmp_path_factory.mktemp("template")
    home = base / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "GIT_CONFIG_NOSYSTEM": "1"}
    for args, cwd in ((["new", "shop"], base), (["new", "-e", "orders"], base / "shop")):
        done = subprocess.run([sys.executable, "-m", "workbench", "--batch", *args], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=HANG_GUARD,
                              check=False)
        assert done.returncode == 0, done.stderr
    return base / "shop"


@pytest.fixture
def fresh(project_template: Path, tmp_path: Path) -> Path:
    """A copy of the template project of its own."""
    target = tmp_path / "shop"
    shutil.copytree(project_template, target, symlinks=True)
    return target


ENDPOINT = "endpoints/orders/endpoint.yaml"
PROJECT = "workbench.yaml"
HOSTILE_ROUTE = "/" + "a" * 40 + "!"
"""Took hours with the old route pattern ^/(?:[...]+/?)*$ (each extra 'a' doubled the time)."""


def edit(root: Path, file: str, old: str, new: str) -> tuple[Path, int]:
    """Replace ``old`` (which must be there) with ``new``; the file and the 1-based number of
    the first line that changed."""
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, file)
    changed = text.replace(old, new, 1)
    path.write_text(changed, encoding="utf-8")
    pairs = zip(text.split("\n"), changed.split("\n"), strict=False)
    return path, next(i for i, (a, b) in enumerate(pairs, 1) if a != b)


def test_a_hostile_route_does_not_hang_loading(run_workbench, fresh: Path) -> None:
    """The route check is linear: with the old pattern this route took hours, in every
    command that loads the project. A generous timeout proves the command terminates."""
    path, line = edit(fresh, ENDPOINT, "  - /orders", f"  - '{HOSTILE_ROUTE}'")
    before = snapshot(fresh)
    for args in (["list"], ["test", "-e", "orders"]):
        done = run_workbench("--batch", *args, cwd=fresh, timeout=HANG_GUARD,
                             env={"DOCKER_HOST": f"unix://{fresh}/no-docker.sock"})
        assert_one_line_error(done, BAD_INPUT, f"{path}:{line}:", "is not a path prefix",
                              "write e.g. routes: [/orders]")
    assert snapshot(fresh) == before


HOSTILE_SCRIPT = r'''
import sys
from pathlib import Path
from workbench.errors import BadInput
from workbench.model import load_project
from workbench.secrets import read_env_file

N = 50_000
root = Path(sys.argv[1])
PROJECT = "project: shop\nendpoints: [orders]\n"
ENV = "project: shop\nendpoints: [orders]\nenvironments:\n  staging:\n"
CASES = {
    "route": (PROJECT, "routes: ['/" + "a" * N + "!']\n"),
    "route-segments": (PROJECT, "routes: ['" + "/a" * N + "/!']\n"),
    "route-slashes": (PROJECT, "routes: ['/" + "a/" * N + "/']\n"),
    "health": (PROJECT, "health: '/" + "a" * N + " '\n"),
    "health-percent": (PROJECT, "health: '/" + "%41" * N + "%'\n"),
    "env-name": (PROJECT, "env: {" + "A" * N + "-: x}\n"),
    "secret-name": (PROJECT, "secrets: [" + "A" * N + "-]\n"),
    "contract": (PROJECT, "produces: [" + "a" * N + "!]\n"),
    "project-name": ("project: " + "a" * N + "!\n", ""),
    "environment-name": ("project: shop\nenvironments:\n  " + "a-" * N + "!: {}\n", ""),
    "host": (ENV + "    hosts: ['" + "a" * N + "!']\n", ""),
    "host-user": (ENV + "    hosts: ['" + "a" * N + "@" + "b." * N + "!']\n", ""),
    "host-port": (ENV + "    hosts: ['a@b:" + "1" * N + "']\n", ""),
    "proxy-bind": ("project: shop\nenvironments:\n  local:\n    proxy_bind: '" + "1." * N
                   + "'\n", ""),
    "variables": ("project: shop\nenvironments:\n  local:\n    variables: {A: '" + "x" * N
                  + "\\n'}\n".replace("'", '"'), ""),
    "remote": ("project: shop\ngit:\n  remote: '" + "a" * N + "@" + "b" * N + "'\n", ""),
}
for name, (project, endpoint) in CASES.items():
    folder = root / name
    (folder / "endpoints" / "orders").mkdir(parents=True)
    (folder / "workbench.yaml").write_text(project)
    (folder / "endpoints" / "orders" / "endpoint.yaml").write_text(endpoint)
    try:
        load_project(folder)
    except BadInput as exc:
        assert len(exc.line) < 2000, (name, len(exc.line))
        print(name, "refused")
    else:
        print(name, "ACCEPTED")
for name, text in {
    "secret-line": "A" * N + " " * N + "x\n",
    "secret-export": "export" + " " * N + "\n",
    "secret-comment": "A=" + " #" * N + "\n",
    "secret-quote": "A=\"" + "#" * N + "\n",
}.items():
    path = root / (name + ".env")
    path.write_text(text)
    try:
        read_env_file(path)
    except BadInput as exc:
        assert len(exc.line) < 2000, (name, len(exc.line))
        print(name, "refused")
    else:
        print(name, "ACCEPTED")
'''


def test_every_check_is_linear_on_long_hostile_input(tmp_path: Path) -> None:
    """Each field of the project files, and a secrets file, with 50,000-character hostile
    values: refused with a short message, and the whole run ends (a generous timeout
    catches a check that backtracks)."""
    script = tmp_path / "hostile.py"
    script.write_text(HOSTILE_SCRIPT)
    (tmp_path / "work").mkdir()
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    results = dict(line.split() for line in done.stdout.splitlines())
    assert len(results) == 20 and set(results.values()) == {"refused"}, results


LOAD_CASES = [
    # (file, old, new, words): each edit is refused when the project loads, naming the line
    pytest.param(ENDPOINT, "  - /orders", "  - \"/orders\\n\"", ["route", "line break (LF)"],
                 id="route-with-newline"),
    pytest.param(ENDPOINT, "  - /orders", "  - /orders/../admin", ["not a path prefix"],
                 id="route-dot-dot"),
    pytest.param(ENDPOINT, "health: /health", "health: '/health check'",
                 ["'health'", "contains a space", "%20"], id="health-space"),
    pytest.param(ENDPOINT, "health: /health", "health: \"/health\\r\\nX-Injected: 1\"",
                 ["'health'", "carriage return (CR)", "one line"], id="health-crlf"),
    pytest.param(ENDPOINT, "health: /health", "health: \"/health\\nHost: evil\"",
                 ["'health'", "line break (LF)"], id="health-lf"),
    pytest.param(ENDPOINT, "health: /health", "health: \"/health\\tx\"",
                 ["'health'", "a tab"], id="health-tab"),
    pytest.param(ENDPOINT, "health: /health", "health: \"/health\\0\"",
                 ["'health'", "NUL character"], id="health-nul"),
    pytest.param(ENDPOINT, "health: /health", "health: \"/health\\x1b[2J\"",
                 ["'health'", "U+001B"], id="health-escape-char"),
    pytest.param(ENDPOINT, "health: /health", "health: /gesundheit/ü",
                 ["'health'", "'ü'", "percent-encode"], id="health-non-ascii"),
    pytest.param(ENDPOINT, "health: /health", "health: /health#top", ["'#'"],
                 id="health-fragment"),
    pytest.param(ENDPOINT, "health: /health", "health: /health%zz",
                 ["'%' must be followed by two hex digits"], id="health-bad-escape"),
    pytest.param(ENDPOINT, "  LOG_LEVEL: info", "  LOG_LEVEL: \"info\\nINJECTED=1\"",
                 ["'LOG_LEVEL' in env", "line break (LF)", "base64"], id="env-value-newline"),
    pytest.param(ENDPOINT, "  LOG_LEVEL: info", "  LOG_LEVEL: \"info\\r\"",
                 ["'LOG_LEVEL' in env", "carriage return (CR)"], id="env-value-cr"),
    pytest.param(ENDPOINT, "  LOG_LEVEL: info", "  LOG_LEVEL: \"in\\0fo\"",
                 ["'LOG_LEVEL' in env", "NUL character", "remove it"], id="env-value-nul"),
    pytest.param(ENDPOINT, "  LOG_LEVEL: info", "  \"LOG_LEVEL\\n\": info",
                 ["'LOG_LEVEL\\n' in env is not a valid variable name"], id="env-name-newline"),
    pytest.param(ENDPOINT, "  LOG_LEVEL: info", "  LOG_LEVEL: 2024-01-31",
                 ["'LOG_LEVEL' in env must be text or a number", "quote it"], id="env-date"),
    pytest.param(ENDPOINT, "  LOG_LEVEL: info", "  LOG_LEVEL: !!binary aW5mbw==",
                 ["must be text or a number"], id="env-binary"),
    pytest.param(ENDPOINT, "secrets: []", "secrets: [\"DB_PASSWORD\\n\"]",
                 ["secrets", "line break (LF)"], id="secret-name-newline"),
    pytest.param(ENDPOINT, "test: python3 -m unittest discover -s tests -v",
                 "test: \"\\0python3\"", ["'test'", "NUL"],
                 id="test-command-nul"),
    pytest.param(ENDPOINT, "build_args: {}", "build_args: {BASE: \"a\\nb\"}",
                 ["'BASE' in build_args", "line break (LF)"], id="build-arg-newline"),
    pytest.param(PROJECT, "project: shop", "project: \"shop\\n\"",
                 ["'project'", "line break (LF)"], id="project-name-newline"),
    pytest.param(PROJECT, "    proxy_port: 8080", "    proxy_port: 8080\n    variables: "
                 "{A: \"x\\ny\"}", ["'A' in variables", "line break (LF)"],
                 id="variables-value-newline"),
    pytest.param(PROJECT, "    proxy_port: 8080", "    proxy_port: 8080\n    variables: "
                 "{\"A\\0\": x}", ["in variables is not a valid variable name"],
                 id="variables-name-nul"),
    pytest.param(PROJECT, "    proxy_port: 8080", "    proxy_port: 8080\n    proxy_image: "
                 "\"nginx\\n:alpine\"", ["'proxy_image'", "line break (LF)"],
                 id="proxy-image-newline"),
    pytest.param(PROJECT, "    proxy_port: 8080", "    proxy_port: 8080\n    secrets_file: "
                 "/etc/passwd", ["secrets_file '/etc/passwd' of environment 'local' is "
                                 "outside the project folder", "secrets_file_outside: true"],
                 id="secrets-file-absolute"),
    pytest.param(PROJECT, "    proxy_port: 8080", "    proxy_port: 8080\n    secrets_file: "
                 "../shared/local.env", ["outside the project folder"],
                 id="secrets-file-parent"),
    pytest.param(PROJECT, "    proxy_port: 8080", "    proxy_port: 8080\n    secrets_file: "
                 "~/.aws/credentials", ["starts with '~'", "full path"],
                 id="secrets-file-tilde"),
    pytest.param(PROJECT, "    proxy_port: 8080", "    proxy_port: 8080\n    secrets_file: "
                 "\"local\\n.env\"", ["'secrets_file'", "line break (LF)"],
                 id="secrets-file-newline"),
    pytest.param(PROJECT, "  local:\n", "  local:\n  # a bell \x07 in a comment\n",
                 ["control character U+0007", "remove it"], id="raw-control-character"),
    pytest.param(ENDPOINT, "data: true", "data: true\ndeep:\n" + "".join(
        "  " * (i + 1) + f"k{i}:\n" for i in range(600)) + "  " * 601 + "x",
                 ["nested more than 64 levels deep"], id="deep-nesting"),
]


def _expected_line(path: Path, line: int, words: list[str]) -> int:
    """Most errors point at the edited line; the nesting and control-character ones at the
    exact line inside the edit."""
    text = path.read_text(encoding="utf-8", errors="replace").split("\n")
    if "nested more than 64 levels deep" in words:
        return next(i for i, t in enumerate(text, 1) if t.strip() == "k63:")
    if any("U+0007" in w for w in words):
        return next(i for i, t in enumerate(text, 1) if "\x07" in t)
    return line


@pytest.mark.parametrize(("file", "old", "new", "words"), LOAD_CASES)
def test_bad_project_input_is_refused_at_load(run_workbench, fresh: Path, file: str, old: str,
                                              new: str, words: list[str]) -> None:
    path, line = edit(fresh, file, old, new)
    line = _expected_line(path, line, words)
    before = snapshot(fresh)
    for args in (["list"], ["test", "-e", "orders"]):
        done = run_workbench("--batch", *args, cwd=fresh,
                             env={"DOCKER_HOST": f"unix://{fresh}/no-docker.sock"})
        assert_one_line_error(done, BAD_INPUT, f"{path}:{line}:", *words)
    assert snapshot(fresh) == before


@pytest.mark.parametrize(("file", "content", "line", "words"), [
    pytest.param(PROJECT, b"# caf\xe9\n", 2, ["not UTF-8 text", "byte 0xe9", "save it as UTF-8"],
                 id="project-not-utf8"),
    pytest.param(ENDPOINT, b"# caf\xe9\n", 3, ["not UTF-8 text"], id="endpoint-not-utf8"),
    pytest.param("endpoints/orders/.workbench-answers.yaml", b"# \xff\n", 2,
                 ["not UTF-8 text"], id="answers-not-utf8"),
    pytest.param(PROJECT, b"# " + b"x" * (2 << 20) + b"\n", None, ["larger than 1 MiB"],
                 id="project-huge"),
])
def test_unreadable_project_files_name_the_file_and_line(
        run_workbench, fresh: Path, file: str, content: bytes, line: int | None,
        words: list[str]) -> None:
    path = fresh / file
    lines = path.read_bytes().split(b"\n")
    at = (line or 1) - 1
    path.write_bytes(b"\n".join([*lines[:at], content.rstrip(b"\n"), *lines[at:]]))
    done = run_workbench("--batch", "list", cwd=fresh)
    assert_one_line_error(done, BAD_INPUT, f"{path}:{line}:" if line else f"{path}:", *words)


def test_a_symlinked_secrets_file_pointing_outside_is_refused(run_workbench, fresh: Path,
                                                             tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.env"
    outside.write_text("API_TOKEN=s3cr3t-value\n")
    link = fresh / ".workbench" / "secrets" / "local.env"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    done = run_workbench("--batch", "list", cwd=fresh)
    assert_one_line_error(done, BAD_INPUT, f"{fresh / PROJECT}:", "'.workbench/secrets/local"
                          ".env' of environment 'local' is outside the project folder",
                          "symlinks are followed", "secrets_file_outside: true")
    edit(fresh, PROJECT, "    proxy_port: 8080", "    proxy_port: 8080\n"
         "    secrets_file_outside: true")
    done = run_workbench("--batch", "list", cwd=fresh)
    assert done.returncode == 0, done.stderr


SECRET = "s3cr3t-Vq8wZ"


@pytest.mark.parametrize(("text", "line", "words"), [
    pytest.param(f"API_TOKEN=\"{SECRET}\n", 1, ["API_TOKEN", "does not close it"],
                 id="unclosed-quote"),
    pytest.param(f"# token\nAPI_TOKEN=\"{SECRET}\"x # c\n", 2, ["text after its closing"],
                 id="text-after-quote"),
    pytest.param(f"API_TOKEN=#{SECRET}\n", 1, ["starts with '#'", "quote it"],
                 id="hash-first"),
    pytest.param(f"API_TOKEN={SECRET}\x00\n", 1, ["NUL character"], id="nul"),
    pytest.param(f"A=1\nAPI_TOKEN={SECRET}\rEVIL=1\n", 2, ["carriage return"], id="cr"),
    pytest.param(f"API_TOKEN=${{{SECRET}}}\n", 1, ["'${'", "does not expand"],
                 id="expansion"),
])
def test_ambiguous_secrets_lines_are_refused_without_showing_the_value(
        run_workbench, fresh: Path, text: str, line: int, words: list[str]) -> None:
    edit(fresh, ENDPOINT, "secrets: []", "secrets: [API_TOKEN]")
    secrets = fresh / ".workbench" / "secrets" / "local.env"
    secrets.parent.mkdir(parents=True)
    secrets.write_text(text)
    done = run_workbench("--batch", "test", "-e", "orders", cwd=fresh,
                         env={"DOCKER_HOST": f"unix://{fresh}/no-docker.sock"})
    assert_one_line_error(done, BAD_INPUT, f"{secrets}:{line}:", *words)
    assert SECRET not in done.stderr + done.stdout


def test_a_secrets_file_that_is_not_utf8_names_its_line(run_workbench, fresh: Path) -> None:
    edit(fresh, ENDPOINT, "secrets: []", "secrets: [API_TOKEN]")
    secrets = fresh / ".workbench" / "secrets" / "local.env"
    secrets.parent.mkdir(parents=True)
    secrets.write_bytes(b"A=1\nAPI_TOKEN=caf\xe9\n")
    done = run_workbench("--batch", "test", "-e", "orders", cwd=fresh,
                         env={"DOCKER_HOST": f"unix://{fresh}/no-docker.sock"})
    assert_one_line_error(done, BAD_INPUT, f"{secrets}:2:", "not UTF-8 text")


def test_a_project_file_saved_with_a_bom_still_takes_new_children(run_workbench,
                                                                  fresh: Path) -> None:
    """Editors on Windows save UTF-8 with a BOM: loading dropped it, but the in-place edit of
    'new -e' used offsets one off and refused its own result."""
    path = fresh / PROJECT
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    done = run_workbench("--batch", "new", "-e", "api", cwd=fresh)
    assert done.returncode == 0, done.stderr
    assert "endpoints: [orders, api]" in path.read_text(encoding="utf-8-sig")
    assert run_workbench("--batch", "list", cwd=fresh).returncode == 0


def test_a_dockerignore_that_is_not_utf8_names_its_line(fresh: Path) -> None:
    """Read while building the context (test, plan, deploy): it was an internal error."""
    from workbench.context import build_context
    from workbench.errors import ConfigError
    from workbench.model import load_project

    ignore = fresh / "endpoints" / "orders" / ".dockerignore"
    lines = ignore.read_bytes().count(b"\n")
    ignore.write_bytes(ignore.read_bytes() + b"# caf\xe9\n")
    project = load_project(fresh)
    with pytest.raises(ConfigError) as caught:
        build_context(project, project.endpoint("orders"), {})
    assert caught.value.line.startswith(f"{ignore}:{lines + 1}: the .dockerignore file is not "
                                        "UTF-8 text"), caught.value.line
