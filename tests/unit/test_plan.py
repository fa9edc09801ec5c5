"""Deploy plans as data: phases from produces/consumes, per-host steps, the printed plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import BadInput
from workbench.model import Endpoint
from workbench.plan import STEPS, Phase, Plan, Step, deploy_plan, format_plan, phases


def ep(name: str, produces: tuple[str, ...] = (), consumes: tuple[str, ...] = ()) -> Endpoint:
    return Endpoint(name=name, path=Path("/p/endpoints") / name, produces=produces,
                    consumes=consumes)


def test_a_chain_gives_one_phase_per_link() -> None:
    endpoints = [ep("web", consumes=("orders-api",)),
                 ep("orders", produces=("orders-api",), consumes=("billing-api",)),
                 ep("billing", produces=("billing-api",))]
    assert phases(endpoints) == (("billing",), ("orders",), ("web",))


def test_a_diamond_runs_both_sides_together() -> None:
    endpoints = [ep("shop", consumes=("a-api", "b-api")),
                 ep("bravo", produces=("b-api",), consumes=("base-api",)),
                 ep("alpha", produces=("a-api",), consumes=("base-api",)),
                 ep("base", produces=("base-api",))]
    assert phases(endpoints) == (("base",), ("alpha", "bravo"), ("shop",))


def test_independent_endpoints_share_the_first_phase_sorted() -> None:
    endpoints = [ep("site"), ep("orders", consumes=("elsewhere-api",)), ep("billing")]
    assert phases(endpoints) == (("billing", "orders", "site"),)
    assert phases([]) == ()


def test_a_phase_is_as_early_as_possible() -> None:
    # 'late' needs only 'base'; it must not wait for the longer chain through 'mid'.
    endpoints = [ep("base", produces=("base-api",)),
                 ep("mid", produces=("mid-api",), consumes=("base-api",)),
                 ep("top", consumes=("mid-api",)),
                 ep("late", consumes=("base-api",))]
    assert phases(endpoints) == (("base",), ("late", "mid"), ("top",))


def test_two_producers_of_one_contract_both_come_first() -> None:
    endpoints = [ep("web", consumes=("events",)), ep("b", produces=("events",)),
                 ep("a", produces=("events",))]
    assert phases(endpoints) == (("a", "b"), ("web",))


def test_self_consumption_is_not_a_cycle() -> None:
    endpoints = [ep("queue", produces=("jobs",), consumes=("jobs",)),
                 ep("worker", consumes=("jobs",))]
    assert phases(endpoints) == (("queue",), ("worker",))


def test_a_cycle_is_named_with_its_contracts() -> None:
    endpoints = [ep("orders", produces=("orders-api",), consumes=("billing-api",)),
                 ep("billing", produces=("billing-api",), consumes=("orders-api",)),
                 ep("site")]
    with pytest.raises(BadInput) as caught:
        phases(endpoints)
    assert caught.value.problem == ("deploy order has a cycle: billing -> orders -> billing "
                                    "(via contracts orders-api, billing-api)")
    assert caught.value.fix and "consumes" in caught.value.fix


def test_a_longer_cycle_behind_a_good_phase() -> None:
    endpoints = [ep("root", produces=("root-api",)),
                 ep("x", produces=("x-api",), consumes=("z-api", "root-api")),
                 ep("y", produces=("y-api",), consumes=("x-api",)),
                 ep("z", produces=("z-api",), consumes=("y-api",)),
                 ep("tail", consumes=("z-api",))]
    with pytest.raises(BadInput, match=r"cycle: x -> z -> y -> x \(via contracts z-api, "
                                       r"y-api, x-api\)"):
        phases(endpoints)


def test_an_endpoint_given_twice_is_bad_input() -> None:
    with pytest.raises(BadInput, match="'a' is given twice"):
        phases([ep("a"), ep("a")])


# -- deploy plans -----------------------------------------------------------------------------
ENDPOINTS = [ep("orders", produces=("orders-api",), consumes=("billing-api",)),
             ep("billing", produces=("billing-api",)), ep("site")]
VERSIONS = {"orders": "o2", "billing": "b2", "site": "s1"}
HOSTS = ("h1", "h2")


def test_deploy_plan_steps_per_endpoint_and_host() -> None:
    plan = deploy_plan("staging", HOSTS, ENDPOINTS, VERSIONS,
                       cached={("billing", "h1"): True}, current={("billing", "h2"): "b1"})
    assert [(p.number, p.endpoints) for p in plan.phases] == [(1, ("billing", "site")),
                                                               (2, ("orders",))]
    first = plan.phases[0].steps
    assert [s.action for s in first[:6]] == list(STEPS)
    assert {(s.endpoint, s.host) for s in first} == {(e, h) for e in ("billing", "site")
                                                      for h in HOSTS}
    assert first[0] == Step("billing", "h1", "build", "version b2, cached")
    assert Step("billing", "h2", "build", "version b2") in first
    assert Step("billing", "h2", "drain", "old version b1") in first
    assert Step("billing", "h1", "drain", "no old version") in first
    assert plan.changes and len(plan.steps) == 3 * 2 * len(STEPS)


def test_unchanged_endpoints_are_skipped_per_host() -> None:
    current = {("billing", "h1"): "b2", ("billing", "h2"): "b2", ("site", "h1"): "s1",
               ("site", "h2"): "s0", ("orders", "h1"): "o2", ("orders", "h2"): "o2"}
    plan = deploy_plan("staging", HOSTS, ENDPOINTS, VERSIONS, cached={}, current=current)
    skips = [s for s in plan.steps if s.action == "skip"]
    assert skips == [Step("billing", "h1", "skip", "already at b2"),
                     Step("billing", "h2", "skip", "already at b2"),
                     Step("site", "h1", "skip", "already at s1"),
                     Step("orders", "h1", "skip", "already at o2"),
                     Step("orders", "h2", "skip", "already at o2")]
    assert [s.action for s in plan.steps if s.endpoint == "site" and s.host == "h2"] == \
        list(STEPS)
    all_current = {**current, ("site", "h2"): "s1"}
    assert not deploy_plan("staging", HOSTS, ENDPOINTS, VERSIONS, {}, all_current).changes


def test_a_plan_needs_hosts() -> None:
    with pytest.raises(BadInput, match="no hosts"):
        deploy_plan("staging", (), ENDPOINTS, VERSIONS, {}, {})


def test_format_plan_lines() -> None:
    plan = deploy_plan("prod", ("h1",), ENDPOINTS[:2], VERSIONS,
                       cached={("orders", "h1"): True}, current={("billing", "h1"): "b2",
                                                                 ("orders", "h1"): "o1"})
    assert format_plan(plan) == [
        "phase 1: billing",
        "  billing @ h1: skip (already at b2)",
        "phase 2: orders",
        "  orders @ h1: build (version o2, cached)",
        "  orders @ h1: start",
        "  orders @ h1: health",
        "  orders @ h1: switch",
        "  orders @ h1: drain (old version o1)",
        "  orders @ h1: record",
    ]
    assert format_plan(Plan("prod", ())) == ["nothing to deploy to 'prod'"]
    assert Plan("prod", (Phase(1, ("a",), ()),)).changes is False
