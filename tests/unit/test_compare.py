"""compare(), render() and to_json(): what differs, side by side, and never a secret's value."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench.compare import compare, ignored_line, render, to_json
from workbench.normalize import RULE_IDS, RULES, normalize
from workbench.observed import EnvState, HostState, Instance, Sealed
from workbench.releases import Release

TOKEN_A = Sealed("5e3c0d-digest-of-staging-token")
TOKEN_B = Sealed("77aa91-digest-of-prod-token")
KEY_LINE = re.compile(r"^  [~+\- ] \S")


def instance(host: str, environment: str, endpoint: str = "orders", **changes: Any) -> Instance:
    """A container as observe reads it: engine-filled fields differ per host and environment."""
    env = environment
    return replace(Instance(
        endpoint=endpoint, host=host, container=f"wb_shop_{env}_{endpoint}_v1_{host}",
        container_id=f"{host}{env}{endpoint}"[::-1], state="running", health="healthy",
        started_at=f"2024-05-0{len(host)}T10:00:00Z", image=f"wb_shop_{endpoint}:v1",
        image_id=f"sha256:{env}{host}", version="v1", git_sha="1a2b3c",
        config_hash=f"{env}-cfg", env={"PATH": "/usr/bin", "LOG_LEVEL": "info",
                                       "TOKEN": TOKEN_A},
        image_env={"PATH": "/usr/bin"},
        labels={"dev.workbench.project": "shop", "dev.workbench.env": env},
        ports=(f"127.0.0.1:{49000 + len(host) + len(env)}->8000/tcp",),
        mounts=(f"volume wb_shop_{env}_{endpoint}_data -> /data (rw)",),
        restart_policy="unless-stopped"), **changes)


def host(name: str, environment: str, *instances: Instance,
         routes: dict[str, tuple[str, ...]] | None = None) -> HostState:
    routes = routes if routes is not None else {i.endpoint: (f"/{i.endpoint}",)
                                                for i in instances}
    records = {i.endpoint: Release(i.endpoint, i.version, name, "ok", git_sha=i.git_sha,
                                   config_hash=i.config_hash,
                                   secrets_generation=f"{environment}-gen", time=name)
               for i in instances}
    return HostState(name, instances=instances, routes=routes, releases=records)


def staging() -> EnvState:
    return EnvState("staging", "docker", tuple(
        host(h, "staging", instance(h, "staging"), instance(h, "staging", "billing"))
        for h in ("s1", "s2")))


def differences(a: EnvState, b: EnvState) -> set[tuple[str, str, str, str]]:
    comparison = compare(normalize(a), normalize(b))
    found = {(e.name, k.category, k.key, k.status) for e in comparison.endpoints
             for k in e.keys if e.presence == "both" and k.status != "same"}
    found |= {(e.name, "", "", e.presence) for e in comparison.endpoints
              if e.presence != "both"}
    return found


def test_exactly_the_five_differences_and_nothing_else() -> None:
    prod_orders = instance("p1", "prod", version="v2", image="wb_shop_orders:v2",
                           env={"PATH": "/usr/bin", "LOG_LEVEL": "debug", "TOKEN": TOKEN_B})
    prod = EnvState("prod", "docker", (host("p1", "prod", prod_orders,
                                            routes={"orders": ("/orders", "/api/orders")}),))
    assert differences(staging(), prod) == {
        ("orders", "env", "LOG_LEVEL", "differs"), ("orders", "env", "TOKEN", "differs"),
        ("orders", "release", "version", "differs"), ("orders", "network", "routes", "differs"),
        ("billing", "", "", "only in A")}


def test_identical_environments_say_so_in_one_line_before_the_ignored_count() -> None:
    prod = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod"),
                                            instance("p1", "prod", "billing")),))
    comparison = compare(normalize(staging()), normalize(prod))
    assert not comparison.differs
    lines = render(comparison, all_keys=False)
    assert lines[-2] == "no differences between staging and prod: 2 endpoints compared"
    assert lines[-1].startswith("ignored by normalization: 6 container names, 6 container ids")
    assert lines[:2] == ["A staging: s1, s2", "B prod: p1"]
    assert len(lines) == 4
    assert to_json(comparison, all_keys=False)["endpoints"] == []


def test_secrets_are_compared_by_digest_and_never_shown() -> None:
    same = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod")),))
    other = EnvState("prod", "docker", (host("p1", "prod", instance(
        "p1", "prod", env={"PATH": "/usr/bin", "LOG_LEVEL": "info", "TOKEN": TOKEN_B})),))
    plain = EnvState("prod", "docker", (host("p1", "prod", instance(
        "p1", "prod", env={"PATH": "/usr/bin", "LOG_LEVEL": "info", "TOKEN": "hunter2"})),))
    a = normalize(EnvState("staging", "docker", (host("s1", "staging",
                                                      instance("s1", "staging")),)))
    for b, status in ((same, "same"), (other, "differs"), (plain, "differs")):
        comparison = compare(a, normalize(b))
        (token,) = [k for e in comparison.endpoints for k in e.keys if k.key == "TOKEN"]
        assert (token.status, token.secret) == (status, True)
        assert token.a == "(secret)"
        assert token.b == ("(not secret)" if b is plain else "(secret)")
        for all_keys in (False, True):
            out = "\n".join(render(comparison, all_keys)) + json.dumps(
                to_json(comparison, all_keys))
            for value in (TOKEN_A.digest, TOKEN_B.digest, "5e3c0d", "77aa91", "hunter2"):
                assert value not in out
    assert "TOKEN" in "\n".join(render(compare(a, normalize(other)), all_keys=False))


def test_endpoints_on_one_side_only() -> None:
    prod = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod", "search"),
                                            instance("p1", "prod")),))
    comparison = compare(normalize(staging()), normalize(prod))
    presence = {e.name: e.presence for e in comparison.endpoints}
    assert presence == {"billing": "only in A", "orders": "both", "search": "only in B"}
    assert (comparison.counts.endpoints_only_a, comparison.counts.endpoints_only_b) == (1, 1)
    lines = render(comparison, all_keys=False)
    assert "billing: only in A (staging)" in lines
    assert "search: only in B (prod)" in lines
    assert not any(line.startswith("orders") for line in lines)   # orders does not differ
    data = to_json(comparison, all_keys=False)
    assert [(e["name"], e["presence"], e["keys"]) for e in data["endpoints"]] == [
        ("billing", "only in A", []), ("search", "only in B", [])]


def test_an_unreachable_side_is_partial_and_says_why() -> None:
    prod = EnvState("prod", "docker", (HostState("p1", unreachable="connection refused"),
                                       host("p2", "prod", instance("p2", "prod"))))
    comparison = compare(normalize(staging()), normalize(prod))
    assert comparison.b.partial and not comparison.a.partial and comparison.partial
    lines = render(comparison, all_keys=False)
    assert lines[:3] == ["A staging: s1, s2", "B prod: p1, p2",
                         "  B p1 unreachable: connection refused"]
    assert "billing: only in A (staging); prod has unreachable hosts" in lines
    data = to_json(comparison, all_keys=False)
    assert data["b"]["unreachable"] == {"p1": "connection refused"}
    assert (data["b"]["partial"], data["a"]["partial"], data["partial"]) == (True, False, True)


def test_all_keys_shows_every_key_and_the_default_only_differences() -> None:
    prod = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod", restarts=2),
                                            instance("p1", "prod", "billing")),))
    comparison = compare(normalize(staging()), normalize(prod))
    short, full = render(comparison, all_keys=False), render(comparison, all_keys=True)
    keyed = [line for line in short if KEY_LINE.match(line)]
    assert keyed == [f"  ~ health   restarts  {'0':<37}  2"]
    assert any("LOG_LEVEL" in line for line in full)
    assert any(line.startswith("billing") for line in full)
    assert len([line for line in full if KEY_LINE.match(line)]) == (
        comparison.counts.same + comparison.counts.differs)
    brief = to_json(comparison, all_keys=False)
    assert [k["key"] for e in brief["endpoints"] for k in e["keys"]] == ["restarts"]
    every = to_json(comparison, all_keys=True)
    assert sum(len(e["keys"]) for e in every["endpoints"]) == comparison.counts.same + 1


def test_the_ignored_count_line_is_last_and_sums_both_sides() -> None:
    prod = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod")),))
    comparison = compare(normalize(staging()), normalize(prod))
    assert comparison.ignored["container-id"] == 5       # 4 in staging, 1 in prod
    assert comparison.ignored["ephemeral-port"] == 5
    assert comparison.ignored["image-env"] == 5
    assert comparison.ignored["env-name"] == 5
    for all_keys in (False, True):
        assert render(comparison, all_keys)[-1] == ignored_line(comparison.ignored)
    assert ignored_line(comparison.ignored).startswith(
        "ignored by normalization: 5 container names, 5 container ids, 5 start times, "
        "5 image ids, 5 image names, 5 ephemeral ports, 5 image variables, 10 workbench labels,"
        " 5 volume names with the environment,")
    assert ignored_line({"image-id": 1}) == "ignored by normalization: 1 image id"
    assert ignored_line({}) == "ignored by normalization: nothing"
    assert set(to_json(comparison, True)["ignored"]) == set(RULE_IDS)


def test_the_exact_text_of_a_small_comparison() -> None:
    a = EnvState("staging", "docker", (HostState("s1", instances=(Instance(
        "orders", "s1", container="c1", version="v1", state="running",
        env={"LOG_LEVEL": "info", "TOKEN": Sealed("x")}),), routes={"orders": ("/orders",)}),))
    b = EnvState("prod", "docker", (HostState("p1", instances=(Instance(
        "orders", "p1", container="c2", version="v2", state="running",
        env={"LOG_LEVEL": "debug", "TOKEN": Sealed("y"), "NEW": "1"}),),
        routes={"orders": ("/orders",)}), HostState("p2", unreachable="timed out")))
    assert render(compare(normalize(a), normalize(b)), all_keys=False, width=72) == [
        "A staging: s1",
        "B prod: p1, p2",
        "  B p2 unreachable: timed out",
        "                        A staging                B prod",
        "orders",
        "  ~ release  version    v1                       v2",
        "  ~ env      LOG_LEVEL  info                     debug",
        "  + env      NEW        (none)                   1",
        "  ~ env      TOKEN      (secret)                 (secret)",
        "ignored by normalization: 2 container names, 1 ordering",
    ]


def test_long_values_are_cut_to_their_column_and_never_break_lines() -> None:
    long_a = "a" * 300
    a = EnvState("staging", "docker", (HostState("s1", instances=(Instance(
        "orders", "s1", env={"BLOB": long_a, "MULTI": "one\ntwo"}),)),))
    b = EnvState("prod", "docker", (HostState("p1", instances=(Instance(
        "orders", "p1", env={"BLOB": "b" * 300, "MULTI": "one"}),)),))
    for width in (60, 100, 140):
        lines = render(compare(normalize(a), normalize(b)), all_keys=True, width=width)
        assert all(len(line) <= width for line in lines[:-1])
        (blob,) = [line for line in lines if "BLOB" in line]
        assert blob.count("…") == 2
        left, right = blob.split("…")[0], blob.split("…")[1]
        assert set(left.split()[-1]) == {"a"} and set(right.split()[-1]) == {"b"}
        (multi,) = [line for line in lines if "MULTI" in line]
        assert "one\\ntwo" in multi
    data = to_json(compare(normalize(a), normalize(b)), all_keys=True)
    assert {k["key"]: k["a"] for e in data["endpoints"] for k in e["keys"]}["BLOB"] == long_a


def test_asking_for_endpoints_limits_the_comparison() -> None:
    prod = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod")),))
    comparison = compare(normalize(staging()), normalize(prod), endpoints=["orders", "nope"])
    assert [e.name for e in comparison.endpoints] == ["orders"]
    assert comparison.missing == ("nope",)
    assert not comparison.differs
    assert "not found in either environment: nope" in render(comparison, all_keys=False)


def test_the_json_is_stable_and_documented() -> None:
    prod = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod", version="v2",
                                                                   image="wb_shop_orders:v2")),))
    comparison = compare(normalize(staging()), normalize(prod))
    data = to_json(comparison, all_keys=False)
    assert json.loads(json.dumps(data)) == data
    assert data["format"] == 1
    assert set(data) == {"format", "differs", "partial", "a", "b", "counts", "endpoints",
                         "missing", "ignored"}
    assert set(data["a"]) == {"env", "engine", "hosts", "unreachable", "partial", "ignored"}
    assert data["counts"] == {"same": comparison.counts.same, "differs": 1, "only_a": 0,
                              "only_b": 0, "endpoints": 1, "endpoints_only_a": 1,
                              "endpoints_only_b": 0}
    orders = next(e for e in data["endpoints"] if e["name"] == "orders")
    assert orders == {"name": "orders", "presence": "both", "differs": True, "keys": [
        {"category": "release", "key": "version", "status": "differs", "secret": False,
         "a": "v1", "b": "v2"}]}
    assert data == to_json(compare(normalize(staging()), normalize(prod)), all_keys=False)


def test_hosts_that_disagree_inside_one_environment_show_in_the_diff() -> None:
    split = EnvState("staging", "docker", (host("s1", "staging", instance("s1", "staging")),
                                           host("s2", "staging",
                                                instance("s2", "staging", version="v2",
                                                         image="wb_shop_orders:v2"))))
    prod = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod")),))
    comparison = compare(normalize(split), normalize(prod))
    (version,) = [k for e in comparison.endpoints for k in e.keys if k.status != "same"]
    assert (version.key, version.a, version.b) == ("version", "mixed: s1=v1, s2=v2", "v1")


def test_the_json_doc_names_every_rule_and_field() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "diff-json.md").read_text()
    for rule in RULES:
        assert f"| `{rule.id}` | {rule.what} |" in doc
    prod = EnvState("prod", "docker", (host("p1", "prod", instance("p1", "prod")),))
    data = to_json(compare(normalize(staging()), normalize(prod)), all_keys=True)
    fields = {*data, *data["a"], *data["counts"], *data["endpoints"][0],
              *data["endpoints"][0]["keys"][0]}
    assert all(f'"{name}"' in doc for name in fields)
