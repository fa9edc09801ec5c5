"""export --compose: the file made of the same ServiceSpec a deploy uses, checked against the
Compose Specification JSON schema that Debian's docker-compose package ships (loaded from
there, never copied into the repo), and the export op with a fake manager. No Docker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from helpers import require_part

from workbench import releases
from workbench.errors import BadInput, OperationFailed
from workbench.events import Event, Result, Warning
from workbench.model import Endpoint, Environment, GitSettings, Project
from workbench.ops import export as E
from workbench.releases import Release
from workbench.site import Site
from workbench.state import LocalStore
from workbench.swarm import compose as C
from workbench.swarm import spec as S
from workbench.swarm.secrets import SecretRef
from workbench.swarmconfig import SwarmOptions, UpdateSettings

SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
ENV = Environment("prod", engine="swarm", swarm=SwarmOptions("dnsrr", "host"), proxy_port=8080,
                  proxy_image="nginx:alpine")
PIN = "node.id==node1"
ID = "sha256:" + "ab" * 32
GO_DURATION = re.compile(r"^(\d+(ms|s|m|h))+$")


@pytest.fixture(scope="module")
def validator() -> Any:
    if not SCHEMA.is_file():
        require_part("the Compose Specification schema", f"{SCHEMA} is missing (Debian's "
                     "docker-compose package ships it: apt-get install docker-compose)")
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/")
    return jsonschema.Draft201909Validator(schema)  # what it names (as http, with '#')


def endpoint(name: str, **values: Any) -> Endpoint:
    base: dict[str, Any] = {"name": name, "path": Path(f"/p/endpoints/{name}"), "port": 8000,
                            "health": "/health", "routes": (f"/{name}",)}
    return Endpoint(**{**base, **values})


def specs() -> list[S.ServiceSpec]:
    image = S.Image(ID, "wb_shop_orders:v1", ("/entry",), ("python3", "app.py"))
    secret = SecretRef("wb_shop_prod_orders_0123456789ab", "sid1")
    orders = S.service_spec(
        "shop", ENV, endpoint("orders", secrets=("API_TOKEN",),
                              update=UpdateSettings(2, 3.0, 20.0)),
        image, version="v1", network="wb_shop_prod", pin=PIN, secrets=[secret],
        variables={"PRICE": "$5", "LOG_LEVEL": "info"}, git_sha="abc", config_hash="c0ffee")
    site = S.service_spec(
        "shop", ENV, endpoint("site", port=8080, data=False, replicas=3,
                              placement=("node.labels.web == true",)),
        S.Image(ID, "wb_shop_site:v2"), version="v2", network="wb_shop_prod")
    shared = S.service_spec(
        "shop", ENV, endpoint("files", replicas=2, volume_driver="rexray/ebs"),
        S.Image(ID, "wb_shop_files:v3"), version="v3", network="wb_shop_prod")
    proxy = S.proxy_spec("shop", ENV, image=S.Image(ID, "nginx:alpine"), network="wb_shop_prod",
                         pin=PIN)
    return [orders, site, shared, proxy]


def info() -> dict[str, C.EndpointInfo]:
    return {f"wb_shop_prod_{n}": C.EndpointInfo(n, (f"/{n}",), 8000, "/health", f"wb_shop_{n}:v")
            for n in ("orders", "site", "files")}


def unescaped(value: Any) -> Any:
    """What compose makes of a value: ``$$`` is ``$``."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {k: unescaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescaped(v) for v in value]
    return value


# -- the file -----------------------------------------------------------------------------------
def test_the_file_validates_against_the_compose_spec_schema(validator: Any) -> None:
    body = C.compose("shop", "prod", specs(), info())
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    text = C.dump(body, ["a header"])
    assert text.startswith("# a header\n")
    assert yaml.safe_load(text) == body  # the YAML says exactly that
    assert not sorted(validator.iter_errors(yaml.safe_load(text)), key=str)


def test_the_schema_check_can_fail(validator: Any) -> None:
    body = C.compose("shop", "prod", specs(), info())
    body["services"]["orders"]["deploy"]["update_config"]["order"] = "sideways"
    body["services"]["site"]["replicas_typo"] = 2
    found = {tuple(e.path)[:3] for e in validator.iter_errors(body)}
    assert ("services", "orders", "deploy") in found and ("services", "site") in found


