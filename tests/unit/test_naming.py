"""Object names: one reading each, DNS-safe aliases, and label checks before adopting."""

from __future__ import annotations

import itertools

import pytest

from workbench import naming
from workbench.errors import OperationFailed
from workbench.names import MAX_LENGTH

PARTS = ("a", "b", "a-b", "b-a", "a-b-a")


def test_every_identity_gets_its_own_names() -> None:
    seen: dict[str, tuple[str, ...]] = {}
    for project, env, endpoint in itertools.product(PARTS, repeat=3):
        for name in (naming.network(project, env), naming.proxy(project, env),
                     naming.volume(project, env, endpoint),
                     naming.container(project, env, endpoint, "0123456789ab", "beef")):
            key = (project, env) if "_proxy" in name or name.count("_") == 2 else (
                project, env, endpoint)
            assert seen.setdefault(name, key) == key, (name, seen[name], key)


@pytest.mark.parametrize(("one", "other"), [
    (("shop", "staging-eu", "orders"), ("shop-staging", "eu", "orders")),
    (("shop", "staging", "eu-orders"), ("shop", "staging-eu", "orders")),
])
def test_the_collisions_of_the_old_names_are_gone(one: tuple[str, str, str],
                                                  other: tuple[str, str, str]) -> None:
    old = "wb-{}-{}-{}-data"
    assert old.format(*one) == old.format(*other)  # what the first releases did
    assert naming.volume(*one) != naming.volume(*other)
    assert naming.network(*one[:2]) != naming.network(*other[:2]) or one[:2] == other[:2]


def test_aliases_are_dns_labels_even_for_the_longest_names() -> None:
    longest = "e" * MAX_LENGTH
    alias = naming.alias(longest, "0123456789ab", "beef")
    assert len(alias) <= 63
    container = naming.container("p" * MAX_LENGTH, "v" * MAX_LENGTH, longest, "0123456789ab",
                                 "beef")
    assert naming.upstream(container, "p" * MAX_LENGTH, "v" * MAX_LENGTH) == alias
    assert naming.upstream("wb-shop-staging-orders-1-2", "shop", "staging") == \
        "wb-shop-staging-orders-1-2"  # a container of an older deployment keeps its name


def test_adopting_checks_labels() -> None:
    ours = naming.labels("shop", "staging", "data", "orders")
    naming.check_owned("volume", "v", ours, ours, "host")
    old = {k: v for k, v in ours.items() if not k.endswith("role")}  # made before roles
    naming.check_owned("volume", "v", old, ours, "host")
    for foreign in ({}, None, {**ours, "dev.workbench.project": "shop-staging"},
                    {**ours, "dev.workbench.env": "staging-eu"},
                    {**ours, "dev.workbench.endpoint": "eu-orders"},
                    {**ours, "dev.workbench.role": "app"}):
        with pytest.raises(OperationFailed, match="belongs to something else"):
            naming.check_owned("volume", "v", foreign, ours, "host")
