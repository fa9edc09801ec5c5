"""What prune keeps and removes, decided from data: releases, containers and images as plain
values (:func:`plan_host`), test-loop leftovers by their owner (:func:`plan_leftovers`), and the
operation over a fake engine (dry run, order, rails, a deploy's prune never failing it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import HANG_GUARD

from workbench import owner
from workbench.errors import BadInput, ConfigError, LockLost
from workbench.events import Event, LogLines, Result, Warning
from workbench.identity import Here
from workbench.model import Environment, Project, load_project
from workbench.ops.prune import (
    Decision,
    PruneOptions,
    Seen,
    after_deploy,
    kept_versions,
    plan_host,
    plan_leftovers,
    prune,
)
from workbench.releases import Release, append
from workbench.site import Site
from workbench.state import LocalStore

L = "dev.workbench."
HOST = "deploy@10.0.0.5:22"


def app(endpoint: str, version: str, *, env: str = "staging", project: str = "shop",
        running: bool = False, created: int = 0, name: str = "",
        image: str = "") -> Seen:
    labels = {f"{L}project": project, f"{L}env": env, f"{L}endpoint": endpoint,
              f"{L}version": version, f"{L}role": "app"}
    name = name or f"c-{endpoint}-{version}-{created}"
    return Seen("container", f"id-{name}", name, labels, created,
                image or f"img-{endpoint}-{version}", running)


def image(endpoint: str, version: str, *, env: str = "staging", project: str = "shop",
          labels: dict[str, str] | None = None) -> Seen:
    found = {f"{L}project": project, f"{L}env": env, f"{L}endpoint": endpoint,
             f"{L}version": version} if labels is None else labels
    return Seen("image", f"img-{endpoint}-{version}", f"wb_{project}_{endpoint}:{version}", found)


def released(*versions: str, endpoint: str = "orders", host: str = HOST,
             outcome: str = "ok", kind: str = "deploy") -> list[Release]:
    return [Release(endpoint, v, host, outcome, kind, container=f"c-{endpoint}-{v}")
            for v in versions]


def removed(decisions: Sequence[Decision], kind: str) -> list[str]:
    return [d.name for d in decisions if d.kind == kind and d.remove]


def kept(decisions: Sequence[Decision], kind: str) -> list[str]:
    return [d.name for d in decisions if d.kind == kind and not d.remove]


def versions_of(names: list[str]) -> list[str]:
    return sorted(n.rsplit(":", 1)[1] for n in names)


# -- images -----------------------------------------------------------------------------------
def test_the_images_of_the_last_n_released_versions_stay_and_older_ones_go() -> None:
    images = [image("orders", v) for v in ("v1", "v2", "v3", "v4")]
    plan = plan_host(HOST, "shop", "staging", 2, [], images,
                     {"orders": released("v1", "v2", "v3", "v4")})
    assert versions_of(removed(plan, "image")) == ["v1", "v2"]
    assert versions_of(kept(plan, "image")) == ["v3", "v4"]
    assert all("last 2 released" in d.reason for d in plan if not d.remove)


def test_an_image_any_container_uses_stays_running_or_stopped_ours_or_not() -> None:
    images = [image("orders", v) for v in ("v1", "v2", "v3", "v4", "v5")]
    someone_else = Seen("container", "x", "not-ours", {}, 0, "img-orders-v1", True)
    stopped = app("orders", "v2", created=5)
    plan = plan_host(HOST, "shop", "staging", 2, [someone_else, stopped], images,
                     {"orders": released("v1", "v2", "v3", "v4", "v5")})
    assert versions_of(removed(plan, "image")) == ["v3"]
    reasons = {d.name.rsplit(":", 1)[1]: d.reason for d in plan if d.kind == "image"}
    assert reasons["v1"] == "version v1 is used by a container"
    assert reasons["v2"] == "version v2 is used by a container"


def test_a_config_only_redeploy_keeps_the_version_a_rollback_goes_back_to() -> None:
    """A rollback goes to the newest ok version other than the current one: the last N
    versions count, not the last N records."""
    images = [image("orders", v) for v in ("v1", "v2")]
    plan = plan_host(HOST, "shop", "staging", 2, [], images,
                     {"orders": released("v1", "v2", "v2", "v2")})
    assert removed(plan, "image") == []
    assert kept_versions(released("v1", "v2", "v2", "v3", "v2"), HOST, 2) == ("v2", "v3")


def test_failed_releases_and_other_hosts_releases_do_not_keep_an_image() -> None:
    records = (released("v1") + released("v2", host="deploy@10.0.0.6:22")
               + released("v3", outcome="failed") + released("v4"))
    images = [image("orders", v) for v in ("v1", "v2", "v3", "v4")]
    plan = plan_host(HOST, "shop", "staging", 2, [], images, {"orders": records})
    assert versions_of(removed(plan, "image")) == ["v2", "v3"]
    assert versions_of(kept(plan, "image")) == ["v1", "v4"]


def test_a_rollback_counts_as_a_release_of_its_version() -> None:
    records = released("v1", "v2", "v3") + released("v1", kind="rollback")
    images = [image("orders", v) for v in ("v1", "v2", "v3")]
    plan = plan_host(HOST, "shop", "staging", 2, [], images, {"orders": records})
    assert versions_of(removed(plan, "image")) == ["v2"]


def test_only_this_environments_images_with_our_labels_are_ever_considered() -> None:
    images = [image("orders", "p1", env="prod"), image("orders", "o1", project="other"),
              image("orders", "t1", env="test"),
              image("orders", "n1", labels={f"{L}project": "shop", f"{L}env": "staging"}),
              image("orders", "x1", labels={f"{L}project": "shop", f"{L}env": "staging",
                                            f"{L}endpoint": "../../etc",
                                            f"{L}version": "x1"}),
              image("orders", "s1")]
    plan = plan_host(HOST, "shop", "staging", 1, [], images, {"orders": released("s2")})
    assert [d.name for d in plan] == ["wb_shop_orders:s1"]
    assert plan[0].remove


def test_an_endpoint_without_releases_keeps_no_image_that_nothing_uses() -> None:
    """Images of a version no release ever used (a deploy killed after its build) go; prune
    runs under the environment's lock, so no deploy is about to start one."""
    plan = plan_host(HOST, "shop", "staging", 5, [], [image("billing", "b1")], {})
    assert removed(plan, "image") == ["wb_shop_billing:b1"]