def test_services_keep_their_names_labels_and_deploy_settings() -> None:
    orders, site, shared, proxy = specs()
    body = unescaped(C.compose("shop", "prod", [orders, site, shared, proxy], info()))
    assert C.stack_name("shop", "prod") == "wb_shop_prod"
    assert list(body["services"]) == ["orders", "site", "files", "proxy"]  # <stack>_<key>
    got = body["services"]["orders"]
    assert got["image"] == ID  # pinned by id, as the deploy pins it
    assert got["deploy"]["labels"] == dict(orders.labels)
    assert got["labels"] == dict(orders.container_labels)
    assert got["deploy"]["replicas"] == 1 and got["deploy"]["endpoint_mode"] == "dnsrr"
    assert got["deploy"]["update_config"] == {
        "parallelism": 2, "delay": "3s", "failure_action": "rollback", "monitor": "20s",
        "max_failure_ratio": 0.0, "order": "start-first"}
    assert got["deploy"]["rollback_config"]["failure_action"] == "pause"
    assert got["deploy"]["placement"] == {"constraints": [PIN]}  # local data stays on a node
    assert got["environment"] == {"LOG_LEVEL": "info", "PRICE": "$5"}
    assert got["entrypoint"] == list(orders.command) and got["command"] == list(orders.args)
    assert got["command"] == ["/entry", "python3", "app.py"]  # the image's own, wrapped
    assert orders.health is not None
    assert got["healthcheck"]["test"] == list(orders.health.test)
    assert got["healthcheck"]["start_period"] == "30s"
    assert got["networks"] == {"default": {"aliases": ["orders"]}}
    assert got["volumes"] == [{"type": "volume", "source": "wb_shop_prod_orders_data",
                               "target": "/data"}]
    assert got["secrets"][0]["source"] == "wb_shop_prod_orders_0123456789ab"
    assert got["secrets"][0]["target"] == "workbench.env"
    assert got["x-workbench"]["routes"] == ["/orders"]
    assert body["services"]["site"]["deploy"]["replicas"] == 3
    assert body["services"]["site"]["deploy"]["placement"] == {
        "constraints": ["node.labels.web==true"]}
    assert "volumes" not in body["services"]["site"]
    assert body["volumes"]["wb_shop_prod_files_data"]["driver"] == "rexray/ebs"
    assert body["volumes"]["wb_shop_prod_orders_data"]["name"] == "wb_shop_prod_orders_data"
    assert body["volumes"]["wb_shop_prod_orders_data"]["labels"]["dev.workbench.role"] == "data"
    assert body["secrets"] == {"wb_shop_prod_orders_0123456789ab": {
        "external": True, "name": "wb_shop_prod_orders_0123456789ab"}}
    assert body["networks"]["default"]["driver"] == "overlay"
    assert body["networks"]["default"]["attachable"] is True
    front = body["services"]["proxy"]
    assert front["ports"] == [{"target": 80, "published": 8080, "protocol": "tcp",
                               "mode": "host"}]
    assert front["stop_signal"] == "SIGQUIT" and front["deploy"]["replicas"] == 1
    assert front["deploy"]["update_config"]["order"] == "stop-first"


def test_every_dollar_is_escaped_for_compose() -> None:
    body = C.compose("shop", "prod", specs(), info())
    text = C.dump(body)
    # no '$' that compose would read as a variable: each one is doubled
    assert not re.search(r"(?<!\$)\$(?!\$)", text.replace("$$", ""))
    assert body["services"]["orders"]["environment"]["PRICE"] == "$$5"
    assert "$$" in body["services"]["proxy"]["entrypoint"][2]


def test_durations_are_go_durations() -> None:
    assert [C.duration(s) for s in (0, 2, 11.0, 0.5, 90)] == ["0s", "2s", "11s", "500ms", "90s"]
    body = C.compose("shop", "prod", specs(), info())
    found = re.findall(r"(?:delay|monitor|interval|timeout|start_period|stop_grace_period): "
                       r"(\S+)", C.dump(body))
    assert found and all(GO_DURATION.match(value) for value in found), found


