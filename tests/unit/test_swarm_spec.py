"""The Swarm spec (workbench/swarm/spec.py) and the Swarm keys (workbench/swarmconfig.py), as
pure data: what a service is made of, and one line for each bad input. No Docker."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from workbench import proxy, proxyconf
from workbench.errors import BadInput, ConfigError
from workbench.model import Endpoint, Environment, load_project
from workbench.swarm import spec as S
from workbench.swarm.secrets import TARGET, SecretRef
from workbench.swarmconfig import (
    Constraint,
    SwarmOptions,
    UpdateSettings,
    eligible,
    matches,
    parse_constraint,
)

ENV = Environment("prod", engine="swarm", swarm=SwarmOptions("dnsrr", "host"), proxy_port=8080)
IMAGE = S.Image("sha256:" + "ab" * 32, "wb_shop_orders:v1", ("/entry",), ("python3", "app.py"))
PIN = "node.id==node1"


def endpoint(**values: object) -> Endpoint:
    base: dict[str, object] = {"name": "orders", "path": Path("/p/endpoints/orders"),
                               "port": 8000, "health": "/health", "routes": ("/orders",)}
    return Endpoint(**{**base, **values})  # type: ignore[arg-type]


def spec(ep: Endpoint | None = None, **values: object) -> S.ServiceSpec:
    options: dict[str, object] = {"version": "v1", "network": "wb_shop_prod", "pin": PIN,
                                  "variables": {"B": "2", "A": "1"}, "git_sha": "abc123",
                                  "config_hash": "c0ffee", **values}
    return S.service_spec("shop", ENV, ep or endpoint(), IMAGE, **options)  # type: ignore[arg-type]


def one_line(exc: BaseException, *words: str) -> None:
    line = getattr(exc, "line", str(exc))
    assert "\n" not in line and "Traceback" not in line
    for word in words:
        assert word in line, (word, line)


# -- an endpoint's service ----------------------------------------------------------------------
def test_a_service_is_named_labelled_and_pinned_to_its_image() -> None:
    made = spec()
    assert made.name == "wb_shop_prod_orders" and made.image == IMAGE.ref
    assert made.image_tag == "wb_shop_orders:v1"
    label = "dev.workbench."
    for key, value in (("project", "shop"), ("env", "prod"), ("endpoint", "orders"),
                       ("role", "app"), ("version", "v1"), ("git-sha", "abc123"),
                       ("config-hash", "c0ffee"), ("health", "/health")):
        assert made.labels[label + key] == value
    assert made.container_labels == made.labels  # observe finds the tasks' containers by them
    assert made.aliases == ("orders",) and made.network == "wb_shop_prod"
    assert made.endpoint_mode == "dnsrr" and made.replicas == 1
    assert list(made.env.items()) == [("A", "1"), ("B", "2")]
    assert made.command == () and made.args == ()  # no secrets: the image's own command


def test_the_health_check_runs_inside_the_container_and_gates_the_start() -> None:
    made = spec(endpoint(health="/ready", health_timeout=45.0))
    assert made.health is not None
    test = made.health.test
    assert test[:3] == ("CMD", "sh", "-c") and test[3] == S.HEALTH_SCRIPT
    assert "http://127.0.0.1:8000/ready" in test and "/ready" not in test[3]
    assert made.health.start_period == 45.0
    assert spec(health_timeout=7).health.start_period == 7.0  # type: ignore[union-attr]
    for tool in ("curl", "wget", "python3"):
        assert f"command -v {tool}" in S.HEALTH_SCRIPT
    assert "unset http_proxy" in S.HEALTH_SCRIPT


def test_rollouts_start_first_and_roll_back_with_a_derived_monitor() -> None:
    made = spec(endpoint(update=UpdateSettings(parallelism=2, delay=3)))
    derived = S.derived_monitor(made.health)  # type: ignore[arg-type]
    assert derived == (S.HEALTH_RETRIES + 1) * S.HEALTH_INTERVAL + S.HEALTH_TIMEOUT
    assert made.update == S.Rollout(2, 3.0, derived, "rollback", "start-first", 0.0)
    assert made.rollback == S.Rollout(2, 0.0, derived, "pause", "start-first", 0.0)
    raised = spec(endpoint(update=UpdateSettings(monitor=60)))
    assert raised.update.monitor == 60.0 and raised.rollback.monitor == 60.0


def test_a_rollback_can_never_be_skipped_silently() -> None:
    """For every delay and monitor a user may write: either the spec is refused with one line,
    or its monitor is at least the health check's and at least the delay (moby #37972)."""
    derived = S.derived_monitor(S.Health(()))
    for delay, monitor in itertools.product((0, 1, 5, 11, 12, 30, 600), (None, 1, 5, 11, 30,
                                                                          600)):
        settings = UpdateSettings(delay=float(delay),
                                  monitor=None if monitor is None else float(monitor))
        try:
            made = spec(endpoint(update=settings))
        except ConfigError as exc:
            one_line(exc, "endpoint.yaml")
            assert (monitor is not None and monitor < derived) or delay > max(derived,
                                                                              monitor or 0)
            continue
        assert made.update.monitor >= derived and made.update.monitor >= made.update.delay
        assert made.update.failure_action == "rollback" and made.update.max_failure_ratio == 0


