"""LogView (screens/log_view.py): Pilot tests in a tiny host app, and one SVG snapshot."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input

from screens.log_text import LevelHighlighter
from screens.log_view import LogView, format_stamp
from workbench.events import LogLines

SIZE = (120, 40)
START = datetime(2024, 5, 6, 12, 3, 4, 123456)


def fixed_clock(step: timedelta = timedelta(0)) -> Iterator[datetime]:
    moment = START
    while True:
        yield moment
        moment += step


class LogHost(App[None]):
    """Just a LogView, focused."""

    def __init__(self, **options: object) -> None:
        super().__init__()
        options.setdefault("clock", fixed_clock().__next__)
        self.options = options

    def compose(self) -> ComposeResult:
        yield LogView(**self.options)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.query_one(LogView).focus()


def batch(source: str, *lines: str, dropped: int = 0) -> LogLines:
    return LogLines(source, tuple(lines), dropped)


def numbered(source: str, start: int, count: int) -> LogLines:
    return LogLines(source, tuple(f"{source} line {i}" for i in range(start, start + count)))


def rows(view: LogView) -> list[str]:
    return list(view.log_widget.lines)


async def test_batches_appear_in_order() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(numbered("build", 0, 3))
        view.add(numbered("app", 0, 2))
        await pilot.pause()
        assert rows(view) == [
            "build line 0",
            "build line 1",
            "build line 2",
            "app line 0",
            "app line 1",
        ]
        assert view.line_count == 5
        assert view.shown_count == 5
        assert view.dropped == 0
        assert "5 lines · 5 shown" in view.status_text()
        assert view.sources == ("build", "app")


async def test_empty_lines_and_embedded_breaks_are_kept_one_row_each() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(batch("app", "a", "", "b\nc", "d\r\n"))
        await pilot.pause()
        assert rows(view) == ["a", " ", "b", "c", "d"]
        assert view.line_count == view.shown_count == 5


async def test_post_from_a_thread_coalesces_batches() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)

        def produce() -> None:
            for i in range(20):
                view.post(numbered("tests", i * 50, 50))

        producer = threading.Thread(target=produce)
        producer.start()
        producer.join()  # 20 posts: it ends
        await pilot.pause()
        assert view.shown_count == 1000
        assert rows(view)[0] == "tests line 0"
        assert rows(view)[-1] == "tests line 999"


async def test_regex_filter_applies_to_history_and_new_batches() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(batch("app", "GET /a 200", "GET /b 500", "POST /c 201"))
        assert view.set_filter(r"\s5\d\d$") is True
        await pilot.pause()
        assert rows(view) == ["GET /b 500"]
        view.add(batch("app", "GET /d 503", "GET /e 204"))
        await pilot.pause()
        assert rows(view) == ["GET /b 500", "GET /d 503"]
        assert view.line_count == 5
        assert "filter /\\s5\\d\\d$/" in view.status_text()

        assert view.set_filter(None) is True
        await pilot.pause()
        assert view.shown_count == 5


async def test_invalid_regex_shows_an_error_and_keeps_the_old_filter() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(batch("app", "error: a", "ok: b", "error: c"))
        view.set_filter("^error")
        assert view.set_filter("(unclosed") is False
        await pilot.pause()
        assert view.filter_pattern == "^error"
        assert view.filter_error is not None and "invalid regex '(unclosed'" in view.filter_error
        assert view.has_class("-error")
        error_line = view.query_one(".log-view--error")
        assert error_line.display
        assert rows(view) == ["error: a", "error: c"]

        assert view.set_filter("ok") is True
        await pilot.pause()
        assert view.filter_error is None
        assert not error_line.display
        assert rows(view) == ["ok: b"]


async def test_filter_input_enter_applies_and_escape_cancels() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(batch("app", "alpha", "beta", "gamma"))
        filter_input = view.query_one(".log-view--filter", Input)
        assert not filter_input.display

        await pilot.press("slash")
        assert filter_input.display and filter_input.has_focus
        # Keys typed into the input are text, not the view's bindings.
        await pilot.press("f", "(")
        assert view.following
        assert view.filter_error is not None  # shown inline while typing
        await pilot.press("enter")  # invalid: stays open, old filter kept
        assert filter_input.display
        assert view.filter_pattern is None
        assert view.shown_count == 3

        await pilot.press("escape")
        assert not filter_input.display
        assert view.filter_error is None
        assert view.log_widget.has_focus
        assert view.filter_pattern is None

        await pilot.press("slash", "a", "$", "enter")
        await pilot.pause()
        assert not filter_input.display
        assert view.filter_pattern == "a$"
        assert rows(view) == ["alpha", "beta", "gamma"]
        await pilot.press("slash", "backspace", "m", "m", "enter")
        await pilot.pause()
        assert view.filter_pattern == "mm"
        assert rows(view) == ["gamma"]

        # Escape on the Log (filter closed) is not the view's: the binding is disabled.
        assert view.check_action("cancel_filter", ()) is False


async def test_source_filter_and_cycle() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(numbered("build", 0, 2))
        view.add(numbered("app", 0, 2))
        view.add(numbered("tests", 0, 1))
        view.set_source("app")
        await pilot.pause()
        assert rows(view) == ["app line 0", "app line 1"]
        view.add(numbered("build", 2, 1))
        view.add(numbered("app", 2, 1))
        assert rows(view) == ["app line 0", "app line 1", "app line 2"]
        assert view.status_text().startswith("source app")

        view.set_source(None)
        await pilot.press("s")
        assert view.source == "build"
        assert rows(view) == ["build line 0", "build line 1", "build line 2"]
        await pilot.press("s", "s")
        assert view.source == "tests"
        await pilot.press("s")
        assert view.source is None
        assert view.shown_count == 7


async def test_pause_buffers_new_lines_and_resume_shows_them() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(numbered("app", 0, 2))
        await pilot.press("f")
        assert not view.following
        view.add(numbered("app", 2, 3))
        view.post(numbered("app", 5, 1))
        await pilot.pause()
        assert rows(view) == ["app line 0", "app line 1"]
        assert view.pending == 4
        assert view.line_count == 6
        assert "‖ paused 4 new" in view.status_text()

        # Settings changes while paused keep the new lines hidden.
        view.toggle_timestamps()
        assert view.shown_count == 2

        await pilot.press("f")
        await pilot.pause()
        assert view.following
        assert view.pending == 0
        assert [row.split(" ", 1)[1] for row in rows(view)] == [f"app line {i}" for i in range(6)]
        assert "● following" in view.status_text()


async def test_dropped_counts_producer_drops_and_buffer_overflow() -> None:
    app = LogHost(max_lines=100)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(batch("app", "kept", dropped=7))
        assert view.dropped == view.producer_dropped == 7

        await pilot.press("f")  # paused: the history is the bounded buffer
        view.add(numbered("app", 0, 150))
        await pilot.pause()
        assert view.line_count == 100
        assert view.pending == 100
        assert view.buffer_dropped == 51  # "kept" and the first 50 of the paused lines
        assert view.dropped == 58
        status = view.status_text()
        assert "dropped 58 (producer 7 · buffer 51)" in status
        assert view.query_one(".log-view--status").render().plain == status

        await pilot.press("f")
        assert rows(view)[-100:] == [f"app line {i}" for i in range(50, 150)]
        assert view.shown_count == 100  # the Log is bounded too

        # Following, the history still drops (and counts) what goes over max_lines.
        view.add(numbered("app", 150, 30))
        assert view.buffer_dropped == 81
        assert rows(view)[-1] == "app line 179"


async def test_post_inbox_is_bounded_and_counts_what_it_drops() -> None:
    app = LogHost(max_lines=100)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        done = threading.Event()

        def produce() -> None:
            # The UI thread is awaiting `done`, so nothing is flushed in between.
            for i in range(5):
                view.post(LogLines("app", tuple(f"b{i} {j}" for j in range(40)), dropped=1))
            done.set()

        threading.Thread(target=produce).start()
        done.wait()  # 5 posts: it ends
        await pilot.pause()
        assert view.producer_dropped == 5
        # The inbox dropped 2 whole batches (80 lines); the history then overflowed by 20.
        assert view.dropped == 5 + 80 + 20
        assert view.line_count == 100
        assert rows(view)[-1] == "b4 39"


async def test_timestamps_toggle_changes_rendered_lines() -> None:
    clock = fixed_clock(timedelta(seconds=1, milliseconds=5))
    app = LogHost(clock=clock.__next__)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(batch("build", "step 1", "step 2"))
        view.add(batch("build", "step 3"))
        assert rows(view) == ["step 1", "step 2", "step 3"]
        await pilot.press("T")
        assert view.timestamps
        assert rows(view) == [
            "12:03:04.123 step 1",
            "12:03:04.123 step 2",
            "12:03:05.128 step 3",
        ]
        view.add(batch("build", "step 4"))  # the hot path stamps too
        assert rows(view)[-1] == "12:03:06.133 step 4"
        assert view.status_text().endswith("time")
        await pilot.press("T")
        assert rows(view) == ["step 1", "step 2", "step 3", "step 4"]


def test_format_stamp() -> None:
    assert format_stamp(datetime(2024, 1, 1, 0, 0, 9, 7000)) == "00:00:09.007"


async def test_wrap_splits_long_lines_at_the_log_width() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        long_line = "".join(str(i % 10) for i in range(300))
        view.add(batch("app", "short", long_line))
        assert rows(view) == ["short", long_line]
        await pilot.press("w")
        await pilot.pause()
        width = view.log_widget.scrollable_content_region.width
        assert width == SIZE[0] - 2  # minus the vertical scrollbar
        assert rows(view) == ["short", long_line[:width], long_line[width : 2 * width],
                              long_line[2 * width :]]  # fmt: skip
        view.add(batch("app", "x" * (width + 1)))
        assert rows(view)[-2:] == ["x" * width, "x"]
        wide = "界" * 70  # 140 cells
        view.add(batch("app", wide))
        assert rows(view)[-2:] == ["界" * (width // 2), "界" * (70 - width // 2)]

        await pilot.resize_terminal(80, 40)
        await pilot.pause()
        assert all(len(row) <= 78 for row in rows(view))
        await pilot.press("w")
        assert rows(view) == ["short", long_line, "x" * (width + 1), wide]


async def test_clear_forgets_lines_and_counts() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(batch("app", "a", "b", dropped=3))
        await pilot.press("c")
        await pilot.pause()
        assert rows(view) == []
        assert view.line_count == view.shown_count == view.dropped == 0
        assert "0 lines · 0 shown │ dropped 0" in view.status_text()
        view.add(batch("app", "c"))
        assert rows(view) == ["c"]


MIXED = [
    ("orders@h1", "2026-11-30T12:00:01.000Z orders@h1 INFO request path=/a", "info"),
    ("orders@h2", "2026-11-30T12:00:02.000Z orders@h2 WARNING slow path=/b", "warning"),
    ("orders@h1", "2026-11-30T12:00:03.000Z orders@h1 plain text", ""),
    ("orders@h2", "2026-11-30T12:00:04.000Z orders@h2 ERROR boom path=/c", "error"),
    ("orders@h1", "2026-11-30T12:00:05.000Z orders@h1 CRITICAL down", "critical"),
]


def mixed(view: LogView, dropped: int = 0) -> None:
    sources, lines, levels = (list(column) for column in zip(*MIXED, strict=True))
    view.add_lines(sources, lines, levels, dropped)


async def test_lines_of_several_sources_come_in_one_write_and_filter_by_source() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        mixed(view, dropped=4)
        await pilot.pause()
        assert rows(view) == [line for _s, line, _l in MIXED]
        assert view.sources == ("orders@h1", "orders@h2") and view.dropped == 4
        await pilot.press("s")
        assert rows(view) == [MIXED[i][1] for i in (0, 2, 4)]
        view.add_lines(["orders@h2", "orders@h1", "orders@h1"], ["two\nrows", "", "one"],
                       ["info", "", ""])
        assert rows(view)[-2:] == [" ", "one"] and view.line_count == 9  # two, rows, " ", one


async def test_level_shows_lines_of_at_least_that_level() -> None:
    app = LogHost()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.add(batch("build", "no level here"))
        assert view.check_action("cycle_level", ()) is False  # no line has a level yet
        mixed(view)
        assert view.check_action("cycle_level", ()) is True
        await pilot.press("v")
        assert view.level == "info"
        assert rows(view) == [MIXED[i][1] for i in (0, 1, 3, 4)]  # plain lines have no level
        await pilot.press("v", "v")
        assert view.level == "error"
        assert rows(view) == [MIXED[3][1], MIXED[4][1]]
        assert "level ≥error" in view.status_text()
        mixed(view)  # new lines pass the same filter
        assert rows(view)[-2:] == [MIXED[3][1], MIXED[4][1]] and view.shown_count == 4
        await pilot.press("s")
        assert view.source == "build" and rows(view) == []
        await pilot.press("s", "v", "v")
        assert view.source == "orders@h1" and view.level is None
        assert view.shown_count == 6
        with pytest.raises(ValueError, match="no log level 'loud'"):
            view.set_level("loud")


async def test_level_words_are_coloured() -> None:
    app = LogHost(timestamps=True)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        mixed(view)
        await pilot.pause()
        log = view.log_widget
        assert log.highlight and isinstance(log.highlighter, LevelHighlighter)

        def styles(line: str) -> dict[str, str]:
            text = Text(line)
            log.highlighter.highlight(text)
            return {text.plain[s.start:s.end]: str(s.style) for s in text.spans}

        assert rows(view)[1].startswith("12:03:04.123 2026-")  # arrival stamp first
        assert styles(rows(view)[1]) == {"WARNING": "bold yellow"}
        assert styles(rows(view)[3]) == {"ERROR": "bold red"}
        assert styles(rows(view)[2]) == {}  # a plain line keeps its text
        assert styles("12:00 app INFO x") == {"INFO": "green"}
        assert styles("an INFO line in the middle of text") == {}


def test_bindings_have_ids() -> None:
    ids = {binding.key: binding.id for binding in LogView.BINDINGS}  # type: ignore[union-attr]
    assert ids == {
        "f": "log_view.follow",
        "w": "log_view.wrap",
        "T": "log_view.timestamps",
        "slash": "log_view.filter",
        "s": "log_view.source",
        "v": "log_view.level",
        "c": "log_view.clear",
        "escape": "log_view.cancel_filter",
    }


@pytest.mark.parametrize("max_lines", [0, -1])
def test_max_lines_must_be_positive(max_lines: int) -> None:
    with pytest.raises(ValueError):
        LogView(max_lines=max_lines)


def test_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = LogHost(timestamps=True, clock=fixed_clock(timedelta(milliseconds=250)).__next__)

    async def feed(pilot: Pilot[None]) -> None:
        view = app.query_one(LogView)
        view.add(batch("build", "Step 1/4 : FROM wb-base:bookworm", "Step 2/4 : COPY . /app"))
        view.add(batch("build", "Step 3/4 : RUN pip install .", "Successfully built 3f2a9c"))
        view.add(batch("app", "listening on 0.0.0.0:8000", "GET /health 200 1.2ms", dropped=2))
        view.add(batch("tests", "tests/test_api.py::test_items PASSED", "1 passed in 0.41s"))
        view.add(batch("app", "GET /items 500 3.4ms", "Traceback (most recent call last):"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=feed)