def test_a_service_of_another_stack_is_refused() -> None:
    orders = specs()[0]
    with pytest.raises(ValueError):
        C.compose("shop", "staging", [orders], {})


# -- the op, with a fake manager ------------------------------------------------------------------
class FakeApi:
    def __init__(self, images: dict[str, dict[str, Any]], manager: bool = True) -> None:
        self.images = images
        self.manager = manager

    def info(self) -> dict[str, Any]:
        return {"Swarm": {"NodeID": "node1", "ControlAvailable": self.manager}}

    def inspect_image(self, ref: str) -> dict[str, Any]:
        import docker.errors

        if ref not in self.images:
            raise docker.errors.ImageNotFound(f"no such image: {ref}")
        return self.images[ref]

    def inspect_service(self, name: str) -> dict[str, Any]:
        labels = {"dev.workbench.project": "shop", "dev.workbench.env": "prod",
                  "dev.workbench.role": "app", "dev.workbench.endpoint": "orders"}
        return {"Spec": {"Name": name, "Labels": labels, "TaskTemplate": {"ContainerSpec": {
            "Secrets": [{"SecretName": "wb_shop_prod_orders_0123456789ab", "SecretID": "s1",
                         "File": {"Name": "workbench.env"}}]}}}}


class FakeEngine:
    where = "manager"

    def __init__(self, api: FakeApi) -> None:
        self.api = api


def project(root: Path, env: Environment = ENV) -> Project:
    return Project(root=root, name="shop", git=GitSettings(), environments=(env,),
                   endpoints=(endpoint("orders", secrets=("API_TOKEN",)),
                              endpoint("site", data=False)), models=(), utilities=())


def opener(store: LocalStore, api: FakeApi) -> Any:
    @contextlib.asynccontextmanager
    async def open_sites(_project: Project, _env: Environment) -> AsyncIterator[list[Site]]:
        yield [Site("manager", FakeEngine(api), store, asyncio.open_connection)]  # type: ignore[arg-type]

    return open_sites


def record(name: str, outcome: str = "ok", **values: Any) -> Release:
    config = {"port": 8000, "health": "/health", "health_timeout": 30.0,
              "routes": [f"/{name}"], "data": name == "orders", "replicas": 2 if name == "site"
              else 1, "placement": [], "volume_driver": "",
              "update": {"parallelism": 1, "delay": 0.0, "monitor": None}}
    base: dict[str, Any] = {
        "endpoint": name, "version": "v1", "host": "manager", "outcome": outcome,
        "image": f"wb_shop_{name}:v1", "engine": "swarm", "image_ref": ID,
        "replicas": config["replicas"], "variables": {"LOG_LEVEL": "info"},
        "secret_names": ("API_TOKEN",) if name == "orders" else (), "endpoint_config": config}
    return Release(**{**base, **values})


def run(root: Path, store: LocalStore, api: FakeApi, names: tuple[str, ...] = (),
        env: Environment = ENV) -> tuple[E.Exported, list[Event]]:
    seen: list[Event] = []
    done = asyncio.run(E.export(project(root, env), env.name, names, opener(store, api),
                                seen.append))
    return done, seen


IMAGES = {ID: {"Id": ID, "Config": {"Entrypoint": None, "Cmd": ["python3", "app.py"]}},
          "nginx:alpine": {"Id": "sha256:" + "cd" * 32}}


