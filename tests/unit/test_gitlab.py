"""workbench.gitlab against recorded GitLab v4 replies, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from helpers import GITLAB_TOKEN as TOKEN
from helpers import HANG_GUARD, FakeGitLab, serve_fake_gitlab

from workbench.errors import BadInput, ExitCode, OperationFailed, Unreachable
from workbench.gitlab import GitLab, Group, Project, token_from_env


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with serve_fake_gitlab() as fake:
        yield fake


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


GROUP_GET = ("GET", "/api/v4/groups/acme?with_projects=false")
PROJECT_GET = ("GET", "/api/v4/projects/acme%2Fbilling")
ACME = Group(id=84213, full_path="acme", web_url="https://gitlab.example.com/groups/acme")


# -- groups -----------------------------------------------------------------------------


def test_existing_group_is_looked_up_once_with_token_and_headers(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (200, "group.json")

    group = gitlab.client().ensure_group("acme")

    assert group == ACME
    assert group.created is False
    assert gitlab.calls() == [GROUP_GET]
    seen = gitlab.seen[0]
    assert seen.token == TOKEN
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["user-agent"].startswith("workbench/")
    assert seen.body is None


def test_missing_group_is_created_private(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (404, "404_group.json")
    gitlab.routes[("POST", "/api/v4/groups")] = (201, "group.json")

    group = gitlab.client().ensure_group("acme")

    assert group == ACME
    assert group.created is True
    assert gitlab.calls() == [GROUP_GET, ("POST", "/api/v4/groups")]
    post = gitlab.seen[1]
    assert post.body == {"name": "acme", "path": "acme", "visibility": "private"}
    assert post.headers["content-type"] == "application/json"
    assert post.token == TOKEN


def test_nested_group_path_is_url_encoded(gitlab: FakeGitLab) -> None:
    route = ("GET", "/api/v4/groups/acme%2Fservices?with_projects=false")
    gitlab.routes[route] = (200, "subgroup.json")

    group = gitlab.client().ensure_group("acme/services")

    assert group.full_path == "acme/services"
    assert group.id == 84377
    assert gitlab.calls() == [route]


def test_missing_nested_group_is_created_under_its_parent(gitlab: FakeGitLab) -> None:
    gitlab.routes[("GET", "/api/v4/groups/acme%2Fservices?with_projects=false")] = (
        404,
        "404_group.json",
    )
    gitlab.routes[GROUP_GET] = (200, "group.json")
    gitlab.routes[("POST", "/api/v4/groups")] = (201, "subgroup.json")

    group = gitlab.client().ensure_group("acme/services")

    assert group.full_path == "acme/services"
    assert group.created is True
    assert gitlab.calls() == [
        ("GET", "/api/v4/groups/acme%2Fservices?with_projects=false"),
        GROUP_GET,
        ("POST", "/api/v4/groups"),
    ]
    assert gitlab.seen[2].body == {
        "name": "services",
        "path": "services",
        "visibility": "private",
        "parent_id": 84213,
    }


# -- projects ---------------------------------------------------------------------------


def test_missing_project_is_created_in_the_group_namespace(gitlab: FakeGitLab) -> None:
    gitlab.routes[PROJECT_GET] = (404, "404_project.json")
    gitlab.routes[("POST", "/api/v4/projects")] = (201, "project.json")

    project = gitlab.client().ensure_project(ACME, "billing", "billing endpoint of acme")

    assert project == Project(
        id=5120987,
        path_with_namespace="acme/billing",
        ssh_url_to_repo="git@gitlab.example.com:acme/billing.git",
        http_url_to_repo="https://gitlab.example.com/acme/billing.git",
        web_url="https://gitlab.example.com/acme/billing",
    )
    assert project.created is True
    assert gitlab.calls() == [PROJECT_GET, ("POST", "/api/v4/projects")]
    assert gitlab.seen[1].body == {
        "name": "billing",
        "path": "billing",
        "namespace_id": ACME.id,
        "visibility": "private",
        "initialize_with_readme": False,
        "description": "billing endpoint of acme",
    }
    assert all(s.token == TOKEN for s in gitlab.seen)


def test_existing_project_is_only_looked_up(gitlab: FakeGitLab) -> None:
    gitlab.routes[PROJECT_GET] = (200, "project.json")

    project = gitlab.client().ensure_project(ACME, "billing")

    assert project.path_with_namespace == "acme/billing"
    assert project.created is False
    assert gitlab.calls() == [PROJECT_GET]


def test_project_in_nested_group_is_url_encoded(gitlab: FakeGitLab) -> None:
    route = ("GET", "/api/v4/projects/acme%2Fservices%2Fbilling")
    gitlab.routes[route] = (200, "project.json")
    services = Group(id=84377, full_path="acme/services", web_url="")

    gitlab.client().ensure_project(services, "billing")

    assert gitlab.calls() == [route]


# -- errors -----------------------------------------------------------------------------


def test_rejected_token_is_unreachable_and_never_shown(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (401, "401.json")

    with pytest.raises(Unreachable) as caught:
        gitlab.client().ensure_group("acme")

    err = caught.value
    assert err.exit_code == ExitCode.UNREACHABLE == 3
    assert "401 Unauthorized" in err.line
    assert "GITLAB_TOKEN" in err.line
    assert TOKEN not in err.line
    assert "\n" not in err.line
    assert gitlab.calls() == [GROUP_GET]  # no create attempted after a 401


def test_token_without_permission_is_unreachable(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (404, "404_group.json")
    gitlab.routes[("POST", "/api/v4/groups")] = (403, "403_insufficient_scope.json")

    with pytest.raises(Unreachable) as caught:
        gitlab.client().ensure_group("acme")

    line = caught.value.line
    assert caught.value.exit_code == 3
    assert "refused to create group 'acme'" in line
    assert "403 Forbidden" in line
    assert "higher privileges" in line
    assert "api scope" in line
    assert TOKEN not in line


def test_path_taken_is_bad_input_quoting_gitlab(gitlab: FakeGitLab) -> None:
    gitlab.routes[PROJECT_GET] = (404, "404_project.json")
    gitlab.routes[("POST", "/api/v4/projects")] = (400, "400_path_taken.json")

    with pytest.raises(BadInput) as caught:
        gitlab.client().ensure_project(ACME, "billing")

    line = caught.value.line
    assert caught.value.exit_code == 2
    assert "GitLab refused to create project 'acme/billing': path has already been taken" in line
    assert "choose another name" in line
    assert TOKEN not in line


def test_server_error_is_operation_failed_naming_the_status(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (200, "group.json")
    gitlab.routes[PROJECT_GET] = (404, "404_project.json")
    gitlab.routes[("POST", "/api/v4/projects")] = (500, "500.json")

    client = gitlab.client()
    with pytest.raises(OperationFailed) as caught:
        client.ensure_project(client.ensure_group("acme"), "billing")

    assert type(caught.value) is OperationFailed
    assert caught.value.exit_code == 1
    assert "500" in caught.value.line
    assert "create project 'acme/billing'" in caught.value.line


def test_404_that_is_not_gitlab_json_is_not_taken_as_missing(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (404, b"<html>Not Found</html>")

    with pytest.raises(OperationFailed) as caught:
        gitlab.client().ensure_group("acme")

    assert "404" in caught.value.line
    assert "GitLab server" in caught.value.line
    assert gitlab.calls() == [GROUP_GET]  # no POST to a server that is not GitLab


def test_reply_that_is_not_json_is_operation_failed(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (200, b"<!DOCTYPE html><html>sign in</html>")

    with pytest.raises(OperationFailed, match="JSON"):
        gitlab.client().ensure_group("acme")


def test_reply_missing_fields_is_operation_failed(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (200, {"id": 1, "name": "acme"})

    with pytest.raises(OperationFailed, match="'full_path'"):
        gitlab.client().ensure_group("acme")


def test_redirect_is_not_followed(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (301, b"", {"Location": "https://gitlab.example.com/api/v4/x"})
    gitlab.routes[("GET", "/api/v4/x")] = (200, "group.json")

    with pytest.raises(BadInput) as caught:
        gitlab.client().ensure_group("acme")

    assert "redirects" in caught.value.line
    assert "https://gitlab.example.com" in caught.value.line
    assert gitlab.calls() == [GROUP_GET]


def test_closed_port_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(Unreachable) as caught:
        GitLab(url, TOKEN, timeout=HANG_GUARD).ensure_group("acme")

    line = caught.value.line
    assert caught.value.exit_code == 3
    assert line.startswith(f"GitLab at {url} cannot be reached: ")
    assert "refused" in line.lower()
    assert "check the URL and your network" in line
    assert TOKEN not in line


def test_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog), never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"

        with pytest.raises(Unreachable, match="cannot be reached: timed out"):
            GitLab(url, TOKEN, timeout=0.3).ensure_group("acme")


# -- input ------------------------------------------------------------------------------


@pytest.mark.parametrize("environ", [{}, {"GITLAB_TOKEN": ""}, {"GITLAB_TOKEN": "  \n"}])
def test_missing_token_is_bad_input(environ: dict[str, str]) -> None:
    with pytest.raises(BadInput) as caught:
        token_from_env(environ)

    assert caught.value.exit_code == 2
    assert caught.value.line == (
        "GITLAB_TOKEN is not set; export GITLAB_TOKEN=<a personal access token with api scope>"
    )


def test_token_is_read_and_stripped() -> None:
    assert token_from_env({"GITLAB_TOKEN": f" {TOKEN}\n"}) == TOKEN


def test_token_with_inner_space_is_bad_input_without_showing_it() -> None:
    with pytest.raises(BadInput) as caught:
        GitLab("https://gitlab.example.com", "glpat-abc def-ghijklmn")
    assert "glpat" not in caught.value.line


@pytest.mark.parametrize(
    "url",
    [
        "gitlab.example.com",
        "ftp://gitlab.example.com",
        "https://",
        "https:///path",
        "http://gitlab.example.com:notaport",
        "https://user:secret@gitlab.example.com",
        "https://gitlab.example.com/?x=1",
        "",
    ],
)
def test_bad_base_url_is_bad_input(url: str) -> None:
    with pytest.raises(BadInput) as caught:
        GitLab(url, TOKEN)

    assert caught.value.exit_code == 2
    assert "secret" not in caught.value.line
    assert caught.value.fix


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://gitlab.example.com", "https://gitlab.example.com"),
        ("https://gitlab.example.com/", "https://gitlab.example.com"),
        ("https://gitlab.example.com/api/v4/", "https://gitlab.example.com"),
        ("http://127.0.0.1:8080/gitlab", "http://127.0.0.1:8080/gitlab"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_base_url_is_normalized(url: str, base: str) -> None:
    client = GitLab(url, TOKEN)
    assert client.base_url == base
    assert TOKEN not in repr(client)


def test_slashes_around_a_group_path_are_forgiven(gitlab: FakeGitLab) -> None:
    gitlab.routes[GROUP_GET] = (200, "group.json")
    assert gitlab.client().ensure_group("/acme/") == ACME
    assert gitlab.calls() == [GROUP_GET]


@pytest.mark.parametrize("path", ["", "-acme", "a//b", "a b", "acme/.git", "acme.", "ac/me$"])
def test_bad_group_path_is_bad_input_before_any_request(gitlab: FakeGitLab, path: str) -> None:
    with pytest.raises(BadInput, match="not a valid GitLab group path"):
        gitlab.client().ensure_group(path)
    assert gitlab.seen == []


@pytest.mark.parametrize("name", ["", "a/b", "billing.git", "bill ing"])
def test_bad_project_name_is_bad_input_before_any_request(gitlab: FakeGitLab, name: str) -> None:
    with pytest.raises(BadInput, match="not a valid GitLab project path"):
        gitlab.client().ensure_project(ACME, name)
    assert gitlab.seen == []
