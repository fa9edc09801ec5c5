"""Secret values never leave the process, even when an app prints them.

An app may log its environment (a debug dump, a crash report). Every line workbench shows or
records from a container that runs with secrets (its live log, its last lines in a failed
release, a test's output) goes through :class:`Redactor`, which replaces each secret value with
``***``. Values shorter than :data:`MIN_LENGTH` characters are not masked (masking ``1`` would
mangle every number); such a secret is weak anyway, and a deploy warns about it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

MASK = "***"
MIN_LENGTH = 4


class Redactor:
    """Replaces the values of ``secrets`` (longest first) in lines of text."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        values = sorted({v for v in secrets.values() if len(v) >= MIN_LENGTH}, key=len,
                        reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, lines: Iterable[str]) -> list[str]:
        pattern = self._pattern
        if pattern is None:
            return list(lines)
        return [pattern.sub(MASK, line) for line in lines]

    def feed(self, feed: Callable[[list[str]], None]) -> Callable[[Iterable[str]], None]:
        """``feed`` (a log pump's), masking what it is given first."""
        if self._pattern is None:
            return feed  # type: ignore[return-value]
        return lambda lines: feed(self(lines))


def short_ones(secrets: Mapping[str, str]) -> list[str]:
    """The names of secrets whose values are too short to be masked in logs."""
    return sorted(name for name, value in secrets.items() if 0 < len(value) < MIN_LENGTH)