def test_a_delay_longer_than_the_monitor_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        spec(endpoint(update=UpdateSettings(delay=30)))
    one_line(caught.value, "update.delay 30s is longer than the monitor (11s)", "moby #37972",
             "lower delay to at most 11", "update.monitor to at least 30")
    with pytest.raises(ConfigError) as caught:
        spec(endpoint(update=UpdateSettings(monitor=5)))
    one_line(caught.value, "update.monitor 5s is shorter than the 11s", "remove it")
    assert spec(endpoint(update=UpdateSettings(delay=30, monitor=30))).update.delay == 30


def test_a_local_data_volume_stays_on_one_node() -> None:
    made = spec()
    [mount] = made.mounts
    assert (mount.source, mount.target, mount.driver) == ("wb_shop_prod_orders_data", "/data", "")
    assert mount.labels["dev.workbench.role"] == "data"
    assert made.constraints == (PIN,)
    own = spec(endpoint(placement=("node.labels.db == true",)))
    assert own.constraints == ("node.labels.db==true",)  # the user's choice; no pin added
    with pytest.raises(ValueError, match="needs a pin"):
        spec(pin="")
    shared = spec(endpoint(replicas=3, volume_driver="rexray/ebs"), pin="")
    assert shared.mounts[0].driver == "rexray/ebs" and shared.constraints == ()
    free = spec(endpoint(replicas=3, data=False), pin="")
    assert free.mounts == () and free.constraints == () and free.replicas == 3


@pytest.mark.parametrize("driver", ["", "local"])
def test_replicas_with_a_local_volume_are_refused(driver: str) -> None:
    with pytest.raises(ConfigError) as caught:
        spec(endpoint(replicas=2, volume_driver=driver))
    one_line(caught.value, "endpoints/orders/endpoint.yaml", "replicas: 2 with data: true",
             "set data: false, replicas: 1, or volume_driver")


def test_a_name_swarm_cannot_take_is_refused() -> None:
    long = "e" * 40
    with pytest.raises(BadInput) as caught:
        S.service_spec("p" * 30, ENV, endpoint(name=long), IMAGE, version="v", network="n",
                       pin=PIN)
    one_line(caught.value, "characters long; Swarm takes at most 63", "shorter")


