"""The live matrix's pure parts: which cell an event touches, the backoff, a cell's summary."""

from __future__ import annotations

from typing import Any

from workbench.live import BACKOFF, affected, backoff, event_filters, schedule, summarize
from workbench.observed import Instance
from workbench.ops.status import Row
from workbench.releases import Release

LABELS = {"dev.workbench.project": "shop", "dev.workbench.env": "staging",
          "dev.workbench.endpoint": "orders", "dev.workbench.role": "app"}


def event(action: str, **labels: str) -> dict[str, Any]:
    return {"Type": "container", "Action": action,
            "Actor": {"ID": "abc", "Attributes": {**LABELS, **labels}}}


def test_an_event_names_the_cell_of_its_endpoint() -> None:
    for action in ("start", "die", "stop", "kill", "destroy", "health_status: unhealthy",
                   "health_status: healthy"):
        assert affected(event(action), "shop", "staging") == "orders", action


def test_events_of_others_change_no_cell() -> None:
    assert affected(event("exec_start: sh"), "shop", "staging") is None
    assert affected(event("attach"), "shop", "staging") is None
    assert affected(event("start"), "shop", "prod") is None  # another environment
    assert affected(event("start"), "bank", "staging") is None  # another project
    assert affected(event("start", **{"dev.workbench.role": "proxy"}), "shop", "staging") is None
    assert affected({**event("start"), "Type": "network"}, "shop", "staging") is None
    no_name = event("start")
    del no_name["Actor"]["Attributes"]["dev.workbench.endpoint"]
    assert affected(no_name, "shop", "staging") is None


def test_the_event_filters_select_the_environments_app_containers() -> None:
    assert event_filters("shop", "staging") == {
        "type": ["container"],
        "label": ["dev.workbench.project=shop", "dev.workbench.env=staging",
                  "dev.workbench.role=app"]}


def test_the_backoff_grows_then_stays_at_its_cap() -> None:
    assert schedule(8) == [1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0, 30.0]
    assert backoff(0) == BACKOFF[0] and backoff(1000) == BACKOFF[-1]
    assert backoff(-1) == BACKOFF[0]


def release(version: str = "v1", host: str = "h1") -> Release:
    return Release("orders", version, host, "ok", time="2026-11-30T11:00:00+00:00")


def instance(state: str = "running", health: str = "healthy", host: str = "h1") -> Instance:
    return Instance("orders", host, state=state, health=health, version="v1",
                    started_at="2026-11-30T11:05:00.123Z")


def row(inst: Instance | None, rel: Release | None, drift: tuple[str, ...] = (),
        host: str = "h1", unreachable: str = "") -> Row:
    return Row("staging", "orders", host, inst, rel, rel, drift, unreachable)


def test_a_summary_is_the_worst_health_and_every_drift_flag() -> None:
    healthy = summarize([row(instance(), release())])
    assert (healthy.deployed, healthy.version, healthy.health, healthy.drift) == (
        True, "v1", "healthy", ())
    assert healthy.since == "2026-11-30T11:05:00.123Z"
    two = summarize([row(instance(), release(), ("code",)),
                     row(instance(health="unhealthy (500)", host="h2"), release(host="h2"),
                         ("config",), host="h2")])
    assert two.health == "unhealthy" and two.drift == ("code", "config")


def test_a_stopped_container_is_down_and_missing() -> None:
    down = summarize([row(instance(state="exited"), release(), ("missing",))])
    assert down.health == "down" and down.drift == ("missing",)
    assert down.since == "2026-11-30T11:00:00+00:00"  # the release's time, not the container's
    gone = summarize([row(None, release(), ("missing",))])
    assert gone.health == "down" and gone.version == "v1"


def test_unreachable_and_never_deployed() -> None:
    lost = summarize([row(None, None, host="h1", unreachable="cannot reach h1")])
    assert lost.health == "unreachable" and lost.unreachable == lost.hosts == 1
    half = summarize([row(instance(), release()),
                      row(None, None, host="h2", unreachable="cannot reach h2")])
    assert half.health == "healthy" and half.unreachable == 1 and half.hosts == 2
    never = summarize([row(None, None)])
    assert not never.deployed
    no_check = summarize([row(instance(health=""), release())])
    assert no_check.health == "unknown"
