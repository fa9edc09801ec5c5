"""screens/log_widget.py: the TUI's Log takes a plain ASCII batch's width at once, and leaves
any other batch to Textual's own measure; the width is the same either way."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Log

from screens.log_widget import FastLog


class Holder(App[None]):
    def __init__(self, log: Log) -> None:
        super().__init__()
        self.log_widget = log

    def compose(self) -> ComposeResult:
        yield self.log_widget


async def widths(log: Log, batches: list[list[str]]) -> list[int]:
    """The Log's virtual width after each batch (its workers waited for)."""
    found = []
    async with Holder(log).run_test(size=(80, 10)) as pilot:
        for batch in batches:
            log.write_lines(batch)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            found.append(log.virtual_size.width)
    return found


BATCHES = [["short", "a line of thirty characters..."],
           ["x" * 12],
           ["日本語のログ行", "tab\there"],  # wide characters (2 cells each); a tab expands
           ["bell\x07 and escape\x1b[31m"]]


async def test_widths_are_those_of_textuals_log_plain_or_not() -> None:
    ours = await widths(FastLog(), BATCHES)
    theirs = await widths(Log(), BATCHES)
    assert ours == theirs == [30, 30, 30, 30]
    wide = await widths(FastLog(), [["日本語のログ行のとても長い行です" * 2]])
    assert wide == await widths(Log(), [["日本語のログ行のとても長い行です" * 2]]) == [64]


async def test_a_plain_batch_starts_no_worker() -> None:
    log = FastLog()
    async with Holder(log).run_test(size=(80, 10)) as pilot:
        log.write_lines(["GET /items 200"] * 1000)
        assert list(pilot.app.workers) == []  # measured on the loop, not in a thread worker
        assert log.virtual_size.width == 14
        log.write_lines(["日本語"])
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert log.virtual_size.width == 14
