"""Log lines to the event stream: batches, a bounded buffer, periodic flushes, byte decoding."""

from __future__ import annotations

import asyncio
import struct
import threading

from workbench.events import LogLines
from workbench.logstream import BATCH, DockerLogDecoder, LineSplitter, LogHub, LogPump


def collector() -> tuple[list[LogLines], LogPump]:
    seen: list[LogLines] = []
    return seen, LogPump(seen.append, "app")


def test_a_pump_emits_batches_of_at_most_batch_lines_in_order() -> None:
    seen, pump = collector()
    fed = [f"line {i}" for i in range(12_000)]
    pump.feed(fed[:7_000])
    pump.feed(iter(fed[7_000:]))  # any iterable
    assert pump.flush() == 12_000
    assert [len(event.lines) for event in seen] == [BATCH, BATCH, 12_000 - 2 * BATCH]
    assert {event.source for event in seen} == {"app"}
    assert [line for event in seen for line in event.lines] == fed
    assert pump.total == 12_000 and list(pump.tail) == fed[-50:]


def test_an_empty_pump_emits_nothing() -> None:
    seen, pump = collector()
    pump.feed([])
    assert pump.flush() == 0 and seen == []


def test_a_consumer_that_falls_behind_gets_the_last_lines_and_the_dropped_count() -> None:
    seen: list[LogLines] = []
    pump = LogPump(seen.append, "app", limit=1000)
    fed = 100_000

    def reader() -> None:
        for start in range(0, fed, 250):
            pump.feed([f"line {i}" for i in range(start, start + 250)])

    thread = threading.Thread(target=reader)
    thread.start()
    thread.join()
    pump.flush()
    lines = [line for event in seen for line in event.lines]
    assert lines == [f"line {i}" for i in range(fed - 1000, fed)]
    assert [event.dropped for event in seen] == [99_000]
    assert len(lines) + sum(event.dropped for event in seen) == fed

    seen.clear()
    pump.feed(["after"])
    pump.flush()
    assert seen == [LogLines("app", ("after",), 0)]  # the count is reported once


def test_drops_are_reported_even_across_batches() -> None:
    seen: list[LogLines] = []
    pump = LogPump(seen.append, "app", limit=3 * BATCH)
    pump.feed(["x"] * (3 * BATCH + 7))
    pump.flush()
    assert [(len(e.lines), e.dropped) for e in seen] == [(BATCH, 7), (BATCH, 0), (BATCH, 0)]


async def test_a_hub_flushes_periodically_and_at_exit() -> None:
    seen: list[LogLines] = []
    async with LogHub(seen.append, interval=0.01) as hub:
        pump = hub.pump("build")
        assert hub.pump("build") is pump
        await asyncio.to_thread(pump.feed, ["one", "two"])
        for _ in range(10000):  # a safety cap
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == [LogLines("build", ("one", "two"))]  # before the hub exits
        hub.pump("app").feed(["last"])
    assert seen[-1] == LogLines("app", ("last",))  # the final flush at exit


def test_line_splitter_keeps_partial_lines() -> None:
    splitter = LineSplitter()
    assert splitter.split(b"first\nsec") == ["first"]
    assert splitter.split(b"ond") == []
    assert splitter.split(b"\n\nthird\nfo") == ["second", "", "third"]
    assert splitter.finish() == ["fo"]
    assert splitter.finish() == []


def test_line_splitter_decodes_a_character_split_across_chunks() -> None:
    data = "café ✓ naïve\n€\n".encode()
    for cut in range(1, len(data)):
        splitter = LineSplitter()
        lines = splitter.split(data[:cut]) + splitter.split(data[cut:]) + splitter.finish()
        assert lines == ["café ✓ naïve", "€"], cut


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_docker_log_frames_split_anywhere_give_the_same_lines() -> None:
    data = (frame(1, b"out 1\n") + frame(2, b"err 1\n") + frame(1, b"out 2\nout 3\nout ")
            + frame(1, "4 ✓\n".encode()) + frame(2, b"err 2\n") + frame(1, b"out 5\n")
            + frame(2, b"partial"))
    expected = ["out 1", "err 1", "out 2", "out 3", "out 4 ✓", "err 2", "out 5"]

    whole = DockerLogDecoder()
    assert whole.feed(data) == expected
    assert whole.finish() == ["partial"]

    byte_by_byte = DockerLogDecoder()
    lines = [line for i in range(len(data)) for line in byte_by_byte.feed(data[i:i + 1])]
    assert lines == expected
    assert byte_by_byte.finish() == ["partial"]


def test_docker_log_decoder_keeps_each_streams_partial_line_apart() -> None:
    decoder = DockerLogDecoder()
    assert decoder.feed(frame(1, b"a") + frame(2, b"b\n") + frame(1, b"c\n")) == ["b", "ac"]
    assert decoder.feed(frame(1, b"x\ny") + frame(2, b"z")) == ["x"]
    assert decoder.finish() == ["y", "z"]


def test_chunked_body_decodes_whatever_the_cuts() -> None:
    import random

    from workbench.logstream import ChunkedBody

    rng = random.Random(7)
    pieces = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) for _ in range(50)]
    wire = b"".join(b"%x;ext=1\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    for _ in range(20):
        body, out, pos = ChunkedBody(), [], 0
        while pos < len(wire):
            step = rng.randrange(1, 40)
            out.append(body.feed(wire[pos:pos + step]))
            pos += step
        assert b"".join(out) == b"".join(pieces) and body.done


def test_a_line_without_an_end_is_passed_on_in_pieces() -> None:
    from workbench.logstream import MAX_LINE

    splitter = LineSplitter()
    lines = [line for _ in range(100) for line in splitter.split(b"\r50% " * 1000)]
    assert lines and all(len(line) <= MAX_LINE + 5000 for line in lines)
    assert sum(len(line) for line in lines) + len(splitter.finish()[0]) == 100 * 5000
