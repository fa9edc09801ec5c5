"""Drift between the repo and what runs, from data (:mod:`workbench.drift`): observed state
and repo facts in, flags and named changes out (commits, uncommitted edits, config, a build
context changed under the same sha, never deployed, removed, unreachable hosts), as text and
JSON. No Docker, no git."""

from __future__ import annotations

import json
from typing import Any

from workbench.drift import RepoEndpoint, RepoFacts, drift, drift_json, render_drift
from workbench.gitlog import GitLog
from workbench.observed import EnvState, HostState, Instance, Sealed
from workbench.releases import Release

HOST = "deploy@10.0.0.5:22"
HOST2 = "deploy@10.0.0.6:22"
CONFIG: dict[str, Any] = {"port": 8000, "health": "/health", "health_timeout": 30.0,
                          "routes": ["/orders"], "data": True, "env": ["LOG_LEVEL"],
                          "secrets": ["API_TOKEN"]}
GEN = "0a1b2c3d4e5f6a7b"
SECRET = "s3cr3t-value-never-shown"


def release(version: str = "v1", sha: str = "aaaa1111", *, host: str = HOST,
            variables: dict[str, str] | None = None, generation: str = GEN,
            config_hash: str = "h1", config: dict[str, Any] | None = None) -> Release:
    return Release("orders", version, host, "ok", container=f"c-{version}", git_sha=sha,
                   config_hash=config_hash, secrets_generation=generation,
                   variables={"LOG_LEVEL": "info"} if variables is None else variables,
                   secret_names=("API_TOKEN",), endpoint_config=dict(CONFIG if config is None
                                                                     else config),
                   user="ann", time="2025-01-01T10:00:00+00:00")


def running(r: Release, state: str = "running") -> Instance:
    return Instance(r.endpoint, r.host, container=r.container, state=state, version=r.version,
                    git_sha=r.git_sha, dirty=r.dirty, config_hash=r.config_hash,
                    env={"LOG_LEVEL": "info", "API_TOKEN": Sealed("f" * 64)})


def host(*records: Release, name: str = HOST, instances: tuple[Instance, ...] | None = None
         ) -> HostState:
    return HostState(name, instances=tuple(running(r) for r in records)
                     if instances is None else instances,
                     releases={r.endpoint: r for r in records},
                     last={r.endpoint: r for r in records})


def env(*hosts: HostState) -> EnvState:
    return EnvState("staging", "docker", hosts)


def repo(version: str = "v1", sha: str = "aaaa1111", *, dirty: bool = False,
         changes: tuple[str, ...] = (), variables: dict[str, str] | None = None,
         generation: str = GEN, config_hash: str = "h1", logs: dict[str, GitLog] | None = None,
         name: str = "orders", config: dict[str, Any] | None = None) -> RepoEndpoint:
    return RepoEndpoint(name, version, sha, dirty, changes, config_hash, generation,
                        {"LOG_LEVEL": "info"} if variables is None else variables,
                        ("API_TOKEN",), dict(CONFIG if config is None else config),
                        logs or {})


def facts(*items: RepoEndpoint, keyed: bool = True) -> RepoFacts:
    return RepoFacts({i.name: i for i in items}, keyed=keyed)


def test_the_same_sha_version_and_config_is_in_sync() -> None:
    found = drift(env(host(release())), facts(repo()))
    [item] = found.endpoints
    assert item.flags == () and not found.drifted and found.complete
    assert render_drift(found)[0] == "orders: in sync"


def test_commits_since_the_deploy_and_an_uncommitted_edit_are_named() -> None:
    log = GitLog(("bbbb222 Change the greeting", "ccc3333 Add a route"), (), 2, 0)
    found = drift(env(host(release())), facts(repo("v2", "ccc33333", dirty=True,
                                                    changes=(" M app.py", "?? notes.txt"),
                                                    logs={"aaaa1111": log})))
    [item] = found.endpoints
    assert item.flags == ("commits", "uncommitted") and item.commits == log
    text = render_drift(found)
    assert text[0] == "orders: commits, uncommitted"
    assert "  deployed: version v1, git aaaa1111" in text
    assert "  repo:     version v2, git ccc33333+dirty" in text
    assert "  commits (2 since the deployed sha):" in text
    assert "    + bbbb222 Change the greeting" in text and "    + ccc3333 Add a route" in text
    assert "  uncommitted changes (2):" in text and "     M app.py" in text