def test_export_writes_what_runs_and_leaves_out_what_never_ran(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    asyncio.run(releases.append(store, record("orders", version="v0")))
    asyncio.run(releases.append(store, record("orders")))
    asyncio.run(releases.append(store, record("orders", "failed", version="v9")))
    asyncio.run(releases.append(store, record("site", engine="docker")))  # not a Swarm release
    done, seen = run(tmp_path, store, FakeApi(IMAGES))
    assert done.missing == ("site",) and done.stack == "wb_shop_prod"
    assert done.services == ("wb_shop_prod_orders", "wb_shop_prod_proxy")
    assert [e.message for e in seen if isinstance(e, Warning)] == [
        "site is not deployed to prod: left out of the file"]
    assert next(e for e in seen if isinstance(e, Result)).data["missing"] == ["site"]
    body = unescaped(yaml.safe_load(done.text))
    orders = body["services"]["orders"]
    assert orders["deploy"]["labels"]["dev.workbench.version"] == "v1"  # the current one
    assert orders["command"] == ["python3", "app.py"]  # the image's CMD, behind the wrapper
    assert body["secrets"] == {"wb_shop_prod_orders_0123456789ab": {
        "external": True, "name": "wb_shop_prod_orders_0123456789ab"}}
    assert orders["deploy"]["placement"]["constraints"] == ["node.id==node1"]
    assert body["services"]["proxy"]["image"] == "sha256:" + "cd" * 32
    seed = body["services"]["proxy"]["environment"]["WB_PROXY_SEED"]
    assert "location /orders/" in seed and "set $wb_upstream orders:8000;" in seed
    assert "Not deployed, left out: site" in done.text
    # the same ServiceSpec a deploy would send (its API body)
    assert done.specs[0].replicas == 1 and done.specs[0].image == ID


def test_export_refuses_what_it_cannot_write_honestly(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    with pytest.raises(BadInput) as never:
        run(tmp_path, store, FakeApi(IMAGES))
    assert "not deployed to prod" in never.value.line and "deploy first" in never.value.line
    asyncio.run(releases.append(store, record("orders")))
    with pytest.raises(BadInput) as named:
        run(tmp_path, store, FakeApi(IMAGES), names=("site",))
    assert named.value.line.startswith("site is not deployed to prod")
    with pytest.raises(OperationFailed) as gone:
        run(tmp_path, store, FakeApi({"nginx:alpine": IMAGES["nginx:alpine"]}))
    assert "wb_shop_orders:v1" in gone.value.line and "no longer on manager" in gone.value.line
    with pytest.raises(BadInput) as worker:
        run(tmp_path, store, FakeApi(IMAGES, manager=False))
    assert "no Swarm manager" in worker.value.line
    docker_env = Environment("prod", engine="docker")
    with pytest.raises(BadInput) as single:
        run(tmp_path, store, FakeApi(IMAGES), env=docker_env)
    assert "engine: docker" in single.value.line and int(single.value.exit_code) == 2


def test_the_file_is_written_in_one_step(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "stack.yaml"
    target.write_text("old\n")
    E.write(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in folder.iterdir()] == ["stack.yaml"]  # no temporary left
    with pytest.raises(BadInput) as folder:
        E.write(tmp_path, "x")
    assert "is a folder" in folder.value.line
    with pytest.raises(BadInput) as missing:
        E.write(tmp_path / "nope" / "stack.yaml", "x")
    assert "does not exist" in missing.value.line


def test_as_deployed_takes_the_recorded_endpoint_values() -> None:
    now = endpoint("orders", port=9000, replicas=5, routes=("/new",))
    was = E.as_deployed(now, record("orders", replicas=3, endpoint_config={
        "port": 8000, "routes": ["/orders"], "health": "/ready", "health_timeout": 12,
        "data": True, "placement": ["node.labels.db==true"], "volume_driver": "",
        "update": {"parallelism": 2, "delay": 1.0, "monitor": 30.0}}))
    assert (was.port, was.routes, was.health, was.health_timeout, was.replicas) == (
        8000, ("/orders",), "/ready", 12.0, 3)
    assert was.placement == ("node.labels.db==true",)
    assert was.update == UpdateSettings(2, 1.0, 30.0)
    assert was.secrets == ("API_TOKEN",)
    assert MappingProxyType({}) == was.build_args


def test_the_cli_refuses_a_single_host_environment_and_writes_nothing(
        tmp_path: Path, run_workbench: Any) -> None:
    done = run_workbench("--batch", "new", "shop", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    target = tmp_path / "stack.yaml"
    done = run_workbench("--batch", "export", "--env", "local", "--compose", str(target),
                         cwd=tmp_path / "shop")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "workbench: error: environment 'local' has engine: docker: export --compose writes the "
        "services of a Swarm environment, and this one runs one container per host; export an "
        "environment with engine: swarm (set it and deploy there first)"]
    assert not target.exists()
