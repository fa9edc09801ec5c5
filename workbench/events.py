"""The typed events every operation emits; the TUI and batch mode subscribe to the same stream.

An operation takes an :data:`Emit` callable and reports through it only. :class:`Steps` times
each step and emits its start and finish, so durations are measured in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: str
    label: str


@dataclass(frozen=True, slots=True)
class StepFinished:
    step: str
    label: str
    ok: bool
    duration: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LogLines:
    """A batch of log lines from one source (never one event per line)."""

    source: str
    lines: tuple[str, ...]
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class Progress:
    step: str
    done: int
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Warning:  # the event's name in the stream; shadows the builtin only here
    message: str


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


Event = StepStarted | StepFinished | LogLines | Progress | Warning | Result
Emit = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """An :data:`Emit` that drops everything (for callers that want only the result)."""


def kind(event: Event) -> str:
    """The event's name in JSON output: ``step_started``, ``log_lines``..."""
    name = type(event).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class Steps:
    """Emits start and finish (with duration) around each step of an operation."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.durations: dict[str, float] = {}
        self.finished: list[StepFinished] = []

    @contextmanager
    def step(self, step: str, label: str) -> Iterator[None]:
        self.emit(StepStarted(step, label))
        started = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            duration = time.perf_counter() - started
            self.durations[step] = duration
            self._finish(StepFinished(step, label, False, duration, failure(exc)))
            raise
        duration = time.perf_counter() - started
        self.durations[step] = duration
        self._finish(StepFinished(step, label, True, duration))

    def _finish(self, event: StepFinished) -> None:
        self.finished.append(event)
        self.emit(event)


def failure(exc: BaseException) -> str:
    """What a failed step's detail says about ``exc``."""
    if isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "CancelledError":
        return "cancelled"
    return getattr(exc, "problem", "") or str(exc).split("\n")[0] or type(exc).__name__