def test_a_repo_behind_the_deployed_sha_lists_the_commits_it_lacks() -> None:
    log = GitLog((), ("dddd444 A teammate's fix",), 0, 1)
    found = drift(env(host(release("v3", "dddd4444"))),
                  facts(repo("v1", "aaaa1111", logs={"dddd4444": log})))
    [item] = found.endpoints
    assert item.flags == ("behind",)
    assert "    - dddd444 A teammate's fix" in render_drift(found)


def test_a_deployed_sha_the_repo_lacks_is_said_not_hidden() -> None:
    log = GitLog(error="the repo has no commit 9999aaaa (fetch, or it was made in another "
                 "clone)")
    found = drift(env(host(release("v9", "9999aaaa"))),
                  facts(repo("v1", logs={"9999aaaa": log})))
    [item] = found.endpoints
    assert item.flags == ("sha-unknown",)
    assert any("the repo has no commit 9999aaaa" in line for line in render_drift(found))


def test_a_changed_variable_and_endpoint_yaml_value_are_config_drift() -> None:
    want = repo(variables={"LOG_LEVEL": "debug"}, config={**CONFIG, "health": "/healthz"},
                config_hash="h2")
    found = drift(env(host(release())), facts(want))
    [item] = found.endpoints
    assert item.flags == ("config",)
    text = render_drift(found)
    assert "  config changed since the deploy:" in text
    assert "    variable LOG_LEVEL: info -> debug" in text
    assert "    endpoint.yaml health: /health -> /healthz" in text


def test_changed_secrets_differ_without_a_value_or_generation() -> None:
    found = drift(env(host(release())), facts(repo(generation="ffffeeeeddddcccc",
                                                   config_hash="h2")))
    [item] = found.endpoints
    assert item.flags == ("config",)
    text = "\n".join(render_drift(found))
    blob = json.dumps(drift_json(found))
    assert "secrets: differ" in text and '"secrets": "differs"' in blob
    for shown in (text, blob):
        assert GEN not in shown and "ffffeeeeddddcccc" not in shown
        assert SECRET not in shown and "f" * 64 not in shown


def test_a_config_hash_alone_is_config_drift_when_the_record_says_nothing() -> None:
    old = release(config={}, variables={}, generation="", config_hash="h0")
    found = drift(env(host(old)), facts(repo()))
    [item] = found.endpoints
    assert item.flags == ("config",)
    assert "    config: differs (hash h0 -> h1; a record does not say what)" in \
        render_drift(found)


def test_without_the_environments_key_hashes_are_not_compared() -> None:
    found = drift(env(host(release())), facts(repo(config_hash="", generation=""),
                                              keyed=False))
    [item] = found.endpoints
    assert "config" not in item.flags
    assert item.config is not None and item.config.secrets == "unknown"


def test_the_same_sha_with_another_version_is_a_changed_build_context() -> None:
    found = drift(env(host(release("v1"))), facts(repo("v2")))
    [item] = found.endpoints
    assert item.flags == ("context",)
    [note] = item.notes
    assert "same sha aaaa1111, other version: deployed v1, the repo builds v2" in note
    assert "uncommitted" not in note
    dirty = drift(env(host(release("v1"))), facts(repo("v2", dirty=True)))
    assert dirty.endpoints[0].flags == ("uncommitted", "context")
    assert "uncommitted changes" in dirty.endpoints[0].notes[0]