def test_secrets_are_mounted_and_exported_to_the_images_own_command() -> None:
    ref = SecretRef("wb_shop_prod_orders_0123456789ab", "secretid1")
    made = spec(endpoint(secrets=("DB_PASSWORD",)), secrets=[ref])
    assert made.secrets == (ref,)
    assert made.command[:2] == ("/bin/sh", "-c") and TARGET in made.command[2]
    assert made.args == ("/entry", "python3", "app.py")
    body = S.to_api(made, "netid")
    [mounted] = body["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert mounted == {"SecretID": "secretid1", "SecretName": ref.name,
                       "File": {"Name": TARGET, "UID": "0", "GID": "0", "Mode": 0o444}}
    assert not any("DB_PASSWORD=" in item for item in body["TaskTemplate"]["ContainerSpec"]["Env"])
    bare = dataclasses.replace(IMAGE, entrypoint=(), cmd=())
    with pytest.raises(BadInput) as caught:
        S.service_spec("shop", ENV, endpoint(), bare, version="v", network="n", pin=PIN,
                       secrets=[ref])
    one_line(caught.value, "neither ENTRYPOINT nor CMD", "CMD")


# -- the API body -----------------------------------------------------------------------------
def test_the_api_body_is_what_docker_takes() -> None:
    body = S.to_api(spec(endpoint(replicas=1, update=UpdateSettings(parallelism=1, delay=2))),
                    "net123")
    template = body["TaskTemplate"]
    container = template["ContainerSpec"]
    assert container["Image"] == IMAGE.ref and container["Env"] == ["A=1", "B=2"]
    assert container["Healthcheck"]["Interval"] == 2_000_000_000
    assert container["Healthcheck"]["Retries"] == S.HEALTH_RETRIES
    assert container["StopGracePeriod"] == 10_000_000_000
    assert container["Mounts"] == [{"Type": "volume", "Source": "wb_shop_prod_orders_data",
                                    "Target": "/data", "VolumeOptions": {"Labels": {
                                        "dev.workbench.project": "shop",
                                        "dev.workbench.env": "prod",
                                        "dev.workbench.role": "data",
                                        "dev.workbench.endpoint": "orders"}}}]
    assert template["Placement"] == {"Constraints": [PIN]}
    assert template["Networks"] == [{"Target": "net123", "Aliases": ["orders"]}]
    assert template["RestartPolicy"]["Condition"] == "any"
    assert body["Mode"] == {"Replicated": {"Replicas": 1}}
    assert body["UpdateConfig"] == {"Parallelism": 1, "Delay": 2_000_000_000,
                                    "FailureAction": "rollback", "Monitor": 11_000_000_000,
                                    "MaxFailureRatio": 0.0, "Order": "start-first"}
    assert body["RollbackConfig"]["FailureAction"] == "pause"
    assert body["EndpointSpec"] == {"Mode": "dnsrr"}
    assert body["Labels"][S.SPEC_HASH] == S.spec_hash(body)


def test_the_spec_hash_changes_with_what_runs_and_only_with_it() -> None:
    base = S.to_api(spec(), "net")[ "Labels"][S.SPEC_HASH]
    assert S.to_api(spec(), "net")["Labels"][S.SPEC_HASH] == base
    changed = [
        S.to_api(spec(variables={"A": "2"}), "net"),
        S.to_api(spec(version="v2"), "net"),
        S.to_api(spec(endpoint(replicas=2, data=False), pin=""), "net"),
        S.to_api(spec(), "other-network"),
        S.to_api(S.service_spec("shop", ENV, endpoint(), dataclasses.replace(
            IMAGE, ref="sha256:" + "cd" * 32), version="v1", network="wb_shop_prod", pin=PIN,
            variables={"B": "2", "A": "1"}, git_sha="abc123", config_hash="c0ffee"), "net"),
    ]
    assert len({body["Labels"][S.SPEC_HASH] for body in changed} | {base}) == 6


def test_the_deadline_covers_every_batch_and_a_rollback() -> None:
    one = S.rollout_deadline(spec(endpoint(data=False), pin=""))
    four = S.rollout_deadline(spec(endpoint(data=False, replicas=4), pin=""))
    assert four > one > 2 * (30 + 11)
    parallel = S.rollout_deadline(spec(endpoint(data=False, replicas=4,
                                                update=UpdateSettings(parallelism=4)), pin=""))
    assert parallel == one


