"""workbench/sshwindow.py: a paused reader's buffered data counts against the SSH channel's
receive window, so a fast peer cannot make asyncssh buffer more than one window."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from workbench.ssh import library
from workbench.sshwindow import install

WINDOW = 100


def channel(received: list[bytes]) -> Any:
    """A channel that took ``received`` while paused (all of it still buffered)."""
    asyncssh = library()
    chan = asyncssh.channel.SSHChannel.__new__(asyncssh.channel.SSHChannel)
    chan.adjusts = []
    chan.delivered = []
    chan._init_recv_window = WINDOW
    chan._recv_window = WINDOW - sum(map(len, received))
    chan._recv_buf = [(data, None) for data in received]
    chan._encoding = None
    chan._session = SimpleNamespace(data_received=lambda d, _t: chan.delivered.append(d))
    chan._logger = SimpleNamespace(debug2=lambda *_a: None)
    chan.send_packet = lambda _kind, amount: chan.adjusts.append(int.from_bytes(amount, "big"))
    return chan


def deliver_one(chan: Any) -> None:
    chan._deliver_data(*chan._recv_buf.pop(0))  # as asyncssh's flush does


def test_the_window_reopens_only_for_what_was_taken() -> None:
    assert install(library()) and install(library())  # once, and idempotent
    chan = channel([b"a" * 50, b"b" * 50])  # the peer filled the window while we were paused
    deliver_one(chan)  # 50 taken, 50 still held: nothing granted yet (before: 100 at once)
    assert chan.adjusts == [] and chan._recv_window == 0
    deliver_one(chan)  # all taken: the whole window again
    assert chan.adjusts == [100] and chan._recv_window == WINDOW
    assert chan.delivered == [b"a" * 50, b"b" * 50]


def test_held_data_and_window_never_pass_one_window() -> None:
    install(library())
    chan = channel([b"x" * 20] * 5)
    for _ in range(5):
        deliver_one(chan)
        held = sum(len(d) for d, _ in chan._recv_buf)
        assert chan._recv_window + held <= WINDOW  # in flight + buffered
    assert chan._recv_window >= WINDOW // 2  # all taken: the peer may send again (no stall)
