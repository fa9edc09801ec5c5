"""The one CI check of the tests: `CI` set to true, 1 or yes (any case) makes a missing real
part fail the run instead of skipping it."""

from __future__ import annotations

import pytest
from helpers import require_part, under_ci


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "yes", "YES", "Yes", " true\n"])
def test_ci_counts_as_set(value: str) -> None:
    assert under_ci({"CI": value})


@pytest.mark.parametrize("value", ["", "false", "0", "no", "off", "ci", "truee"])
def test_ci_counts_as_unset(value: str) -> None:
    assert not under_ci({"CI": value})
    assert not under_ci({})


@pytest.mark.parametrize("value", ["true", "1", "YES"])
def test_a_missing_part_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(BaseException) as caught:  # a skip must not pass for a failure
        require_part("sshd", "gone")
    assert caught.type is pytest.fail.Exception, caught.type
    assert "sshd is not available: gone" in str(caught.value)


@pytest.mark.parametrize("value", [None, "false", "0"])
def test_a_missing_part_skips_outside_ci(monkeypatch: pytest.MonkeyPatch,
                                         value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(BaseException) as caught:
        require_part("sshd", "gone")
    assert caught.type is pytest.skip.Exception, caught.type
    assert "sshd is not available: gone" in str(caught.value)
