"""``diff ENV_A ENV_B`` on real deployments: staging on the first CI host, prod on the second.

The two environments are made to differ in exactly one variable, one secret, one version, one
route and one endpoint; the diff names those and nothing else, and no secret value (nor its
sha256) appears in any output. Identical deployments give no difference and exit 0 under
``--exit-code``; an unreachable side is named and the exit code is 3.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, clean, free_port
from hosts import SecondHost
from staging import RunWorkbench, Staged, stage

pytestmark = pytest.mark.integration

OLD_TOKEN, NEW_TOKEN = "tok-4f1c2a-old", "tok-9b77de-new"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=Test", "-c",
                    "user.email=test@example.com", *args], check=True, capture_output=True)


@pytest.fixture
def two(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
        ssh_target: SSHTarget, docker_client: docker.DockerClient,
        second_host: SecondHost) -> Iterator[Staged]:
    """orders and site, deployed the same to staging (host 1) and prod (host 2)."""
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target,
                    [ssh_target.spec])
    project.edit("workbench.yaml", "  staging:\n",
                 "  staging:\n    variables: {MODE: same}\n"
                 "    secrets_file: .workbench/secrets/staging.env\n")
    with (project.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  prod:\n    hosts: [{{host: '{second_host.spec}', docker_socket: "
                     f"{second_host.docker_socket}}}]\n    proxy_port: {free_port()}\n"
                     f"    proxy_bind: 127.0.0.1\n    proxy_image: {base_image}\n"
                     "    variables: {MODE: same}\n"
                     "    secrets_file: .workbench/secrets/prod.env\n")
    secrets = project.root / ".workbench" / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    for env in ("staging", "prod"):
        (secrets / f"{env}.env").write_text(f"TOKEN={OLD_TOKEN}\n")
    orders = project.root / "endpoints" / "orders"
    project.edit("endpoints/orders/endpoint.yaml", "secrets: []", "secrets: [TOKEN]")
    # endpoint.yaml out of the build context: a route change is then no new version.
    with (orders / ".dockerignore").open("a") as handle:
        handle.write("endpoint.yaml\n")
    git(orders, "commit", "-qam", "TOKEN; endpoint.yaml out of the image")
    for env in ("staging", "prod"):
        done = project.workbench("deploy", "--env", env)
        assert done.returncode == 0, done.stdout + done.stderr
    yield project
    clean(docker_client, project.name, Path("/var/lib/workbench"))
    clean(second_host.client, project.name, second_host.state)


def diff(project: Staged, *args: str, code: int) -> subprocess.CompletedProcess[str]:
    done = project.workbench("diff", *args)
    assert done.returncode == code, done.stdout + done.stderr
    return done


def test_identical_deployments_have_no_difference(two: Staged) -> None:
    done = diff(two, "staging", "prod", "--exit-code", code=0)
    assert "no differences between staging and prod: 2 endpoints compared" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("ignored by normalization: ")
    body = json.loads(diff(two, "staging", "prod", "--json", "--exit-code", code=0).stdout)
    assert body["differs"] is False and body["endpoints"] == []
    assert body["ignored"]["container-id"] == 4  # 2 endpoints x 2 environments


def test_the_diff_names_exactly_what_differs(two: Staged, base_image: str) -> None:
    two.edit("workbench.yaml", "  staging:\n    variables: {MODE: same}",
             "  staging:\n    variables: {MODE: fast}")
    (two.root / ".workbench" / "secrets" / "staging.env").write_text(f"TOKEN={NEW_TOKEN}\n")
    two.edit("endpoints/orders/endpoint.yaml", "  - /orders\n", "  - /orders\n  - /shop\n")
    site = two.root / "endpoints" / "site"
    index = site / "public" / "index.html"
    index.write_text(index.read_text() + "<!-- v2 -->\n")
    git(site, "commit", "-qam", "v2")
    done = two.deploy()  # staging only
    assert done.returncode == 0, done.stdout + done.stderr
    assert two.get("/shop/health")[0] == 200, done.stdout  # the new route answers
    two.workbench("new", "-e", "extra", "--template", "static")
    done = two.workbench("deploy", "--env", "prod", "-e", "extra")
    assert done.returncode == 0, done.stdout + done.stderr

    body = json.loads(diff(two, "staging", "prod", "--json", code=0).stdout)
    found = {(e["name"], k["category"], k["key"], k["status"])
             for e in body["endpoints"] for k in e["keys"]}
    assert found == {
        ("orders", "env", "MODE", "differs"),
        ("orders", "env", "TOKEN", "differs"),
        ("orders", "network", "routes", "differs"),
        ("orders", "release", "git sha", "differs"),  # the route was edited in its repo
        ("site", "env", "MODE", "differs"),  # an environment variable: every endpoint has it
        ("site", "release", "version", "differs"),
        ("site", "release", "git sha", "differs"),
    }, json.dumps(body["endpoints"], indent=1)
    presence = {e["name"]: e["presence"] for e in body["endpoints"]}
    assert presence == {"orders": "both", "site": "both", "extra": "only in B"}
    token = next(k for e in body["endpoints"] for k in e["keys"] if k["key"] == "TOKEN")
    assert token["secret"] is True
    mode = next(k for e in body["endpoints"] for k in e["keys"] if k["key"] == "MODE")
    assert (mode["a"], mode["b"]) == ("fast", "same")
    assert diff(two, "staging", "prod", "--exit-code", code=1).returncode == 1

    text = diff(two, "staging", "prod", code=0).stdout
    assert text.splitlines()[0].startswith("A staging: ")
    assert "MODE" in text and "TOKEN" in text and "extra: only in B" in text
    everything = text + json.dumps(body) + diff(two, "staging", "prod", "--all", code=0).stdout
    everything += diff(two, "staging", "prod", "--all", "--json", code=0).stdout
    for value in (OLD_TOKEN, NEW_TOKEN):
        assert value not in everything
        assert hashlib.sha256(value.encode()).hexdigest() not in everything


def test_an_unreachable_side_is_named_and_the_other_is_shown(two: Staged) -> None:
    port = free_port()  # nothing listens there
    with (two.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  gone:\n    hosts: [root@127.0.0.1:{port}]\n")
    done = diff(two, "staging", "gone", code=3)
    assert "unreachable: " in done.stdout and f"127.0.0.1:{port}" in done.stdout
    assert "orders" in done.stdout  # staging's side is still there
    body = json.loads(diff(two, "staging", "gone", "--json", code=3).stdout)
    assert body["partial"] is True and body["b"]["partial"] is True
    assert body["a"]["partial"] is False


def test_bad_diff_arguments_are_one_line(two: Staged) -> None:
    for args in (("staging",), ("staging", "prod", "--repo"), ("a", "b", "c"),
                 ("staging", "staging")):
        done = two.workbench("diff", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
