"""import --compose: routes, replicas, variables and secret names of a compose file into the
project's endpoint.yaml files (their other lines and comments kept), what it would create,
and one line for each bad file. An exported file imports back to what was exported. No Docker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workbench.errors import BadInput, ConfigError
from workbench.events import Event, LogLines, Result, Warning
from workbench.model import load_project
from workbench.ops.compose_import import apply, plan
from workbench.swarm import compose as C
from workbench.swarm import spec as S
from workbench.swarm.secrets import SecretRef
from workbench.swarmconfig import SwarmOptions

ORDERS = """\
# endpoint.yaml of orders (this comment stays).
port: 8000
health: /health
# Paths on the proxy.
routes:
  - /orders
data: false
# Plain variables.
env:
  LOG_LEVEL: info
secrets: []
test: python3 -m unittest
"""
PROJECT = """\
project: shop
endpoints: [orders, site]
environments:
  prod:
    engine: swarm
    hosts: [root@10.0.0.1]
    variables: {REGION: eu}
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "endpoints" / "orders").mkdir(parents=True)
    (root / "endpoints" / "site").mkdir(parents=True)
    (root / "workbench.yaml").write_text(PROJECT)
    (root / "endpoints" / "orders" / "endpoint.yaml").write_text(ORDERS)
    (root / "endpoints" / "site" / "endpoint.yaml").write_text(
        "port: 8080\nroutes: [/site]\ndata: true\n")
    return root


def run(root: Path, text: str, env: str | None = None,
        dry_run: bool = False) -> tuple[list[Any], list[Event]]:
    source = root / "stack.yaml"
    source.write_text(text)
    seen: list[Event] = []
    changes = plan(load_project(root), source, env, seen.append)
    apply(changes, seen.append, dry_run=dry_run)
    return changes, seen


def lines(seen: list[Event]) -> list[str]:
    return [line for e in seen if isinstance(e, LogLines) for line in e.lines]


def warnings(seen: list[Event]) -> list[str]:
    return [e.message for e in seen if isinstance(e, Warning)]


def test_an_exported_file_imports_back_to_what_was_exported(shop: Path) -> None:
    env = load_project(shop).environment("prod")
    env = type(env)(env.name, engine="swarm", swarm=SwarmOptions("dnsrr", "host"),
                    variables=env.variables)
    orders = load_project(shop).endpoint("orders")
    deployed = type(orders)(**{**{f: getattr(orders, f) for f in orders.__dataclass_fields__
                                  if f != "kind"},
                               "routes": ("/orders", "/api/orders"), "replicas": 3,
                               "secrets": ("API_TOKEN",)})
    spec = S.service_spec("shop", env, deployed, S.Image("sha256:" + "ab" * 32, "t", (), ("x",)),
                          version="v1", network="wb_shop_prod", secrets=[SecretRef("s", "i")],
                          variables={"REGION": "eu", "LOG_LEVEL": "debug", "PRICE": "$5"})
    proxy = S.proxy_spec("shop", env, image=S.Image("sha256:" + "cd" * 32, "nginx"),
                         network="wb_shop_prod", pin="node.id==n1")
    info = {spec.name: C.EndpointInfo("orders", deployed.routes, 8000, "/health", "t")}
    text = C.dump(C.compose("shop", "prod", [spec, proxy], info))
    _, seen = run(shop, text)  # the file names its environment: prod
    after = load_project(shop).endpoint("orders")
    assert after.routes == ("/orders", "/api/orders") and after.replicas == 3
    assert dict(after.env) == {"LOG_LEVEL": "debug", "PRICE": "$5"}  # REGION stays in prod
    assert after.secrets == ("API_TOKEN",)
    assert "proxy: workbench's proxy, not an endpoint: skipped" in lines(seen)
    assert "orders: env: +PRICE ~LOG_LEVEL" in lines(seen)
    written = (shop / "endpoints" / "orders" / "endpoint.yaml").read_text()
    for kept in ("# endpoint.yaml of orders (this comment stays).\n", "# Paths on the proxy.\n",
                 "# Plain variables.\n", "test: python3 -m unittest\n", "data: false\n"):
        assert kept in written
    assert written.endswith("# Set by workbench import --compose.\nreplicas: 3\n")
    again, seen = run(shop, text)  # nothing left to change
    assert lines(seen)[-1] == "orders: endpoint.yaml already says what the file says"
    assert not again[0].values


FOREIGN = """\
version: "3.8"
services:
  orders:
    image: shop/orders:1
    deploy: {replicas: 2}
    environment:
      - LOG_LEVEL=warn
      - PRICE=$$7
      - HOME_DIR=${HOME}
      - FROM_SHELL
    secrets: [db_password]
    x-workbench: {routes: [/orders]}
  billing:
    image: shop/billing:1
    deploy: {mode: global}
    volumes: ["billing-data:/data"]
    x-workbench: {routes: [/billing], port: 9000, health: /ready}
    environment: {WORKERS: 4, DEBUG: false}
"""