def test_never_deployed_and_removed_from_the_repo() -> None:
    gone = Release("legacy", "v7", HOST, "ok", container="c-legacy", git_sha="eeee5555")
    found = drift(env(host(release(), gone)), facts(repo(), repo("n1", name="fresh")))
    flags = {i.endpoint: i.flags for i in found.endpoints}
    assert flags == {"orders": (), "fresh": ("never-deployed",), "legacy": ("removed",)}
    text = render_drift(found)
    assert "fresh: never deployed" in text
    assert "legacy: removed from the repo, still deployed" in text


def test_released_but_not_running_is_missing() -> None:
    r = release()
    found = drift(env(host(r, instances=(running(r, "exited"),))), facts(repo()))
    assert found.endpoints[0].flags == ("missing",)
    assert "  note: its container is exited" in render_drift(found)
    none = drift(env(host(r, instances=())), facts(repo()))
    assert none.endpoints[0].flags == ("missing",)


def test_an_unreachable_host_is_marked_and_the_other_still_reported() -> None:
    state = env(host(release()), HostState(HOST2, unreachable="cannot connect: refused"))
    found = drift(state, facts(repo("v2", "bbbb2222",
                                    logs={"aaaa1111": GitLog(("bbbb222 x",), (), 1, 0)})))
    assert not found.complete and found.unreachable == {HOST2: "cannot connect: refused"}
    [item] = found.endpoints
    assert item.hosts == (HOST,) and item.flags == ("commits",)
    text = render_drift(found)
    assert text[:2] == [f"unreachable: {HOST2}: cannot connect: refused",
                        "partial: 1 of 2 hosts read; the rest follows"]
    assert text[2] == f"orders on {HOST}: commits"
    blob = drift_json(found)
    assert blob["complete"] is False and blob["unreachable"] == {HOST2: "cannot connect: refused"}


def test_no_host_read_claims_nothing_of_the_hosts() -> None:
    state = env(HostState(HOST, unreachable="refused"))
    found = drift(state, facts(repo(dirty=True, changes=(" M app.py",))))
    [item] = found.endpoints
    assert item.flags == ("uncommitted",) and item.notes == ("no host could be read",)
    assert render_drift(found)[:3] == [f"unreachable: {HOST}: refused",
                                       "partial: 0 of 1 hosts read; the rest follows",
                                       "orders: uncommitted (no host read)"]


def test_hosts_running_different_versions_are_reported_apart() -> None:
    log = GitLog(("bbbb222 x",), (), 1, 0)
    state = env(host(release("v1", "aaaa1111")), host(release("v2", "bbbb2222", host=HOST2),
                                                      name=HOST2))
    found = drift(state, facts(repo("v2", "bbbb2222", logs={"aaaa1111": log})))
    assert [(i.hosts, i.flags) for i in found.endpoints] == [((HOST,), ("commits",)),
                                                            ((HOST2,), ())]
    assert f"orders on {HOST2}: in sync" in render_drift(found)
    same = drift(env(host(release()), host(release(host=HOST2), name=HOST2)), facts(repo()))
    assert [i.hosts for i in same.endpoints] == [(HOST, HOST2)]


def test_json_has_format_1_and_the_facts() -> None:
    log = GitLog(("bbbb222 Change the greeting",), (), 1, 0)
    found = drift(env(host(release())), facts(repo("v2", "bbbb2222", dirty=True,
                                                    changes=(" M app.py",),
                                                    variables={"LOG_LEVEL": "debug"},
                                                    config_hash="h2",
                                                    logs={"aaaa1111": log})))
    blob = json.loads(json.dumps(drift_json(found)))
    assert blob["format"] == 1 and blob["env"] == "staging" and blob["drifted"] is True
    [item] = blob["endpoints"]
    assert item["flags"] == ["commits", "uncommitted", "config"]
    assert item["deployed"]["git_sha"] == "aaaa1111" and item["repo"]["dirty"] is True
    assert item["commits"]["added"] == [{"sha": "bbbb222", "subject": "Change the greeting"}]
    assert item["uncommitted"] == [" M app.py"]
    assert item["config"]["variables"][0] == {"key": "LOG_LEVEL", "kind": "changed",
                                              "old": "info", "new": "debug"}
