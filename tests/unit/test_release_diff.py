"""What changed between two releases, from the records as data (:mod:`workbench.releasediff`):
variables, endpoint.yaml values, secret names, secrets same/differs (never a value), version
and sha; which two records ``--previous`` and ``--since`` pick; hosts grouped; text and JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from workbench.errors import BadInput
from workbench.gitlog import GitLog
from workbench.releasediff import (
    DIFFERS,
    SAME,
    UNKNOWN,
    Pick,
    collect,
    config_diff,
    pick,
    release_changes_json,
    release_diff,
    render_release_changes,
)
from workbench.releases import Release

HOST = "deploy@10.0.0.5:22"
HOST2 = "deploy@10.0.0.6:22"
CONFIG: dict[str, Any] = {"port": 8000, "health": "/health", "health_timeout": 30.0,
                          "routes": ["/orders"], "data": True, "env": ["LOG_LEVEL"],
                          "secrets": ["API_TOKEN"]}
GEN_A, GEN_B = "0a1b2c3d4e5f6a7b", "9f8e7d6c5b4a3f2e"


def rel(version: str = "v1", *, host: str = HOST, outcome: str = "ok", sha: str = "aaaa111",
        variables: dict[str, str] | None = None, config: dict[str, Any] | None = None,
        secret_names: tuple[str, ...] = ("API_TOKEN",), generation: str = GEN_A,
        config_hash: str = "h1", time: str = "2025-01-01T10:00:00+00:00",
        kind: str = "deploy") -> Release:
    return Release("orders", version, host, outcome, kind=kind, git_sha=sha,
                   config_hash=config_hash, secrets_generation=generation,
                   variables={"LOG_LEVEL": "info"} if variables is None else variables,
                   secret_names=secret_names, endpoint_config=dict(CONFIG if config is None
                                                                   else config),
                   user="ann", time=time)


def test_a_changed_added_and_removed_variable_are_named_with_their_plain_values() -> None:
    old = rel(variables={"LOG_LEVEL": "info", "OLD": "x"})
    new = rel(variables={"LOG_LEVEL": "debug", "NEW": "y"})
    d = release_diff(old, new)
    assert [(c.key, c.kind, c.old, c.new) for c in d.config.variables] == [
        ("LOG_LEVEL", "changed", "info", "debug"), ("NEW", "added", None, "y"),
        ("OLD", "removed", "x", None)]
    assert not d.version_changed and not d.sha_changed and d.changed
    lines = diff_text(old, new)
    assert "variable LOG_LEVEL: info -> debug" in lines
    assert "variable NEW: added (y)" in lines and "variable OLD: removed (was x)" in lines


def test_endpoint_config_keys_that_changed_are_named() -> None:
    old = rel()
    new = rel(config={**CONFIG, "health": "/healthz", "routes": ["/orders", "/o"]})
    d = release_diff(old, new)
    assert [c.key for c in d.config.endpoint_config] == ["health", "routes"]
    lines = diff_text(old, new)
    assert "endpoint.yaml health: /health -> /healthz" in lines
    assert "endpoint.yaml routes: [/orders] -> [/orders, /o]" in lines


def test_secrets_are_same_or_differ_and_no_generation_or_value_is_shown() -> None:
    assert config_diff(rel(), rel()).secrets == SAME
    d = release_diff(rel(), rel(generation=GEN_B))
    assert d.config.secrets == DIFFERS and d.config.changed
    text = "\n".join(diff_text(rel(), rel(generation=GEN_B)))
    blob = json.dumps(release_changes_json(one(rel(), rel(generation=GEN_B))))
    assert "secrets: differ" in text and '"secrets": "differs"' in blob
    for shown in (text, blob):
        assert GEN_A not in shown and GEN_B not in shown


def test_secret_names_added_or_removed_name_no_value() -> None:
    d = release_diff(rel(secret_names=("API_TOKEN",)), rel(secret_names=("DB_URL",),
                                                          generation=GEN_B))
    assert [(c.key, c.kind) for c in d.config.secret_names] == [("API_TOKEN", "removed"),
                                                               ("DB_URL", "added")]
    lines = diff_text(rel(secret_names=("API_TOKEN",)), rel(secret_names=("DB_URL",)))
    assert "secret API_TOKEN: removed" in lines and "secret DB_URL: added" in lines


def test_secrets_removed_altogether_differ_and_a_record_without_them_is_unknown() -> None:
    no_secrets = rel(secret_names=(), generation="")
    assert config_diff(rel(), no_secrets).secrets == DIFFERS
    assert config_diff(no_secrets, replace(no_secrets, version="v2")).secrets == SAME
    unrecorded = rel(generation="")  # names secrets, records no generation
    assert config_diff(unrecorded, rel()).secrets == UNKNOWN


def test_version_and_sha_changes_with_the_git_log() -> None:
    log = GitLog(("bbbb222 Change the greeting",), (), 1, 0)
    d = release_diff(rel("v1", sha="aaaa111"), rel("v2", sha="bbbb222"), log)
    assert d.version_changed and d.sha_changed
    lines = diff_text(rel("v1", sha="aaaa111"), rel("v2", sha="bbbb222"), log)
    assert "version: v1 -> v2" in lines and "git: aaaa111 -> bbbb222" in lines
    assert "commits (1 added):" in lines and "  + bbbb222 Change the greeting" in lines
    assert not [line for line in lines if line.startswith(("variable", "endpoint.yaml"))]


def test_a_rollback_lists_the_commits_it_removed_and_a_dirty_flag_counts() -> None:
    log = GitLog((), ("bbbb222 Change the greeting",), 0, 1)
    lines = diff_text(rel("v2", sha="bbbb222"), rel("v1", sha="aaaa111", kind="rollback"), log)
    assert "commits (1 removed):" in lines and "  - bbbb222 Change the greeting" in lines
    dirty = release_diff(rel(), replace(rel(), dirty=True))
    assert dirty.sha_changed and not dirty.version_changed


def test_a_record_without_its_config_says_so_by_its_hash() -> None:
    old = rel(config={}, variables={}, secret_names=(), config_hash="h0", generation="")
    d = release_diff(old, rel())
    assert not d.config.recorded and d.config.variables == ()
    assert d.config.secrets == UNKNOWN
    assert "config: differs (hash h0 -> h1; a record does not say what)" in \
        diff_text(old, rel())


def test_the_same_config_lists_no_config_change() -> None:
    d = release_diff(rel("v1"), rel("v2", time="2025-01-02T10:00:00+00:00"))
    assert not d.config.changed
    assert diff_text(rel("v1"), rel("v2")) == ["version: v1 -> v2"]


# -- picking ------------------------------------------------------------------------------
def test_previous_is_the_ok_release_before_the_current_one() -> None:
    records = [rel("v1"), rel("v2"), rel("v3", outcome="failed"), rel("v2b"),
               rel("v9", host=HOST2)]
    chosen = pick(records, HOST, None)
    assert (chosen.old and chosen.old.version, chosen.new and chosen.new.version) == \
        ("v2", "v2b")


def test_a_config_only_redeploy_is_the_previous_release() -> None:
    first = rel("v1", variables={"LOG_LEVEL": "info"})
    second = rel("v1", variables={"LOG_LEVEL": "debug"}, time="2025-01-02T00:00:00+00:00")
    chosen = pick([first, second], HOST, None)
    assert chosen.old is first and chosen.new is second


def test_previous_of_one_release_or_none() -> None:
    assert pick([rel("v1")], HOST, None).note == "first release: nothing before it"
    assert pick([], HOST, None) == Pick(note="never released")
    assert pick([rel("v1", outcome="failed")], HOST, None).note == "never released (1 failed)"


def test_since_takes_a_unique_prefix_and_the_latest_earlier_record_of_it() -> None:
    records = [rel("abc123"), rel("def456"), rel("abc123", time="t3"), rel("ff0011")]
    chosen = pick(records, HOST, "ABC")
    assert chosen.old is records[2] and chosen.new is records[3]
    assert pick(records, HOST, "ff0011").old is records[3]  # only the current one: itself
    assert pick(records, HOST, "999").note == "no release '999'"


def test_an_ambiguous_prefix_is_bad_input_naming_the_versions() -> None:
    with pytest.raises(BadInput) as caught:
        pick([rel("abc123"), rel("abd456"), rel("ff0011")], HOST, "ab")
    assert "abc123, abd456" in caught.value.line and caught.value.exit_code == 2


# -- gathering and presenting -------------------------------------------------------------
def test_hosts_with_the_same_diff_are_one_item_and_others_their_own() -> None:
    a, b = rel("v1"), rel("v2")
    picks = {(HOST, "orders"): Pick(a, b), (HOST2, "orders"): Pick(replace(a, host=HOST2),
                                                                   replace(b, host=HOST2))}
    assert [i.hosts for i in collect("staging", None, ["orders"], picks, {}, {}).items] == \
        [(HOST, HOST2)]
    picks[(HOST2, "orders")] = Pick(new=replace(b, host=HOST2), note="first release: x")
    found = collect("staging", None, ["orders"], picks, {}, {})
    assert [(i.hosts, i.note) for i in found.items] == [((HOST,), ""),
                                                        ((HOST2,), "first release: x")]
    text = render_release_changes(found)
    assert text[0].startswith(f"orders on {HOST}: v1 (git aaaa111")
    assert text[-1] == f"orders on {HOST2}: first release: x"


def test_an_unreachable_host_is_named_and_the_rest_reported() -> None:
    changes = collect("staging", None, ["orders"], {(HOST, "orders"): Pick(rel("v1"),
                                                                          rel("v2"))},
                      {}, {HOST2: "cannot connect: Connection refused"})
    text = render_release_changes(changes)
    assert text[:2] == [f"unreachable: {HOST2}: cannot connect: Connection refused",
                        "partial: the hosts above were not read; the rest follows"]
    assert "  version: v1 -> v2" in text
    blob = release_changes_json(changes)
    assert blob["complete"] is False and blob["unreachable"] == {
        HOST2: "cannot connect: Connection refused"}


def test_json_has_format_1_and_the_changes() -> None:
    log = GitLog(("bbbb222 Greeting",), (), 1, 0)
    changes = collect("staging", "v1", ["orders"], {(HOST, "orders"): Pick(
        rel("v1", sha="aaaa111"), rel("v2", sha="bbbb222",
                                      variables={"LOG_LEVEL": "debug"}))},
        {("orders", "aaaa111", "bbbb222"): log}, {})
    blob = json.loads(json.dumps(release_changes_json(changes)))
    assert blob["format"] == 1 and blob["mode"] == "since" and blob["since"] == "v1"
    [item] = blob["endpoints"]
    assert item["hosts"] == [HOST] and item["version_changed"] and item["changed"]
    assert item["old"]["version"] == "v1" and item["new"]["git_sha"] == "bbbb222"
    assert item["config"]["variables"] == [{"key": "LOG_LEVEL", "kind": "changed",
                                            "old": "info", "new": "debug"}]
    assert item["config"]["secrets"] == "same"
    assert item["git_log"]["added"] == [{"sha": "bbbb222", "subject": "Greeting"}]


def test_the_same_release_on_both_sides_says_so() -> None:
    same = rel("v1")
    text = render_release_changes(collect("staging", "v1", ["orders"],
                                          {(HOST, "orders"): Pick(same, same)}, {}, {}))
    assert len(text) == 2 and text[0].startswith("orders: v1 (git aaaa111")
    assert text[1] == "  the same release"


def test_changed_is_whether_some_endpoint_has_two_releases_that_differ() -> None:
    assert not one(rel("v1"), rel("v1", time="t2")).changed
    assert one(rel("v1"), rel("v1", variables={"LOG_LEVEL": "debug"})).changed
    assert not collect("staging", None, ["orders"], {(HOST, "orders"): Pick(
        new=rel("v1"), note="first release: nothing before it")}, {}, {}).changed


def diff_text(old: Release, new: Release, log: GitLog | None = None) -> list[str]:
    """The change lines of ``old`` -> ``new`` as render_release_changes prints them."""
    lines = render_release_changes(one(old, new, log))
    return [line.removeprefix("  ") for line in lines[1:]]


def one(old: Release, new: Release, log: GitLog | None = None) -> Any:
    logs = {("orders", old.git_sha, new.git_sha): log} if log else {}
    return collect("staging", None, ["orders"], {(HOST, "orders"): Pick(old, new)}, logs, {})