def test_a_foreign_file_gives_what_it_can_and_says_what_it_does_not(shop: Path) -> None:
    changes, seen = run(shop, FOREIGN, dry_run=True)
    assert (shop / "endpoints" / "orders" / "endpoint.yaml").read_text() == ORDERS  # dry run
    orders = changes[0].values
    assert orders == {"replicas": 2, "env": {"LOG_LEVEL": "warn", "PRICE": "$7"}}
    said = warnings(seen)
    assert any("HOME_DIR is interpolated from the shell" in w for w in said)
    assert any("FROM_SHELL takes its value from the shell" in w for w in said)
    assert any("compose secrets are files" in w for w in said)
    assert any("services.billing: deploy.mode is global" in w for w in said)
    billing = changes[1]
    assert billing.endpoint is None
    assert billing.values == {"port": 9000, "health": "/ready", "data": True,
                              "routes": ["/billing"], "env": {"DEBUG": "false", "WORKERS": "4"}}
    shown = lines(seen)
    assert any(line.startswith("billing: no such endpoint in the project; create it with "
                               "'workbench --batch new -e billing'") for line in shown)
    assert "    port: 9000" in shown
    result = next(e for e in seen if isinstance(e, Result))
    assert result.summary == "would change 1 endpoint.yaml file(s); to create: billing"
    _, seen = run(shop, FOREIGN)
    assert load_project(shop).endpoint("orders").replicas == 2


def test_env_of_the_environment_stays_in_workbench_yaml(shop: Path) -> None:
    text = "services:\n  orders:\n    environment: {REGION: eu, LOG_LEVEL: info, X: '1'}\n"
    changes, _ = run(shop, text, env="prod", dry_run=True)
    assert changes[0].values == {"env": {"LOG_LEVEL": "info", "X": "1"}}
    changes, _ = run(shop, text, dry_run=True)  # no environment: every variable
    assert changes[0].values == {"env": {"LOG_LEVEL": "info", "REGION": "eu", "X": "1"}}
    with pytest.raises(BadInput) as unknown:
        run(shop, text, env="prdo")
    assert "no environment 'prdo'" in unknown.value.line


BAD_FILES = [
    pytest.param("services: []\n", 1, ["'services:' mapping"], id="no-services"),
    pytest.param("image: x\n", 1, ["'services:' mapping"], id="not-compose"),
    pytest.param("services:\n  a: [1]\n", 2, ["services.a is not a mapping"], id="service-list"),
    pytest.param("services:\n  a:\n    deploy: {replicas: two}\n", 3,
                 ["services.a.deploy.replicas 'two' is not a count", "replicas: 2"],
                 id="replicas-text"),
    pytest.param("services:\n  a:\n    deploy:\n      replicas: 0\n", 4,
                 ["services.a.deploy.replicas 0"], id="replicas-zero"),
    pytest.param("services:\n  a:\n    x-workbench:\n      routes: [/ok, 'no/slash']\n", 4,
                 ["services.a.x-workbench.routes: 'no/slash' is not a path prefix"],
                 id="route"),
    pytest.param("services:\n  a:\n    x-workbench: {port: 70000}\n", 3,
                 ["services.a.x-workbench.port 70000 is not a port"], id="port"),
    pytest.param("services:\n  a:\n    environment: [1, 2]\n", 3,
                 ["services.a.environment is neither"], id="env-list"),
    pytest.param("services:\n  a:\n    environment: {'BAD-NAME': x}\n", 3,
                 ["'BAD-NAME' is not a variable name"], id="env-name"),
    pytest.param("services:\n  Web_1: {}\n", 2, ["'Web_1' is no endpoint name",
                                                  "x-workbench: {endpoint: "], id="name"),
    pytest.param("services:\n  a: {}\n  b:\n    x-workbench: {endpoint: a}\n", 3,
                 ["services.b and services.a are both endpoint a"], id="twice"),
    pytest.param("services:\n  a: {image: [\n", 3, ["invalid YAML"], id="yaml"),
]


@pytest.mark.parametrize(("text", "line", "words"), BAD_FILES)
def test_a_bad_file_is_one_line_naming_file_line_and_key(shop: Path, text: str, line: int,
                                                         words: list[str]) -> None:
    with pytest.raises(ConfigError) as bad:
        run(shop, text)
    message = bad.value.line
    assert message.startswith(f"{shop / 'stack.yaml'}:{line}: "), message
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert (shop / "endpoints" / "orders" / "endpoint.yaml").read_text() == ORDERS


def test_what_workbench_would_refuse_is_not_written(shop: Path) -> None:
    site = shop / "endpoints" / "site" / "endpoint.yaml"
    before = site.read_text()
    with pytest.raises(BadInput) as split:  # data: true on a local volume, 3 replicas
        run(shop, "services:\n  site:\n    deploy: {replicas: 3}\n")
    assert str(site) in split.value.line and "replicas: 3 with data: true" in split.value.line
    with pytest.raises(BadInput) as claimed:  # orders' route taken by site, nothing written
        run(shop, "services:\n  site:\n    x-workbench: {routes: [/orders/]}\n"
                  "  orders:\n    deploy: {replicas: 1}\n")
    assert "route /orders/ would belong to orders and to site" in claimed.value.line
    assert site.read_text() == before
    assert (shop / "endpoints" / "orders" / "endpoint.yaml").read_text() == ORDERS


def test_the_cli_says_one_line_and_exits_2_for_a_bad_file(shop: Path,
                                                         run_workbench: Any) -> None:
    (shop / "bad.yaml").write_text("services:\n  orders:\n    deploy: {replicas: -1}\n")
    done = run_workbench("--batch", "import", "--compose", "bad.yaml", cwd=shop)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"{shop / 'bad.yaml'}:3: services.orders.deploy.replicas -1" in done.stderr
    (shop / "ok.yaml").write_text("services:\n  orders:\n    deploy: {replicas: 2}\n")
    done = run_workbench("--batch", "import", "--compose", "ok.yaml", cwd=shop)
    assert done.returncode == 0, done.stderr
    assert "orders: replicas: 1 -> 2" in done.stdout
    assert load_project(shop).endpoint("orders").replicas == 2
