"""The project model: typed immutable objects, and errors that name file, line and fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import HANG_GUARD

from workbench.errors import BadInput, ConfigError, ExitCode
from workbench.model import find_root, load_project

FULL = """\
project: shop
git:
  remote: "file:///srv/git/{group}/{name}.git"
  group: team
endpoints: [orders, billing]
models: [customer]
utilities: [textutil]
environments:
  local:
    proxy_port: 9090
  staging:
    hosts:
      - deploy@10.0.0.5
      - host: ops@db.example.com:2222
        docker_socket: /run/user/1000/docker.sock
    engine: swarm
    proxy_port: 8443
    variables: {LOG_LEVEL: info, WORKERS: 4, DEBUG: false}
    protected: true
  prod:
    hosts: ["[::1]:2200"]
    readonly: true
"""

ORDERS = """\
port: 8001
health: /healthz
routes: [/orders, /api/orders]
data: true
env: {LOG_LEVEL: debug}
secrets: [DB_PASSWORD]
produces: [orders-api]
consumes: [billing-api]
test: python3 -m unittest
models: [customer]
utilities: [textutil]
build_args: {EXTRA: "1"}
"""


def make_project(root: Path, text: str = FULL, endpoints: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "workbench.yaml").write_text(text)
    for kind in ("models/customer", "utilities/textutil"):
        (root / kind).mkdir(parents=True, exist_ok=True)
    for name, body in (endpoints if endpoints is not None else
                       {"orders": ORDERS, "billing": "port: 8080\ndata: false\n"}).items():
        (root / "endpoints" / name).mkdir(parents=True, exist_ok=True)
        (root / "endpoints" / name / "endpoint.yaml").write_text(body)
    return root


def test_full_project_loads_into_typed_objects(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path / "shop"))
    assert project.name == "shop"
    assert project.git.remote == "file:///srv/git/{group}/{name}.git"
    assert project.git.group == "team"
    orders = project.endpoint("orders")
    assert orders.port == 8001 and orders.health == "/healthz"
    assert orders.routes == ("/orders", "/api/orders")
    assert dict(orders.env) == {"LOG_LEVEL": "debug"}
    assert orders.secrets == ("DB_PASSWORD",)
    assert orders.produces == ("orders-api",) and orders.consumes == ("billing-api",)
    assert orders.models == ("customer",) and orders.utilities == ("textutil",)
    assert dict(orders.build_args) == {"EXTRA": "1"}
    billing = project.endpoint("billing")
    assert billing.port == 8080 and billing.data is False and billing.health == "/health"
    assert [m.name for m in project.models] == ["customer"]
    assert [u.kind for u in project.utilities] == ["utility"]


def test_environments_local_and_hosts(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path / "shop"))
    assert [e.name for e in project.environments] == ["local", "staging", "prod"]
    local = project.environment("local")
    assert local.is_local and local.proxy_port == 9090 and local.hosts == ()
    staging = project.environment("staging")
    assert staging.engine == "swarm" and staging.protected and not staging.readonly
    assert [h.spec for h in staging.hosts] == ["deploy@10.0.0.5:22", "ops@db.example.com:2222"]
    assert staging.hosts[1].docker_socket == "/run/user/1000/docker.sock"
    assert dict(staging.variables) == {"LOG_LEVEL": "info", "WORKERS": "4", "DEBUG": "false"}
    assert staging.secrets_file == ".workbench/secrets/staging.env"
    prod = project.environment("prod")
    assert prod.readonly and prod.hosts[0].host == "[::1]" and prod.hosts[0].port == 2200
    assert prod.proxy_port == 80


def test_local_is_always_there(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "project: p\n", endpoints={})
    project = load_project(root)
    assert [e.name for e in project.environments] == ["local"]
    assert project.environment("local").proxy_port == 8080


def test_objects_are_immutable(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path / "shop"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        project.endpoint("orders").env["X"] = "1"  # type: ignore[index]


def test_find_root_walks_up(tmp_path: Path) -> None:
    root = make_project(tmp_path / "shop")
    assert find_root(root / "endpoints" / "orders") == root.resolve()
    with pytest.raises(BadInput, match="not inside a workbench project"):
        find_root(tmp_path)


def test_unknown_names_suggest_close_ones(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path / "shop"))
    with pytest.raises(BadInput, match="did you mean 'orders'"):
        project.endpoint("order")
    with pytest.raises(BadInput, match="did you mean 'staging'"):
        project.environment("stagin")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("project: shop\nendpoint: [a]\n", 2,
         ["unknown key 'endpoint'", "did you mean 'endpoints'"]),
        ("project: shop\nenvironments:\n  staging:\n    hosts: [a@b]\n    prot: 1\n", 5,
         ["unknown key 'prot'", "did you mean 'protected'"]),
        ("project: shop\nenvironments:\n  local:\n    proxy_port: abc\n", 4,
         ["'proxy_port'", "whole number from 1 to 65535", "'abc'"]),
        ("project: shop\nenvironments:\n  local:\n    proxy_port: 70000\n", 4, ["70000"]),
        ("project: shop\nenvironments:\n  staging:\n    hosts: [a@b]\n    engine: swarn\n", 5,
         ["engine", "did you mean 'swarm'"]),
        ("project: shop\nenvironments:\n  staging:\n    hosts: [a@b]\n    protected: maybe\n",
         5, ["true or false"]),
        ("project: shop\nenvironments:\n  staging: {}\n", 3, ["has no hosts"]),
        ("project: shop\nenvironments:\n  local:\n    hosts: [a@b]\n", 4, ["has no hosts"]),
        ("project: shop\nenvironments:\n  staging:\n    hosts: ['a b@c']\n", 4,
         ["not user@host[:port]"]),
        ("project: shop\nenvironments:\n  staging:\n    hosts: ['a@b:99999']\n", 4,
         ["not user@host[:port]"]),
        ("project: shop\nenvironments:\n  Staging:\n    hosts: [a@b]\n", 3,
         ["bad environment name", "'staging'"]),
        ("project: Shop\n", 1, ["bad project name", "shop"]),
        ("project: shop\nendpoints: [orders, orders]\n", 2, ["lists 'orders' twice"]),
        ("project: shop\nendpoints: [shop]\n", 2, ["used by the project"]),
        ("project: shop\nendpoints: [a]\nmodels: [a]\n", 3, ["used by endpoint 'a'"]),
        ("project: shop\nendpoints: [proxy]\n", 2, ["reserved"]),
        ("project: shop\nendpoints: [../x]\n", 2, ["bad endpoint name"]),
        ("project: shop\nendpoints: orders\n", 2, ["must be a list"]),
        ("project: shop\nproject: other\n", 2, ["given twice", "line 1"]),
        ("project: shop\nenvironments:\n  local:\n    proxy_port: [1\n", 5, ["invalid YAML"]),
        ("project: shop\ngit:\n  remote: 'http://x/{oops}'\n", 3, ["{oops}"]),
        ("- a\n- b\n", 1, ["must be a mapping"]),
        ("endpoints: []\n", 1, ["needs 'project'"]),
        ("project: shop\nenvironments:\n  local:\n    variables: {1BAD: x}\n", 4,
         ["not a valid variable name"]),
        ("project: shop\nenvironments:\n  local:\n    variables: {A: [1]}\n", 4,
         ["single value"]),
    ],
)
def test_project_file_errors_name_file_line_and_fix(
    tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    root = make_project(tmp_path / "shop", text, endpoints={})
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    error = caught.value
    assert error.exit_code == ExitCode.BAD_INPUT
    assert error.line.startswith(f"{root / 'workbench.yaml'}:{line}: "), error.line
    for word in words:
        assert word in error.line, error.line
    assert "\n" not in error.line


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("prot: 8000\n", 1, ["unknown key 'prot'", "did you mean 'port'"]),
        ("port: eighty\n", 1, ["whole number"]),
        ("health: health\n", 1, ["starting with '/'"]),
        ("routes: [orders]\n", 1, ["not a path prefix"]),
        ("routes:\n  - /a\n  - 'b c'\n", 3, ["not a path prefix"]),
        ("data: yes please\n", 1, ["true or false"]),
        ("env: [A]\n", 1, ["must be a mapping"]),
        ("secrets: [db-password]\n", 1, ["not a variable name"]),
        ("models: [nosuch]\n", 1, ["model 'nosuch' is not in this project"]),
        ("utilities: [textutl]\n", 1, ["did you mean 'textutil'"]),
        ("produces: [Orders API]\n", 1, ["contract name"]),
    ],
)
def test_endpoint_file_errors(tmp_path: Path, body: str, line: int, words: list[str]) -> None:
    root = make_project(tmp_path / "shop", "project: shop\nendpoints: [orders]\nmodels: "
                        "[customer]\nutilities: [textutil]\n", endpoints={"orders": body})
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    where = root / "endpoints" / "orders" / "endpoint.yaml"
    assert caught.value.line.startswith(f"{where}:{line}: "), caught.value.line
    for word in words:
        assert word in caught.value.line, caught.value.line


def test_route_claimed_twice(tmp_path: Path) -> None:
    root = make_project(tmp_path / "shop", "project: shop\nendpoints: [a, b]\n",
                        endpoints={"a": "routes: [/x]\n", "b": "routes: [/x/]\n"})
    with pytest.raises(ConfigError, match="also claimed by endpoint 'a'"):
        load_project(root)


def test_missing_children_name_the_fix(tmp_path: Path) -> None:
    root = make_project(tmp_path / "shop", "project: shop\nendpoints: [ghost]\n", endpoints={})
    with pytest.raises(ConfigError, match=r"has no endpoint\.yaml.*clone its repo"):
        load_project(root)
    (root / "workbench.yaml").write_text("project: shop\nmodels: [ghost]\n")
    with pytest.raises(ConfigError, match="models/ghost is missing"):
        load_project(root)


# -- unreadable and hostile project files ----------------------------------------------------
@pytest.mark.parametrize(("content", "line", "words"), [
    pytest.param(b"project: shop\n# caf\xe9\n", 2, ["not UTF-8 text", "0xe9"], id="not-utf8"),
    pytest.param(b"project: shop\n\n# \x1b[2J\n", 3, ["control character U+001B"],
                 id="control-character"),
    pytest.param(b"project: shop\nx:\n" + b"".join(b"  " * (i + 1) + b"k%d:\n" % i
                                                   for i in range(900)) + b"  " * 901 + b"v\n",
                 2 + 64, ["nested more than 64 levels deep"], id="deep-block-nesting"),
    pytest.param(b"project: shop\nx: " + b"[" * 500 + b"]" * 500 + b"\n", 2,
                 ["nested more than 64 levels deep"], id="deep-flow-nesting"),
    pytest.param(b"project: shop\n# " + b"x" * (1 << 20) + b"\n", None, ["larger than 1 MiB"],
                 id="huge"),
])
def test_unusable_project_files_are_config_errors_with_the_line(
        tmp_path: Path, content: bytes, line: int | None, words: list[str]) -> None:
    root = make_project(tmp_path / "shop", "", endpoints={})
    (root / "workbench.yaml").write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    where = f"{root / 'workbench.yaml'}:{line}: " if line else f"{root / 'workbench.yaml'}: "
    assert caught.value.line.startswith(where), caught.value.line
    for word in words:
        assert word in caught.value.line, caught.value.line


def test_aliases_are_read_once_and_a_bom_is_dropped(tmp_path: Path) -> None:
    laughs = "".join(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 12))
    text = "\ufeffproject: shop\nbuild_args: {}\nx_anchors:\n  l0: &l0 [lol]\n" + laughs
    root = make_project(tmp_path / "shop", "project: shop\n", endpoints={})
    (root / "workbench.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"workbench.yaml:3: unknown key 'x_anchors'"):
        load_project(root)


def test_a_file_that_is_not_regular_is_refused(tmp_path: Path) -> None:
    """A FIFO is refused, not waited on: in a subprocess, whose generous timeout catches a
    read that blocks for a writer."""
    import os
    import subprocess
    import sys

    os.mkfifo(tmp_path / "workbench.yaml")
    script = ("import sys; from pathlib import Path; from workbench.yamlfile import read\n"
              "for path in sys.argv[1:]:\n"
              "    try: read(Path(path))\n"
              "    except Exception as exc: print(type(exc).__name__, exc)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "workbench.yaml"),
                           str(tmp_path)], capture_output=True, text=True, timeout=HANG_GUARD,
                          check=False)
    assert done.returncode == 0, done.stderr
    fifo, folder = done.stdout.splitlines()
    assert fifo.startswith("ConfigError") and "is not a regular file" in fifo, fifo
    assert folder.startswith("ConfigError") and "is a folder" in folder, folder


def test_what_is_accepted_stays_accepted(tmp_path: Path) -> None:
    """The checks refuse bad input only: query strings, escapes, trailing slashes, tabs in
    values, numbers and multi-line test commands still load."""
    root = make_project(tmp_path / "shop", "project: shop\nendpoints: [orders]\n", endpoints={
        "orders": "health: \"/health?full=1&x=%2F\"\nroutes: [/orders/, /api/v1.2/o_r~d-s]\n"
                  "env: {TABBED: \"a\\tb\", NUMBER: 3, RATIO: 0.5, FLAG: true}\n"
                  "test: |\n  set -e\n  python3 -m unittest\n"})
    orders = load_project(root).endpoint("orders")
    assert orders.health == "/health?full=1&x=%2F"
    assert orders.routes == ("/orders/", "/api/v1.2/o_r~d-s")
    assert dict(orders.env) == {"TABBED": "a\tb", "NUMBER": "3", "RATIO": "0.5", "FLAG": "true"}
    assert orders.test == "set -e\npython3 -m unittest\n"


def test_secrets_file_outside_is_an_explicit_opt_in_that_works(tmp_path: Path) -> None:
    from workbench.secrets import secrets_for

    outside = tmp_path / "vault" / "staging.env"
    outside.parent.mkdir()
    outside.write_text("DB_PASSWORD=from-outside\n")
    text = ("project: shop\nenvironments:\n  staging:\n    hosts: [a@b]\n"
            f"    secrets_file: {outside}\n")
    root = make_project(tmp_path / "shop", text, endpoints={})
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert caught.value.line.startswith(f"{root / 'workbench.yaml'}:5: secrets_file "), caught
    assert "outside the project folder" in caught.value.line
    assert "secrets_file_outside: true" in caught.value.line
    (root / "workbench.yaml").write_text(text + "    secrets_file_outside: true\n")
    staging = load_project(root).environment("staging")
    assert staging.secrets_file == str(outside)
    assert secrets_for(root, staging.secrets_file, "staging", "orders", ["DB_PASSWORD"]) == {
        "DB_PASSWORD": "from-outside"}
    (root / "workbench.yaml").write_text(text.replace(str(outside), "../vault/staging.env")
                                         + "    secrets_file_outside: true\n")
    staging = load_project(root).environment("staging")
    assert secrets_for(root, staging.secrets_file, "staging", "orders", ["DB_PASSWORD"]) == {
        "DB_PASSWORD": "from-outside"}


def test_a_symlink_inside_the_project_to_a_file_inside_is_fine(tmp_path: Path) -> None:
    root = make_project(tmp_path / "shop", "project: shop\n", endpoints={})
    real = root / "secrets" / "all.env"
    real.parent.mkdir()
    real.write_text("A=1\n")
    link = root / ".workbench" / "secrets" / "local.env"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    assert load_project(root).environment("local").secrets_file == ".workbench/secrets/local.env"
    link.unlink()
    link.symlink_to(tmp_path / "elsewhere.env")  # dangling, outside: refused all the same
    with pytest.raises(ConfigError, match="outside the project folder"):
        load_project(root)