# -- the proxy --------------------------------------------------------------------------------
@pytest.mark.parametrize(("publish", "mode"), [("host", "dnsrr"), ("ingress", "vip")])
def test_the_proxy_is_one_pinned_task_publishing_the_port(publish: str, mode: str) -> None:
    env = dataclasses.replace(ENV, swarm=SwarmOptions("dnsrr", publish))  # type: ignore[arg-type]
    made = S.proxy_spec("shop", env, image=S.Image("sha256:" + "ef" * 32, "nginx:alpine"),
                        network="wb_shop_prod", pin="node.id==m1")
    assert made.name == "wb_shop_prod_proxy" and made.labels["dev.workbench.role"] == "proxy"
    assert made.labels["dev.workbench.proxy-image"] == "nginx:alpine"
    assert made.replicas == 1 and made.constraints == ("node.id==m1",)
    assert made.ports == (S.Port(8080, 80, publish),)  # type: ignore[arg-type]
    assert made.endpoint_mode == mode and made.update.order == "stop-first"
    [volume] = made.mounts
    assert volume.source == "wb_shop_prod_proxy_conf" and volume.target == proxy.CONF_DIR
    assert S.PROXY_CONF_DIR == proxy.CONF_DIR and proxy.CONF_PATH in S.PROXY_SCRIPT
    seed = made.env["WB_PROXY_SEED"]
    assert "resolver 127.0.0.11 valid=1s" in seed and proxyconf.config_id(seed)
    body = S.to_api(made, "net")
    assert body["EndpointSpec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80,
                                              "PublishedPort": 8080, "PublishMode": publish}]
    assert body["TaskTemplate"]["Networks"] == [{"Target": "net"}]
    assert body["TaskTemplate"]["ContainerSpec"]["StopSignal"] == "SIGQUIT"


def test_the_swarm_proxy_config_resolves_names_per_request() -> None:
    routes = [proxyconf.Route("/orders", "orders", "orders", 8000),
              proxyconf.Route("/a.b", "site", "site", 8080)]
    text = proxyconf.render("shop", "prod", routes)
    assert "resolver 127.0.0.11 valid=1s ipv6=off;" in text and "    upstream " not in text
    assert "set $wb_upstream orders:8000;" in text and "proxy_pass http://$wb_upstream;" in text
    assert r"rewrite ^/a\.b(/.*)$ $1 break;" in text and "rewrite ^ / break;" in text
    assert "proxy_next_upstream error timeout;" in text


# -- placement constraints --------------------------------------------------------------------
def test_constraints_are_judged_against_nodes() -> None:
    node = {"node.id": "n1", "node.hostname": "db-1", "node.role": "manager",
            "node.labels.db": "true", "node.platform.os": "linux"}
    assert parse_constraint(" node.labels.db == true ") == Constraint("node.labels.db", "==",
                                                                       "true")
    assert parse_constraint("node.labels.db = true") is None
    assert parse_constraint("nodes.id==x") is None
    assert matches(Constraint("node.role", "==", "Manager"), node) is True
    assert matches(Constraint("node.hostname", "!=", "db-1"), node) is False
    assert matches(Constraint("node.labels.ssd", "==", "true"), node) is False
    assert matches(Constraint("engine.labels.x", "==", "y"), node) is None
    assert eligible((Constraint("engine.labels.x", "==", "y"),), node)  # unknown: counted met
    assert not eligible((Constraint("node.labels.db", "!=", "true"),), node)


# -- the keys in the project files ------------------------------------------------------------
PROJECT = """\
project: shop
endpoints: [orders]
environments:
  prod:
    engine: swarm
    hosts: [root@m1, root@w1]
{extra}"""


def load(tmp_path: Path, extra: str = "", endpoint_yaml: str = "port: 8000\n") -> object:
    root = tmp_path / "shop"
    (root / "endpoints" / "orders").mkdir(parents=True, exist_ok=True)
    (root / "workbench.yaml").write_text(PROJECT.format(extra=extra))
    (root / "endpoints" / "orders" / "endpoint.yaml").write_text(endpoint_yaml)
    return load_project(root)


