"""The parts under clone, sync and update: URLs, the answers file, the folder merge, template
versions and the git session (its ssh sharing, per-repo failures and cancel)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import HANG_GUARD

from workbench import answers, gitcmd, scaffold
from workbench.errors import BadInput, OperationFailed, Unreachable
from workbench.gitcmd import GitResult, GitSession, error_for, ssh_host
from workbench.merge import diff, merge_folder, write
from workbench.remotes import check_url, repo_name, same_repo, sibling


# -- URLs --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "name", "orders"), [
    ("git@gitlab.example.com:team/shop.git", "shop", "git@gitlab.example.com:team/orders.git"),
    ("gitlab:team/shop", "shop", "gitlab:team/orders"),
    ("ssh://git@host:2222/srv/git/team/shop.git", "shop",
     "ssh://git@host:2222/srv/git/team/orders.git"),
    ("file:///srv/git/team/shop.git/", "shop", "file:///srv/git/team/orders.git"),
    ("https://host/team/shop", "shop", "https://host/team/orders"),
])
def test_a_project_url_its_name_and_its_siblings(url: str, name: str, orders: str) -> None:
    assert check_url(url) == url
    assert repo_name(url) == name
    assert sibling(url, "orders") == orders
    assert same_repo(url, url.rstrip("/").removesuffix(".git") + ".git")


def test_a_local_folder_is_a_url_too(tmp_path: Path) -> None:
    (tmp_path / "shop.git").mkdir()
    assert check_url(str(tmp_path / "shop.git")) == str(tmp_path / "shop.git")
    with pytest.raises(BadInput, match="neither a git URL nor a folder"):
        check_url(str(tmp_path / "nothere"))


def test_ssh_hosts_of_remotes() -> None:
    assert ssh_host("ssh://root@127.0.0.1:42022/srv/x.git") == ("root", "127.0.0.1", 42022)
    assert ssh_host("git@gitlab.example.com:team/x.git") == ("git", "gitlab.example.com", 22)
    assert ssh_host("file:///srv/x.git") is None
    assert ssh_host("https://host/x.git") is None


# -- the git session's environment -------------------------------------------------------------
def test_ssh_connections_are_shared_and_the_users_command_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with GitSession() as session:
        env = session.env()
        assert env["GIT_TERMINAL_PROMPT"] == "0"
        command = env["GIT_SSH_COMMAND"]
        assert command.startswith(gitcmd.DEFAULT_SSH + " -o ControlMaster=auto")
        assert "ControlPersist" in command
        folder = command.split("ControlPath=")[1].split("/%C")[0]
        assert Path(folder).is_dir()
        assert "ControlPath=none" in session.env(share=False)["GIT_SSH_COMMAND"]
    assert not Path(folder).exists()  # closed with the session

    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -i /keys/ci -p 2222")
    with GitSession() as session:
        assert session.env()["GIT_SSH_COMMAND"].startswith("ssh -i /keys/ci -p 2222 -o "
                                                           "ControlMaster=auto")
    monkeypatch.setenv("GIT_SSH_COMMAND", "/usr/local/bin/my-ssh-wrapper --x")
    with GitSession() as session:  # not OpenSSH: left exactly as it is
        assert session.env()["GIT_SSH_COMMAND"] == "/usr/local/bin/my-ssh-wrapper --x"
    monkeypatch.delenv("GIT_SSH_COMMAND")
    monkeypatch.setenv("GIT_SSH", "/usr/local/bin/plink")
    with GitSession() as session:  # the user's own ssh program: git is left to use it
        assert "GIT_SSH_COMMAND" not in session.env()


def test_errors_are_classified() -> None:
    missing = GitResult(128, "", "fatal: '/srv/x.git' does not appear to be a git repository\n"
                        "fatal: Could not read from remote repository.\n")
    assert isinstance(error_for("clone", "file:///srv/x.git", missing), Unreachable)
    assert gitcmd.is_missing(missing.err)
    rejected = GitResult(1, "", " ! [rejected] main -> main (fetch first)\nerror: failed to "
                         "push some refs\n")
    assert isinstance(error_for("push", "u", rejected), BadInput)
    other = error_for("fetch", "u", GitResult(1, "", "fatal: bad object HEAD\n"))
    assert isinstance(other, OperationFailed) and "bad object HEAD" in other.line


def test_one_repo_failing_never_stops_the_others_and_order_is_kept() -> None:
    def work(item: int) -> int:
        if item == 2:
            raise Unreachable(f"repo {item} is away", "bring it back")
        return item * 10

    with GitSession() as session:
        results = session.map(work, range(5), jobs=3, first=lambda i: "host" if i else None)
    assert results[:2] + results[3:] == [0, 10, 30, 40]
    assert isinstance(results[2], Unreachable)


CANCEL = """
import sys, threading
from workbench.errors import Interrupted
from workbench.gitcmd import GitSession

