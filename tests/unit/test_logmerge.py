"""The pure parts of ``logs``: parsing, the k-way merge, the reorder window, filters, arguments."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from workbench.cli.logs import parse_grep, parse_level, parse_since, parse_tail
from workbench.errors import BadInput
from workbench.logmerge import LineFilter, Lines, ReorderWindow, merge, parse_lines
from workbench.logparse import (
    LogRecord,
    as_json,
    level_name,
    normal_time,
    parse_line,
    plain,
    rank,
    split_json,
)
from workbench.ops.logs import LogBatch, host_labels


def stamp(second: int, nanos: int = 0) -> str:
    return f"2026-11-30T12:00:{second:02d}.{nanos:09d}Z"


def rec(second: int, source: str = "orders@h1", text: str = "x", nanos: int = 0) -> LogRecord:
    return parse_line(f"{stamp(second, nanos)} {text}", source)


def lines(second: int | list[int], source: str = "orders@h1", text: str = "x",
          nanos: int = 0) -> Lines:
    seconds = second if isinstance(second, list) else [second]
    return parse_lines([f"{stamp(s, nanos)} {text}" for s in seconds], source)


def as_lines(records: list[LogRecord]) -> Lines:
    return Lines([r.time for r in records], [r.source for r in records],
                 [plain(r, False, False) for r in records], [r.level for r in records],
                 [r.raw for r in records])


def same_as_records(batch: Lines) -> None:
    """The columns say what the records say (the hot path and the slow one agree)."""
    for index, record in enumerate(batch.records()):
        assert batch.shown()[index] == plain(record)
        assert batch.levels[index] == record.level


def test_a_json_line_as_the_python_template_writes_it_is_parsed() -> None:
    app_line = json.dumps({"ts": "2026-11-30T12:00:01.000Z", "level": "info", "msg": "request",
                           "method": "GET", "path": "/items", "status": 200,
                           "duration_ms": 0.42})
    record = parse_line(f"{stamp(1, 123456789)} {app_line}", "orders@127.0.0.1:42022")
    assert (record.time, record.level, record.message) == (stamp(1, 123456789), "info",
                                                           "request")
    assert record.fields == {"method": "GET", "path": "/items", "status": 200,
                             "duration_ms": 0.42}
    assert (record.endpoint, record.host) == ("orders", "127.0.0.1:42022")
    assert record.raw == app_line
    assert plain(record) == ("2026-11-30T12:00:01.123Z orders@127.0.0.1:42022 INFO request "
                             "method=GET path=/items status=200 duration_ms=0.42")
    body = as_json(record)
    assert body["level"] == "info" and body["message"] == "request" and body["raw"] == app_line
    assert body["fields"]["status"] == 200 and body["source"] == "orders@127.0.0.1:42022"


def test_other_lines_pass_through() -> None:
    for text in ("plain text { not json", "{broken json", "[1, 2]", '"a string"', ""):
        record = parse_line(f"{stamp(2)} {text}", "site@h")
        assert record.raw == text and record.level == "" and not record.parsed
        assert plain(record) == " ".join(("2026-11-30T12:00:02.000Z", "site@h", text))
        assert as_json(record)["level"] is None and as_json(record)["message"] == text
    no_stamp = parse_line("no timestamp here", "site@h")
    assert no_stamp.time == "" and no_stamp.raw == "no timestamp here"


def test_levels_are_folded_and_values_with_spaces_quoted() -> None:
    assert [level_name(v) for v in ("WARN", "Error", "fatal", 30, 10, 50, "", None, "audit")] \
        == ["warning", "error", "critical", "warning", "debug", "critical", "", "", "audit"]
    record = parse_line(f'{stamp(3)} {{"severity": "ERR", "message": "boom", "why": "a b"}}',
                        "o@h")
    assert record.level == "error" and plain(record, with_time=False) == 'o@h ERROR boom why="a b"'


def test_timestamps_of_other_forms_are_normalized_to_sortable_utc() -> None:
    assert normal_time("2026-11-30T13:00:01.5+01:00") == "2026-11-30T12:00:01.500000000Z"
    assert normal_time("2026-11-30T12:00:01Z") == "2026-11-30T12:00:01.000000000Z"
    assert normal_time("not-a-time") == ""


def test_the_merge_orders_all_sources_and_keeps_ties_stable() -> None:
    a = parse_lines([f"{stamp(s)} a{s}" for s in (5, 1, 3)], "a@h1")  # slightly out of order
    b = parse_lines([f"{stamp(s)} b{s}" for s in (2, 3, 4)], "b@h2")
    c = parse_lines([f"{stamp(0)} c0"], "c@h1")
    merged = merge([a, b, c])
    assert merged.raws == ["c0", "a1", "b2", "a3", "b3", "b4", "a5"]
    assert merged.sources == ["c@h1", "a@h1", "b@h2", "a@h1", "b@h2", "b@h2", "a@h1"]
    assert merge([b]).raws == ["b2", "b3", "b4"] and len(merge([])) == 0


def test_the_columns_agree_with_the_records() -> None:
    texts = [json.dumps({"ts": "x", "level": "WARN", "msg": "m", "a": "b c", "n": 1.5,
                         "t": True, "z": None, "e": "", "d": {"k": [1]}}),
             json.dumps({"severity": 40, "message": "boom"}), json.dumps({"level": "info"}),
             json.dumps({"ts": "only a time"}), "{}", "{not json", "[1]", "plain", "",
             json.dumps({"msg": 0}), '{"level": "info"} trailing', '{"level": "error"}  ']
    batch = parse_lines([f"{stamp(1)} {t}" for t in texts] + ["no stamp at all"], "o@h")
    same_as_records(batch)
    assert batch.texts[0] == 'WARNING m a="b c" n=1.5 t=true z=null e="" d={"k": [1]}'
    assert batch.levels[:4] == ["warning", "error", "info", ""]
    assert batch.texts[3] == '{"ts": "only a time"}' and batch.texts[9] == "- 0"
    assert batch.texts[-3:-1] == ['{"level": "info"} trailing', "ERROR "]
    assert batch.times[-1] == "" and batch.raws[-1] == "no stamp at all"
    assert split_json("[1]") is None and split_json("{") is None


def test_the_window_orders_lines_that_arrive_within_it() -> None:
    window = ReorderWindow(hold=0.5, limit=100)
    window.add(as_lines([rec(2, "a@h"), rec(4, "a@h")]), now=10.0)
    window.add(as_lines([rec(1, "b@h"), rec(3, "b@h")]), now=10.2)  # earlier lines, later arrival
    # Both sources are sending: what is no later than both have sent (3) may go now.
    assert [r.time for r in window.drain(10.3).records()] == [stamp(1), stamp(2), stamp(3)]
    assert len(window.drain(10.4)) == 0  # 4 waits: b may still send something earlier
    assert [r.time for r in window.drain(10.55).records()] == [stamp(4)]  # its hold time is over
    assert window.late == 0 and len(window) == 0


def test_a_slow_source_holds_back_a_fast_one_until_the_hold_time() -> None:
    window = ReorderWindow(hold=0.5, limit=100)
    window.add(as_lines([rec(s, "fast@h1") for s in (1, 2, 3, 4, 5)]), now=0.0)
    window.add(as_lines([rec(1, "slow@h2", nanos=5)]), now=0.0)
    # up to 1.000000005:
    assert [r.source for r in window.drain(0.1).records()] == ["fast@h1", "slow@h2"]
    window.add(as_lines([rec(3, "slow@h2")]), now=0.3)  # the slow one catches up
    out = window.drain(0.35).records()
    assert [(r.time, r.source) for r in out] == [(stamp(2), "fast@h1"), (stamp(3), "fast@h1"),
                                                 (stamp(3), "slow@h2")]
    assert [r.time for r in window.drain(0.6).records()] == [stamp(4), stamp(5)]
    assert window.late == 0


def test_a_line_later_than_the_window_is_released_at_once_and_marked_late() -> None:
    window = ReorderWindow(hold=0.5, limit=100)
    window.add(as_lines([rec(5, "a@h")]), now=0.0)
    assert [r.time for r in window.drain(0.6).records()] == [stamp(5)]
    window.add(as_lines([rec(1, "b@h"), rec(6, "b@h")]), now=1.0)  # second 1 comes after 5 went out
    out = window.drain(1.6).records()
    assert [(r.time, r.late) for r in out] == [(stamp(1), True), (stamp(6), False)]
    assert window.late == 1


def test_the_window_releases_the_earliest_lines_beyond_its_limit() -> None:
    window = ReorderWindow(hold=5.0, limit=3)
    window.add(as_lines([rec(s, "a@h") for s in (9, 2, 7, 4, 5)]), now=0.0)
    window.add(as_lines([rec(1, "b@h")]), now=0.0)  # b has sent only second 1: the rest must wait
    assert [r.time for r in window.drain(0.1).records()] == [stamp(1), stamp(2), stamp(4)]
    assert len(window) == 3
    assert [r.time for r in window.drain(0.2, everything=True).records()] == [stamp(5), stamp(7),
                                                                    stamp(9)]


def test_a_window_stays_ordered_over_many_shuffled_arrivals() -> None:
    import random

    rng = random.Random(7)
    window = ReorderWindow(hold=1.0, limit=10_000)
    out: list[LogRecord] = []
    for tick in range(200):  # each line arrives within 0.5 s of its neighbours in time
        batch = [rec(0, f"s{i % 3}@h", nanos=tick * 1000 + rng.randrange(500))
                 for i in range(5)]
        window.add(as_lines(batch), now=tick * 0.1)
        out += window.drain(tick * 0.1).records()
    out += window.drain(100.0, everything=True).records()
    assert len(out) == 1000 and window.late == 0
    assert [r.time for r in out] == sorted(r.time for r in out)


def test_grep_matches_the_shown_line_or_the_raw_text() -> None:
    batch = parse_lines([f'{stamp(1)} {{"level": "error", "msg": "boom", "path": "/x"}}',
                         f"{stamp(2)} plain boom", f"{stamp(3)} quiet"], "o@h")
    assert LineFilter(re.compile("boom"))(batch).raws == [batch.raws[0], "plain boom"]
    assert len(LineFilter(re.compile(r"^ERROR boom path=/x$"))(batch)) == 1
    assert LineFilter(None)(batch) is batch


def test_level_keeps_lines_of_at_least_that_level() -> None:
    texts = [json.dumps({"level": word, "msg": word}) for word in
             ("debug", "info", "warning", "error", "critical", "audit")] + ["plain", "{}"]
    batch = parse_lines([f"{stamp(1)} {t}" for t in texts], "o@h")
    assert LineFilter(None, "warning")(batch).levels == ["warning", "error", "critical"]
    assert LineFilter(None, "debug")(batch).levels == ["debug", "info", "warning", "error",
                                                        "critical", "audit"]
    assert len(LineFilter(re.compile("err"), "error")(batch)) == 1
    assert [rank(w) for w in ("", "debug", "audit", "critical")] == [0, 10, 20, 50]


def test_a_batch_gives_its_lines_as_shown_and_as_records() -> None:
    batch = LogBatch(merge([lines([1, 4], "a@h"), lines(3, "b@h")]), dropped=7)
    assert batch.lines.shown() == ["2026-11-30T12:00:01.000Z a@h x",
                                   "2026-11-30T12:00:03.000Z b@h x",
                                   "2026-11-30T12:00:04.000Z a@h x"]
    assert batch.lines.shown(with_source=False)[0] == "2026-11-30T12:00:01.000Z x"
    assert [r.source for r in batch.records] == ["a@h", "b@h", "a@h"]
    part = batch.lines.slice(1, 3)
    assert part.sources == ["b@h", "a@h"] and len(LogBatch(dropped=3).lines) == 0


def test_hosts_are_named_without_the_user_unless_that_is_ambiguous() -> None:
    assert host_labels(["root@10.0.0.5", "deploy@10.0.0.6:2222"]) == {
        "root@10.0.0.5": "10.0.0.5", "deploy@10.0.0.6:2222": "10.0.0.6:2222"}
    assert host_labels(["a@h", "b@h"]) == {"a@h": "a@h", "b@h": "b@h"}


def test_since_takes_durations_and_iso_times() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    base = now.timestamp()
    assert parse_since("10m", now) == base - 600
    assert parse_since("2h", now) == base - 7200
    assert parse_since("1d", now) == base - 86400
    assert parse_since("1h30m", now) == base - 5400
    assert parse_since("2026-11-30T11:00:00Z", now) == base - 3600
    assert parse_since("2026-11-30T12:00:00+01:00", now) == base - 3600
    for bad in ("10x", "yesterday", "", "m10", "10 m"):
        with pytest.raises(BadInput, match="--since"):
            parse_since(bad, now)


def test_bad_grep_and_tail_are_bad_input() -> None:
    with pytest.raises(BadInput, match="not a valid regex"):
        parse_grep("(unclosed")
    assert parse_grep("a|b").pattern == "a|b"
    assert parse_tail("20") == 20
    for bad in ("-1", "ten", ""):
        with pytest.raises(BadInput, match="--tail"):
            parse_tail(bad)
    assert [parse_level(w) for w in ("WARN", "error", "Info", "fatal")] == ["warning", "error",
                                                                          "info", "critical"]
    with pytest.raises(BadInput, match="--level 'loud' is not a log level"):
        parse_level("loud")


def test_an_inbox_keeps_the_newest_lines_and_counts_the_rest() -> None:
    from workbench.ops.logread import Inbox

    inbox = Inbox("a@h", limit=5)
    inbox.feed(lines([1, 2, 3], "a@h"))
    inbox.feed(lines([4, 5, 6, 7], "a@h"))
    taken, dropped = inbox.take()
    assert taken.times == [stamp(s) for s in (3, 4, 5, 6, 7)] and dropped == 2
    assert inbox.take() == (Lines(), 0)


def test_docker_timestamps_become_dockers_since() -> None:
    from workbench.ops.logread import unix_time

    moment = datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC).timestamp()
    assert unix_time(stamp(1, 123456789)) == f"{int(moment)}.123456789"
