"""Secret values printed by an app are masked before anything shows or records them."""

from __future__ import annotations

from workbench.redact import MASK, Redactor, short_ones


def test_values_are_masked_longest_first_and_short_ones_are_left() -> None:
    mask = Redactor({"A": "secret-value", "B": "secret", "C": "ab", "D": ""})
    assert mask(["token=secret-value;", "secret and secret-values", "ab 12"]) == [
        f"token={MASK};", f"{MASK} and {MASK}s", "ab 12"]
    assert short_ones({"A": "secret-value", "C": "ab", "D": ""}) == ["C"]


def test_regex_characters_in_values_are_literal() -> None:
    mask = Redactor({"A": "a.b*c(d)"})
    assert mask(["x a.b*c(d) y", "aXb*c(d)"]) == [f"x {MASK} y", "aXb*c(d)"]


def test_a_feed_is_wrapped_only_when_there_is_something_to_mask() -> None:
    seen: list[list[str]] = []
    feed = seen.append
    assert Redactor({}).feed(feed) is feed
    Redactor({"K": "hunter22"}).feed(feed)(["pw hunter22"])
    assert seen == [[f"pw {MASK}"]]