def test_the_swarm_keys_load(tmp_path: Path) -> None:
    project = load(tmp_path, "    registry: registry.example.com:5000/shop\n"
                   "    swarm: {endpoint_mode: dnsrr, publish_mode: host}\n",
                   "data: false\nreplicas: 3\nupdate: {parallelism: 2, delay: 4, monitor: 20}\n"
                   "placement: [node.role == worker, node.labels.zone != b]\n")
    env = project.environment("prod")  # type: ignore[attr-defined]
    assert env.registry == "registry.example.com:5000/shop"
    assert env.swarm == SwarmOptions("dnsrr", "host")
    orders = project.endpoint("orders")  # type: ignore[attr-defined]
    assert orders.replicas == 3 and orders.update == UpdateSettings(2, 4.0, 20.0)
    assert orders.placement == ("node.role == worker", "node.labels.zone != b")
    defaults = load(tmp_path).endpoint("orders")  # type: ignore[attr-defined]
    assert (defaults.replicas, defaults.update, defaults.placement, defaults.volume_driver) == (
        1, UpdateSettings(), (), "")


@pytest.mark.parametrize(("extra", "words"), [
    ("    registry: http://r.example.com\n", ["is not host[:port][/prefix]", "no scheme"]),
    ("    swarm: {endpoint_mode: ipvs}\n", ["must be one of vip, dnsrr"]),
    ("    swarm: {publish: host}\n", ["unknown key 'publish'", "publish_mode"]),
    ("    proxy_bind: 127.0.0.1\n", ["publishes the proxy port on every address",
                                     "remove proxy_bind"]),
    ("    keep_releases: 3\n", ["does not prune images yet", "remove keep_releases"]),
])
def test_bad_environment_keys_get_one_line(tmp_path: Path, extra: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    one_line(caught.value, "workbench.yaml:", *words)


@pytest.mark.parametrize("key", ["registry: r.example.com/x", "swarm: {endpoint_mode: dnsrr}"])
def test_swarm_keys_on_a_docker_environment_are_refused(tmp_path: Path, key: str) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "workbench.yaml").write_text(f"project: shop\nenvironments:\n  staging:\n    "
                                         f"hosts: [a@b]\n    {key}\n")
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    one_line(caught.value, "workbench.yaml:5", "applies only to engine: swarm",
             "has engine: docker", "set 'engine: swarm'")


def test_local_cannot_be_a_swarm(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "workbench.yaml").write_text("project: shop\nenvironments:\n  local:\n"
                                         "    engine: swarm\n")
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    one_line(caught.value, "workbench.yaml:4", "'local' environment", "hosts: [you@127.0.0.1]")


@pytest.mark.parametrize(("body", "line", "words"), [
    ("replicas: 2\n", 1, ["replicas: 2 with data: true on a local volume", "volume_driver"]),
    ("replicas: 2\nvolume_driver: local\n", 1, ["on the local driver"]),
    ("data: false\nvolume_driver: rexray/ebs\n", 2, ["data is false", "remove volume_driver"]),
    ("replicas: 0\n", 1, ["whole number from 1 to 1000"]),
    ("update: {parallelism: 0}\n", 1, ["'parallelism'", "from 1"]),
    ("update: {delay: -1}\n", 1, ["'delay'"]),
    ("update: {order: stop-first}\n", 1, ["unknown key 'order'"]),
    ("placement:\n  - node.labels.db == true\n  - node.labels.db = true\n", 3,
     ["is not a constraint workbench knows"]),
    ("placement: [node.role == leader]\n", 1, ["node.role is manager or worker"]),
    ("volume_driver: 'a b'\n", 1, ["is not a driver name"]),
])
def test_bad_endpoint_keys_get_one_line_with_the_line(tmp_path: Path, body: str, line: int,
                                                      words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, endpoint_yaml=body)
    one_line(caught.value, f"endpoint.yaml:{line}:", *words)