# -- containers -------------------------------------------------------------------------------
def test_stopped_containers_beyond_n_go_newest_stay_running_ones_are_not_touched() -> None:
    containers = [app("orders", "v5", running=True, created=50)]
    containers += [app("orders", f"v{i}", created=i * 10) for i in range(1, 5)]
    images = [image("orders", f"v{i}") for i in range(1, 6)]
    plan = plan_host(HOST, "shop", "staging", 2, containers, images,
                     {"orders": released("v1", "v2", "v3", "v4", "v5")})
    assert removed(plan, "container") == ["c-orders-v2-20", "c-orders-v1-10"]
    assert kept(plan, "container") == ["c-orders-v4-40", "c-orders-v3-30"]
    # the images of the removed containers are free now, and not among the last 2 released
    assert versions_of(removed(plan, "image")) == ["v1", "v2"]
    assert versions_of(kept(plan, "image")) == ["v3", "v4", "v5"]


def test_the_current_releases_container_is_kept_even_when_stopped() -> None:
    current = app("orders", "v3", created=30, name="c-orders-v3")
    containers = [current] + [app("orders", f"v{i}", created=i * 10) for i in (1, 2)]
    plan = plan_host(HOST, "shop", "staging", 1, containers, [],
                     {"orders": released("v1", "v2", "v3")})
    assert kept(plan, "container") == ["c-orders-v3", "c-orders-v2-20"]
    assert removed(plan, "container") == ["c-orders-v1-10"]
    assert "current release routes to it" in plan[0].reason


