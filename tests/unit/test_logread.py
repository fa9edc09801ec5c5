"""Reading one container's log (ops/logread.py) against a fake engine: following asks for what
is there, then for the last lines (which must reach back to what was read), or by time."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from workbench.engine import Stream
from workbench.ops.logread import LIVE_TAIL, Inbox, Reader, reading, unix_time
from workbench.ops.logs import LogQuery
from workbench.redact import Redactor


def stamp(second: int) -> str:
    return f"2026-11-30T12:00:{second:02d}.000000000Z"


class FakeResponse:
    def __init__(self, seconds: list[int]) -> None:
        body = b"".join(struct.pack(">BxxxI", 1, len(p)) + p for p in
                        (f"{stamp(s)} line {s}\n".encode() for s in seconds))
        self.raw = SimpleNamespace(stream=lambda size, decode_content: iter([body]))
        self.status_code = 200

    def close(self) -> None:
        pass


class FakeApi:
    base_url = "http+docker://localhost"
    api_version = "1.41"

    def __init__(self, answers: list[list[int]]) -> None:
        self.answers: Iterator[list[int]] = iter(answers)
        self.asked: list[dict[str, Any]] = []

    def get(self, url: str, params: dict[str, Any], **_: Any) -> FakeResponse:
        self.asked.append(params)
        return FakeResponse(next(self.answers))

    def get_adapter(self, url: str) -> object:
        return object()  # not a unix socket's: read through the SDK (get)


def follow(answers: list[list[int]]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    api = FakeApi(answers)
    reader = Reader(Inbox("o@h", 100), Inbox("o@h", 100), "h", Stream(), "c1")
    run = reading(SimpleNamespace(api=api), "c1", LogQuery(follow=True, tail=3),  # type: ignore[arg-type]
                  Redactor({}), reader)
    run()
    return reader.backlog.take()[0].raws, reader.inbox.take()[0].raws, api.asked


def test_the_last_lines_that_reach_back_give_what_came_after() -> None:
    backlog, live, asked = follow([[1, 2, 3], [2, 3, 4, 5]])
    assert backlog == ["line 1", "line 2", "line 3"] and live == ["line 4", "line 5"]
    assert asked[0]["tail"] == "3" and asked[0]["follow"] == 0
    assert asked[1]["tail"] == str(LIVE_TAIL) and asked[1]["follow"] == 1
    assert "since" not in asked[1] and len(asked) == 2


def test_when_they_do_not_reach_back_the_lines_are_asked_for_by_time() -> None:
    _backlog, live, asked = follow([[1, 2, 3], [5, 6], [4, 5, 6]])
    assert live == ["line 4", "line 5", "line 6"]  # nothing of the short answer, none twice
    assert asked[2]["since"] == unix_time(stamp(3)) and "tail" not in asked[2]