session = GitSession(multiplex=False)
outcome = []

def work(item):
    if item == 0:  # git waits for a server that never speaks: only the cancel ends it
        return session.run(["-c", "protocol.ext.allow=always", "ls-remote", "ext::cat"])
    for _ in range(100000):  # until the git process runs (a count, not a clock)
        if session._procs:
            break
        threading.Event().wait(0.001)
    session.cancel()
    return item

try:
    session.map(work, range(2), jobs=2)
except Interrupted:
    outcome.append("interrupted")
try:
    session.run(["--version"])
except Interrupted:
    outcome.append("refused")
print(" ".join(outcome))
"""


def test_cancel_stops_running_git_and_what_would_start() -> None:
    # a subprocess with a generous timeout proves it ends (a cancel that did not work hangs)
    done = subprocess.run([sys.executable, "-c", CANCEL], capture_output=True, text=True,
                          timeout=HANG_GUARD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["interrupted", "refused"]


# -- the answers file --------------------------------------------------------------------------
def test_answers_round_trip_and_an_old_file_without_checksum(tmp_path: Path) -> None:
    made = answers.Answers("python", "endpoint", 1, "0.1.0",
                           {"name": "orders", "package": "orders", "project": "shop"})
    answers.write(tmp_path, made)
    assert answers.read(tmp_path, "endpoint", "orders") == made
    assert answers.peek(tmp_path) == ("python", 1)
    data = yaml.safe_load((tmp_path / answers.ANSWERS_FILE).read_text())
    del data["checksum"]  # as workbench wrote it before there was one
    (tmp_path / answers.ANSWERS_FILE).write_text(yaml.safe_dump(data))
    assert answers.read(tmp_path, "endpoint", "orders") == made
    with pytest.raises(BadInput, match="it says kind 'endpoint', but this is a model"):
        answers.read(tmp_path, "model", "orders")
    with pytest.raises(BadInput, match="it says name 'orders', but this is endpoint 'billing'"):
        answers.read(tmp_path, "endpoint", "billing")
    data["inputs"]["name"] = ["a", "list"]
    (tmp_path / answers.ANSWERS_FILE).write_text(yaml.safe_dump(data))
    with pytest.raises(BadInput, match="input 'name' is not a plain value"):
        answers.read(tmp_path, "endpoint", "orders")


# -- the folder merge --------------------------------------------------------------------------
def folder(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


LABELS = ("yours", "template t v1", "template t v2")


def test_the_merge_of_a_folder_file_by_file(tmp_path: Path) -> None:
    base = folder(tmp_path / "base", {"same.txt": "same\n", "gone.txt": "old\n",
                                      "gone-edited.txt": "old\n", "changed.txt": "a\nb\nc\n",
                                      "both.txt": "x\n"})
    theirs = folder(tmp_path / "theirs", {"same.txt": "same\n", "changed.txt": "a\nB\nc\n",
                                          "new.txt": "new\n", "both.txt": "template\n",
                                          "added-here-too.txt": "same new\n"})
    ours = folder(tmp_path / "ours", {"same.txt": "mine\n", "gone.txt": "old\n",
                                      "gone-edited.txt": "mine\n", "changed.txt": "a\nb\nc\n",
                                      "both.txt": "mine\n", "added-here-too.txt": "same new\n",
                                      "own.txt": "untouched\n"})
    changes = {c.path: c for c in merge_folder(ours, base, theirs, labels=LABELS)}
    assert set(changes) == {"gone.txt", "gone-edited.txt", "changed.txt", "new.txt",
                            "both.txt"}
    assert changes["gone.txt"].action == "delete"
    assert changes["gone-edited.txt"].action == "conflict"
    assert changes["gone-edited.txt"].after == b"mine\n"  # yours kept
    assert (changes["changed.txt"].action, changes["changed.txt"].after) == ("modify",
                                                                             b"a\nB\nc\n")
    assert (changes["new.txt"].action, changes["new.txt"].after) == ("add", b"new\n")
    both = changes["both.txt"]
    assert both.action == "conflict" and both.after == (
        b"<<<<<<< yours\nmine\n=======\ntemplate\n>>>>>>> template t v2\n")
    text = diff(changes.values())
    assert "--- a/gone.txt\n+++ /dev/null\n" in text and "+++ b/new.txt\n" in text
    write(ours, changes.values())
    assert not (ours / "gone.txt").exists() and (ours / "gone-edited.txt").read_text() == "mine\n"
    assert (ours / "new.txt").read_text() == "new\n"
    assert (ours / "own.txt").read_text() == "untouched\n"


def test_a_binary_file_changed_on_both_sides_keeps_yours(tmp_path: Path) -> None:
    base = folder(tmp_path / "base", {})
    theirs = folder(tmp_path / "theirs", {})
    ours = folder(tmp_path / "ours", {})
    (base / "logo.png").write_bytes(b"\x89PNG\0old")
    (theirs / "logo.png").write_bytes(b"\x89PNG\0new")
    (ours / "logo.png").write_bytes(b"\x89PNG\0mine")
    [change] = merge_folder(ours, base, theirs, labels=LABELS)
    assert change.action == "conflict" and change.after == b"\x89PNG\0mine"
    assert "binary" in change.reason


# -- template versions -------------------------------------------------------------------------
def test_an_earlier_version_renders_with_its_own_files_and_macros(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "scaffolds"
    import shutil

    shutil.copytree(scaffold.scaffolds_root(), templates,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("WORKBENCH_SCAFFOLDS", str(templates))
    frozen = scaffold.freeze("model")
    assert frozen == templates / "model" / "versions" / "1"
    with pytest.raises(BadInput, match="already exists"):
        scaffold.freeze("model")
    # version 2 renames the class the macro makes; version 1 keeps its own macro
    naming = templates / "model" / "naming.j2"
    naming.write_text(naming.read_text().replace('"Model" ~ cls', '"Model" ~ cls ~ "V2"')
                      .replace("{{ cls if", "{{ cls ~ 'V2' if"))
    meta = templates / "model" / "template.yaml"
    meta.write_text(meta.read_text().replace("version: 1", "version: 2") + "  2: renamed\n")
    inputs = {"name": "customer", "package": "customer", "project": "shop"}
    scaffold.render(scaffold.get("model", "model", 1), tmp_path / "v1", inputs)
    scaffold.render(scaffold.get("model", "model"), tmp_path / "v2", inputs)
    assert "class Customer:" in (tmp_path / "v1" / "customer" / "__init__.py").read_text()
    assert "class CustomerV2:" in (tmp_path / "v2" / "customer" / "__init__.py").read_text()
    assert answers.peek(tmp_path / "v1") == ("model", 1)
    assert scaffold.get("model", "model").changes_since(1) == ["v2: renamed"]
    with pytest.raises(BadInput, match="has no version 3"):
        scaffold.get("model", "model", 3)


def test_every_shipped_template_keeps_its_earlier_versions() -> None:
    for path in sorted(scaffold.scaffolds_root().iterdir()):
        if not (path / "template.yaml").is_file():
            continue
        meta = yaml.safe_load((path / "template.yaml").read_text())
        assert set(meta["changelog"]) == set(range(1, meta["version"] + 1)), path.name
        for version in range(1, meta["version"]):
            assert (path / "versions" / str(version) / "files").is_dir(), (path.name, version)