def test_only_limits_the_plan_to_one_endpoint() -> None:
    containers = [app(e, "v1", created=1) for e in ("orders", "site")]
    containers += [app(e, "v2", created=2) for e in ("orders", "site")]
    images = [image(e, v) for e in ("orders", "site") for v in ("v1", "v2")]
    history = {e: released("v1", "v2", endpoint=e) for e in ("orders", "site")}
    plan = plan_host(HOST, "shop", "staging", 1, containers, images, history, only="site")
    assert {d.endpoint for d in plan} == {"site"}
    assert removed(plan, "container") == ["c-site-v1-1"]
    assert removed(plan, "image") == ["wb_shop_site:v1"]


# -- test-loop leftovers ----------------------------------------------------------------------
def labels_of_a_finished_process() -> dict[str, str]:
    """Owner labels made by a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import json; from workbench.owner import "
                           "owner_labels; print(json.dumps(owner_labels()))"],
                          capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def test_leftovers_go_when_their_owner_is_gone_and_stay_while_it_runs() -> None:
    here = Here.this()
    dead, alive = labels_of_a_finished_process(), owner.owner_labels()
    base = {f"{L}project": "shop", f"{L}env": "test", f"{L}endpoint": "orders"}
    objects = [Seen(kind, f"{kind}-{run}", f"{kind}-{run}", {**base, f"{L}run": run, **who})
               for run, who in (("a", dead), ("b", alive)) for kind in
               ("network", "volume", "container")]
    objects.append(Seen("container", "other", "other", {**base, f"{L}project": "shopx",
                                                        f"{L}run": "c", **dead}))
    plan = plan_leftovers("shop", objects, here)
    assert [(d.name, d.remove) for d in plan] == [
        ("container-a", True), ("volume-a", True), ("network-a", True),
        ("container-b", False), ("volume-b", False), ("network-b", False)]
    assert plan[0].reason == "left by test run a: its process is gone"
    assert "may still be running" in plan[3].reason and all(d.force for d in plan)


def test_leftovers_of_another_machine_or_without_an_owner_are_kept() -> None:
    here = Here.this()
    elsewhere = json.loads(labels_of_a_finished_process()[owner.OWNER])
    elsewhere.update(host="elsewhere", machine="m2", boot="b2")
    base = {f"{L}project": "shop", f"{L}env": "test", f"{L}run": "r"}
    plan = plan_leftovers("shop", [
        Seen("container", "1", "far", {**base, owner.OWNER: json.dumps(elsewhere)}),
        Seen("container", "2", "old", {**base, f"{L}run": "s"}),
        Seen("container", "3", "garbled", {**base, f"{L}run": "t", owner.OWNER: "{"})], here)
    assert [d.remove for d in plan] == [False, False, False]
    assert "pid" in plan[0].reason and "elsewhere" in plan[0].reason
    assert "owner is not recorded" in plan[1].reason


# -- the operation over a fake engine ---------------------------------------------------------
class FakeAPI:
    """The part of docker's APIClient prune uses; records removals."""

    def __init__(self, containers: list[dict[str, Any]], images: list[dict[str, Any]]) -> None:
        self._containers, self._images = containers, images
        self.calls: list[tuple[str, str]] = []

    def containers(self, all: bool = False, filters: Any = None) -> list[dict[str, Any]]:
        return [] if filters else self._containers

    def images(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._images

    def volumes(self, filters: Any = None) -> dict[str, Any]:
        return {"Volumes": []}

    def networks(self, filters: Any = None) -> list[dict[str, Any]]:
        return []

    def remove_container(self, id: str, force: bool = False) -> None:
        self.calls.append(("container", id))

    def remove_image(self, id: str, force: bool = False) -> None:
        assert not force
        self.calls.append(("image", id))


class FakeEngine:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api


def project_at(root: Path, env: str) -> Project:
    (root / "endpoints" / "orders").mkdir(parents=True)
    (root / "endpoints" / "orders" / "endpoint.yaml").write_text("port: 8000\n")
    keep = "" if "engine: swarm" in env else "    keep_releases: 1\n"  # refused on swarm
    (root / "workbench.yaml").write_text(
        "project: shop\nendpoints: [orders]\nenvironments:\n  staging:\n"
        f"    hosts: [deploy@10.0.0.5]\n{keep}{env}")
    return load_project(root)


def fake_host(tmp_path: Path) -> tuple[FakeAPI, LocalStore]:
    def c(version: str, created: int, state: str) -> dict[str, Any]:
        labels = {f"{L}project": "shop", f"{L}env": "staging", f"{L}endpoint": "orders",
                  f"{L}version": version, f"{L}role": "app"}
        return {"Id": f"c{version}", "Names": [f"/c-{version}"], "Labels": labels,
                "Created": created, "ImageID": f"sha256:{version}", "State": state}

    containers = [c("v1", 1, "exited"), c("v2", 2, "exited"), c("v3", 3, "running")]
    images = [{"Id": f"sha256:{v}", "RepoTags": [f"wb_shop_orders:{v}"], "Created": 0,
               "Labels": {f"{L}project": "shop", f"{L}env": "staging",
                          f"{L}endpoint": "orders", f"{L}version": v}}
              for v in ("v0", "v1", "v2", "v3")]
    return FakeAPI(containers, images), LocalStore(tmp_path / "state", "staging")


def opener(api: FakeAPI, store: LocalStore, opened: list[str]) -> Any:
    @contextlib.asynccontextmanager
    async def open_sites(project: Project, env: Environment) -> AsyncIterator[list[Site]]:
        opened.append(env.name)
        yield [Site(HOST, FakeEngine(api), store, asyncio.open_connection)]  # type: ignore[arg-type]

    return open_sites


async def record(store: LocalStore, *versions: str) -> None:
    for release in released(*versions):
        await append(store, release)


def test_a_dry_run_lists_and_removes_nothing_then_prune_removes_users_first(
        tmp_path: Path) -> None:
    project = project_at(tmp_path / "shop", "")
    api, store = fake_host(tmp_path)
    asyncio.run(record(store, "v0", "v1", "v2", "v3"))
    events: list[Event] = []
    report = asyncio.run(prune(project, "staging", events.append, PruneOptions(dry_run=True),
                               opener(api, store, [])))
    assert api.calls == []
    assert report.ok and report.dry_run
    assert [(d.decision.kind, d.decision.id, d.status) for d in report.done] == [
        ("container", "cv1", "would remove"), ("image", "sha256:v0", "would remove"),
        ("image", "sha256:v1", "would remove")]
    result = events[-1]
    assert isinstance(result, Result)
    assert result.summary.splitlines()[-1] == "staging: would remove 1 container, 2 images"
    assert ("keep image wb_shop_orders:v2 on deploy@10.0.0.5:22: version v2 is used by a "
            "container") in result.summary
    assert result.data["removals"][0]["status"] == "would remove"

    report = asyncio.run(prune(project, "staging", events.append, PruneOptions(),
                               opener(api, store, [])))
    assert api.calls == [("container", "cv1"), ("image", "sha256:v0"), ("image", "sha256:v1")]
    assert report.ok and [d.status for d in report.done] == ["removed"] * 3


def test_a_prune_whose_lock_was_taken_meanwhile_removes_nothing(tmp_path: Path) -> None:
    """A deploy that took the lock over (this prune stalled past its expiry) may be about to
    start an image the plan would remove: the lock is read again before removing."""
    project = project_at(tmp_path / "shop", "")
    api, store = fake_host(tmp_path)
    asyncio.run(record(store, "v0", "v1", "v2", "v3"))
    listed = api.images

    def taken_over(filters: Any = None) -> list[dict[str, Any]]:
        (store.root / "lock").unlink()  # as if removed (or taken: the token differs)
        return listed(filters)

    api.images = taken_over  # type: ignore[method-assign]
    with pytest.raises(LockLost):
        asyncio.run(prune(project, "staging", lambda _e: None, PruneOptions(),
                          opener(api, store, [])))
    assert api.calls == []


@pytest.mark.parametrize(("env", "confirm", "words"), [
    ("    protected: true\n", None, ["is protected: prune needs --confirm staging"]),
    ("    protected: true\n", "prod", ["--confirm 'prod' names another"]),
    ("    readonly: true\n", "staging", ["is readonly: prune is refused"]),
    ("    engine: swarm\n", "staging", ["has engine: swarm, which workbench cannot prune"]),
])
def test_the_rails_refuse_before_any_host_is_opened(tmp_path: Path, env: str,
                                                    confirm: str | None,
                                                    words: list[str]) -> None:
    project = project_at(tmp_path / "shop", env)
    api, store = fake_host(tmp_path)
    opened: list[str] = []
    with pytest.raises(BadInput) as caught:
        asyncio.run(prune(project, "staging", lambda _e: None, PruneOptions(confirm=confirm),
                          opener(api, store, opened)))
    assert opened == [] and api.calls == []
    assert all(w in caught.value.line for w in words)


def test_a_protected_environment_prunes_with_confirm_and_any_dry_runs(tmp_path: Path) -> None:
    project = project_at(tmp_path / "shop", "    protected: true\n")
    api, store = fake_host(tmp_path)
    asyncio.run(record(store, "v0", "v1", "v2", "v3"))
    asyncio.run(prune(project, "staging", lambda _e: None, PruneOptions(dry_run=True),
                      opener(api, store, [])))
    assert api.calls == []
    asyncio.run(prune(project, "staging", lambda _e: None, PruneOptions(confirm="staging"),
                      opener(api, store, [])))
    assert len(api.calls) == 3


def test_a_deploys_prune_never_fails_it_a_failure_is_a_warning(tmp_path: Path) -> None:
    project = project_at(tmp_path / "shop", "")
    api, store = fake_host(tmp_path)
    asyncio.run(record(store, "v0", "v1", "v2", "v3"))
    site = Site(HOST, FakeEngine(api), store, asyncio.open_connection)  # type: ignore[arg-type]
    events: list[Event] = []
    env = project.environment("staging")
    asyncio.run(after_deploy(project, env, [site], "orders", events.append))
    assert api.calls == [("container", "cv1"), ("image", "sha256:v0"), ("image", "sha256:v1")]
    assert isinstance(events[0], LogLines) and events[0].source == "orders/deploy"

    def broken(**_kwargs: Any) -> list[dict[str, Any]]:
        raise OSError("the tunnel closed")

    api.containers = broken  # type: ignore[method-assign,assignment]
    events.clear()
    asyncio.run(after_deploy(project, env, [site], "orders", events.append))
    assert events == [Warning("could not prune orders's old images: the tunnel closed")]


# -- the setting ------------------------------------------------------------------------------
def test_keep_releases_defaults_to_5_and_must_be_at_least_1(tmp_path: Path) -> None:
    project = project_at(tmp_path / "shop", "")
    assert project.environment("staging").keep_releases == 1
    assert project.environment("local").keep_releases == 5
    text = (tmp_path / "shop" / "workbench.yaml").read_text()
    (tmp_path / "shop" / "workbench.yaml").write_text(text.replace("keep_releases: 1",
                                                                   "keep_releases: 0"))
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path / "shop")
    assert "workbench.yaml:6" in caught.value.line and "keep_releases" in caught.value.line


# -- the batch command ------------------------------------------------------------------------
def test_the_batch_command_checks_the_rails_before_contacting_a_host(tmp_path: Path) -> None:
    from workbench.ops.new import new_child, new_project

    root = new_project(tmp_path, "shop").path
    new_child(root, "endpoint", "orders")
    text = (root / "workbench.yaml").read_text()
    (root / "workbench.yaml").write_text(text + "  prod:\n    hosts: [deploy@prod.invalid]\n"
                                         "    protected: true\n  audit:\n"
                                         "    hosts: [deploy@audit.invalid]\n"
                                         "    readonly: true\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "workbench", "--batch", "-C", str(root),
                               "prune", *args], capture_output=True, text=True, timeout=HANG_GUARD)

    for args, code, words in (
            (("--env", "prod"), 2, "environment 'prod' is protected: prune needs --confirm prod"),
            (("--env", "audit", "--confirm", "audit"), 2, "environment 'audit' is readonly"),
            (("--env", "prod", "--confirm", "prod"), 3, "prod.invalid"),
            (("--env", "audit", "--dry-run"), 3, "audit.invalid"),  # listing is no change
            (("--env", "prd"), 2, "did you mean 'prod'?")):
        done = run(*args)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr
