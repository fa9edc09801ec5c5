"""normalize(): what the engine fills in is dropped by the written rules, and counted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from workbench.normalize import RULE_IDS, RULES, Mixed, normalize
from workbench.observed import EnvState, HostState, Instance, Sealed
from workbench.releases import Release


def instance(host: str = "h1", environment: str = "staging", endpoint: str = "orders",
             **changes: Any) -> Instance:
    """A container as the docker engine's observe reads it, with engine-filled fields."""
    env = environment
    base = Instance(
        endpoint=endpoint, host=host, container=f"wb_shop_{env}_{endpoint}_v1_{host}",
        container_id=f"id-{host}-{env}", state="running", health="healthy",
        started_at=f"2024-05-01T10:00:0{len(host)}Z", restarts=0,
        image=f"wb_shop_{endpoint}:v1", image_id=f"sha256:{host}{env}", version="v1",
        git_sha="1a2b3c", config_hash=f"cfg-{env}",
        env={"PATH": "/usr/local/bin:/usr/bin", "LANG": "C.UTF-8", "LOG_LEVEL": "info"},
        image_env={"PATH": "/usr/local/bin:/usr/bin", "LANG": "C.UTF-8"},
        labels={"dev.workbench.project": "shop", "dev.workbench.env": env,
                "dev.workbench.version": "v1", "com.docker.compose.project": "x",
                "maintainer": "team", "team": "orders"},
        image_labels={"maintainer": "team"},
        ports=("127.0.0.1:49153->8000/tcp",),
        mounts=(f"volume wb_shop_{env}_{endpoint}_data -> /data (rw)",),
        restart_policy="unless-stopped")
    return replace(base, **changes)


def release(host: str = "h1", endpoint: str = "orders", **changes: Any) -> Release:
    return replace(Release(endpoint, "v1", host, "ok", git_sha="1a2b3c", config_hash="cfg",
                           secrets_generation="gen", user="ann", time="2024-05-01T10:00:00Z"),
                   **changes)


def env_state(*hosts: HostState, env: str = "staging") -> EnvState:
    return EnvState(env, "docker", hosts)


def one(inst: Instance, env: str = "staging", routes: tuple[str, ...] = ("/orders",),
        rel: Release | None = None) -> EnvState:
    return env_state(HostState(inst.host, instances=(inst,), routes={inst.endpoint: routes},
                               releases={inst.endpoint: rel} if rel else {}), env=env)


def facts(state: EnvState, endpoint: str = "orders") -> dict[str, dict[str, object]]:
    return {c: dict(k) for c, k in normalize(state).endpoints[endpoint].items()}


def test_the_rules_are_one_table_and_every_rule_is_counted() -> None:
    assert len(set(RULE_IDS)) == len(RULES)
    assert all(rule.what and rule.one and rule.why for rule in RULES)
    ignored = normalize(one(instance())).ignored
    assert list(ignored) == list(RULE_IDS)


def test_engine_filled_fields_are_dropped_and_counted() -> None:
    a = facts(one(instance()))
    b = facts(one(instance(container="wb_shop_staging_orders_v1_ffff", container_id="other",
                           started_at="2030-01-01T00:00:00Z", image_id="sha256:rebuilt")))
    assert a == b
    text = repr(a)
    for engine_filled in ("wb_shop_staging_orders_v1_h1", "id-h1", "2024-05-01", "sha256:",
                          "wb_shop_orders:v1", "dev.workbench", "com.docker"):
        assert engine_filled not in text
    ignored = normalize(one(instance())).ignored
    assert ignored["container-name"] == ignored["container-id"] == 1
    assert ignored["start-time"] == ignored["image-id"] == ignored["image-name"] == 1
    assert ignored["engine-label"] == 4


def test_the_facts_kept_by_category() -> None:
    got = facts(one(instance(), rel=release()))
    assert got["release"] == {"version": "v1", "git sha": "1a2b3c",
                              "config hash": "same on every host",
                              "secrets generation": "same on every host"}
    assert got["env"] == {"LOG_LEVEL": "info"}
    assert got["network"] == {"port 8000/tcp": "127.0.0.1:ephemeral",
                              "mount /data": "data volume (rw)", "routes": "/orders"}
    assert got["health"] == {"state": "running, healthy", "restarts": "0"}
    assert got["deploy"] == {"containers per host": "1", "replicas": "1",
                             "restart policy": "unless-stopped", "label team": "orders"}


def test_order_of_ports_mounts_routes_and_variables_does_not_matter() -> None:
    ports = ("127.0.0.1:8080->8000/tcp", "127.0.0.1:9090->9000/tcp")
    mounts = ("bind /srv/a -> /a (ro)", "volume wb_shop_staging_orders_data -> /data (rw)")
    env = {"A": "1", "B": "2"}
    first = one(instance(ports=ports, mounts=mounts, env=env), routes=("/a", "/b"))
    second = one(instance(ports=ports[::-1], mounts=mounts[::-1], env=dict(reversed(env.items()))),
                 routes=("/b", "/a"))
    assert facts(first) == facts(second)
    assert normalize(second).ignored["order"] == 4
    assert normalize(first).ignored["order"] == 0


def test_the_images_default_env_is_dropped_unless_overridden_or_set_by_workbench() -> None:
    overridden = instance(env={"PATH": "/opt/bin", "LANG": "C.UTF-8", "LOG_LEVEL": "info"})
    got = normalize(one(overridden))
    assert got.endpoints["orders"]["env"] == {"PATH": "/opt/bin", "LOG_LEVEL": "info"}
    assert got.ignored["image-env"] == 1
    # workbench itself set LANG (the release record says so): kept though equal to the default
    kept = facts(one(instance(), rel=release(variables={"LANG": "C.UTF-8"})))
    assert kept["env"] == {"LANG": "C.UTF-8", "LOG_LEVEL": "info"}


def test_ephemeral_host_ports_compare_equal_and_asked_ones_do_not() -> None:
    a = facts(one(instance(ports=("127.0.0.1:49153->8000/tcp", ":::49154->8000/tcp"))))
    b = facts(one(instance(ports=("127.0.0.1:49160->8000/tcp", ":::49161->8000/tcp"))))
    assert a["network"]["port 8000/tcp"] == "127.0.0.1:ephemeral, :::ephemeral"
    assert a == b
    fixed = facts(one(instance(ports=("0.0.0.0:8080->8000/tcp",))))
    assert fixed["network"]["port 8000/tcp"] == "0.0.0.0:8080"
    assert fixed != facts(one(instance(ports=("0.0.0.0:8081->8000/tcp",))))
    # the host ip is kept
    assert a != facts(one(instance(ports=("0.0.0.0:49153->8000/tcp", ":::49154->8000/tcp"))))


def test_asked_for_bindings_decide_what_is_ephemeral_when_observed() -> None:
    asked = instance(ports=("127.0.0.1:40000->8000/tcp", "127.0.0.1:1234->9000/tcp"),
                     asked_ports=("127.0.0.1:40000->8000/tcp", "127.0.0.1:->9000/tcp"))
    got = normalize(one(asked))
    assert got.endpoints["orders"]["network"]["port 8000/tcp"] == "127.0.0.1:40000"
    assert got.endpoints["orders"]["network"]["port 9000/tcp"] == "127.0.0.1:ephemeral"
    assert got.ignored["ephemeral-port"] == 1


def test_data_volumes_named_for_the_environment_compare_equal() -> None:
    new = facts(one(instance(environment="staging"), env="staging"))
    legacy = ("volume wb-shop-prod-orders-data -> /data (rw)",)
    old = facts(one(instance(environment="prod", mounts=legacy), env="prod"))
    assert new["network"]["mount /data"] == old["network"]["mount /data"] == "data volume (rw)"
    # another environment's volume, or another endpoint's, is not this one's data volume
    foreign = facts(one(instance(mounts=("volume wb_shop_prod_orders_data -> /data (rw)",))))
    assert foreign["network"]["mount /data"] == "volume wb_shop_prod_orders_data (rw)"
    other = facts(one(instance(mounts=("volume wb_shop_staging_billing_data -> /data (ro)",
                                       "bind /srv/conf -> /conf (ro)"))))
    assert other["network"] == {"mount /data": "volume wb_shop_staging_billing_data (ro)",
                                "mount /conf": "bind /srv/conf (ro)",
                                "port 8000/tcp": "127.0.0.1:ephemeral", "routes": "/orders"}


def test_labels_the_image_or_the_engine_set_are_dropped() -> None:
    got = normalize(one(instance(labels={"maintainer": "someone else", "team": "orders",
                                         "dev.workbench.git-sha": "x",
                                         "com.docker.swarm.task": "t"})))
    assert {k: v for k, v in got.endpoints["orders"]["deploy"].items()
            if k.startswith("label")} == {"label maintainer": "someone else",
                                          "label team": "orders"}
    assert got.ignored["engine-label"] == 2
    assert got.ignored["image-label"] == 0


def test_hosts_that_agree_give_one_value() -> None:
    state = env_state(HostState("h1", instances=(instance("h1"),), routes={"orders": ("/o",)}),
                      HostState("h2", instances=(instance("h2"),), routes={"orders": ("/o",)}))
    got = normalize(state)
    assert got.hosts == ("h1", "h2")
    assert got.endpoints["orders"]["env"] == {"LOG_LEVEL": "info"}
    assert got.endpoints["orders"]["deploy"]["containers per host"] == "1"
    assert got.ignored["container-id"] == 2


def test_hosts_that_disagree_say_so_in_host_order() -> None:
    h1 = instance("h1", env={"LOG_LEVEL": "info", "ONLY_H1": "x"})
    h2 = instance("h2", env={"LOG_LEVEL": "debug"}, version="v2")
    state = env_state(HostState("h1", instances=(h1,)), HostState("h2", instances=(h2,)),
                      HostState("h3"))
    got = normalize(state).endpoints["orders"]
    assert str(got["env"]["LOG_LEVEL"]) == "mixed: h1=info, h2=debug"
    assert str(got["env"]["ONLY_H1"]) == "mixed: h1=x, h2=(none)"
    assert str(got["release"]["version"]) == "mixed: h1=v1, h2=v2"
    assert str(got["deploy"]["containers per host"]) == "mixed: h1=1, h2=1, h3=0"
    assert got == normalize(state).endpoints["orders"]  # deterministic


def test_unreachable_hosts_are_listed_and_left_out() -> None:
    state = env_state(HostState("h1", instances=(instance("h1"),)),
                      HostState("h2", unreachable="connection refused"))
    got = normalize(state)
    assert got.unreachable == {"h2": "connection refused"}
    assert got.hosts == ("h1", "h2")
    assert got.endpoints["orders"]["deploy"]["containers per host"] == "1"


def test_a_secret_mixed_over_hosts_shows_which_agree_never_a_digest() -> None:
    h1 = instance("h1", env={"TOKEN": Sealed("digest-one")})
    h2 = instance("h2", env={"TOKEN": Sealed("digest-two")})
    h3 = instance("h3", env={"TOKEN": "plain-value"})
    state = env_state(*(HostState(i.host, instances=(i,)) for i in (h1, h2, h3)))
    token = normalize(state).endpoints["orders"]["env"]["TOKEN"]
    assert isinstance(token, Mixed)
    assert str(token) == "mixed: h1=(secret 1), h2=(secret 2), h3=(not secret)"
    same = env_state(*(HostState(i.host, instances=(i,)) for i in (h1, replace(h2, env=h1.env))))
    assert normalize(same).endpoints["orders"]["env"]["TOKEN"] == Sealed("digest-one")
    assert str(Sealed("digest-one")) == "(secret)"


def test_per_environment_digests_compare_only_as_agreement() -> None:
    staging = facts(one(instance(config_hash="aaa"), rel=release(secrets_generation="s1")))
    prod = facts(one(instance(config_hash="bbb"), env="prod",
                     rel=release(secrets_generation="p1")))
    assert staging["release"] == prod["release"]
    split = env_state(HostState("h1", instances=(instance("h1", config_hash="aaa"),)),
                      HostState("h2", instances=(instance("h2", config_hash="bbb"),)))
    got = normalize(split)
    assert str(got.endpoints["orders"]["release"]["config hash"]) == "mixed: h1=#1, h2=#2"
    assert "aaa" not in repr(got)
    assert got.ignored["env-digest"] == 2


def test_the_release_record_gives_the_health_path_and_deployed_config() -> None:
    config = {"port": 8000, "health": "/ready", "health_timeout": 30, "routes": ["/orders"],
              "data": True, "env": ["LOG_LEVEL"], "secrets": ["TOKEN"]}
    got = facts(one(instance(labels={"dev.workbench.health": "/health"}),
                    rel=release(endpoint_config=config)))
    assert got["health"]["path"] == "/ready"
    assert {k: v for k, v in got["deploy"].items() if k.startswith("endpoint.yaml")} == {
        "endpoint.yaml port": "8000", "endpoint.yaml health_timeout": "30"}
    # an older record without the deployed config: the container's label
    older = facts(one(instance(labels={"dev.workbench.health": "/health"}), rel=release()))
    assert older["health"]["path"] == "/health"
    assert not any(k.startswith("endpoint.yaml") for k in older["deploy"])


def test_an_endpoint_with_a_release_but_no_container_keeps_its_release_facts() -> None:
    state = env_state(HostState("h1", releases={"orders": release(git_sha="9f9f", dirty=True)}))
    got = normalize(state).endpoints["orders"]
    assert got["release"]["version"] == "v1"
    assert got["release"]["git sha"] == "9f9f (dirty)"
    assert got["deploy"]["containers per host"] == "0"
    assert got["env"] == {}
    assert normalize(state).ignored["release-history"] == 1


def test_restarts_and_state_are_compared_start_times_are_not() -> None:
    base = facts(one(instance()))
    assert base != facts(one(instance(restarts=3)))
    assert base != facts(one(instance(health="unhealthy (503)")))
    assert base == facts(one(instance(started_at="2031-01-01T00:00:00Z")))
