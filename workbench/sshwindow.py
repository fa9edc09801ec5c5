"""asyncssh's channel receive window, counted together with the data it still holds.

asyncssh reopens a channel's receive window in full whenever it delivers data to the session
(``SSHChannel._deliver_data``: below half the window, back to the whole), even while it still
buffers data that a paused reader has not taken. With a fast sender and a slow reader, such as
an image streamed from one host's forwarded docker socket into another's (the reader pauses
the channel whenever the far side is slower), each pause and resume lets the peer send one more
window on top of what is buffered: ~30 MB held for a 171 MB image here, growing with the image.
OpenSSH, and Apache MINA since its #292, grant back only what was taken.

:func:`install` makes the window count the bytes still buffered as not yet taken, so the peer
never has more than one window in flight and buffered together, whatever the reader's pace
(the same image: ~5 MB). Nothing else changes: a reader that keeps up never has anything
buffered, and then the window is reopened exactly as before.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

_MARK = "_workbench_counts_buffered"


def install(asyncssh: ModuleType) -> bool:
    """Patch ``asyncssh``'s channels once (idempotent). False, and nothing changed, when its
    channel class no longer has the parts this relies on."""
    channel = getattr(getattr(asyncssh, "channel", None), "SSHChannel", None)
    original = getattr(channel, "_deliver_data", None)
    if channel is None or original is None:
        return False
    if getattr(original, _MARK, False):
        return True

    def _deliver_data(self: Any, data: Any, datatype: Any) -> None:
        if self._recv_window >= self._init_recv_window / 2:
            # no window adjust now, with or without what is held (which would only add to the
            # window): skip counting it, which is once per packet with up to ~60 held
            return original(self, data, datatype)
        buffered = getattr(self, "_recv_buf", None)
        held = sum(len(item[0]) for item in buffered) if buffered else 0
        self._recv_window += held  # as if not received yet: the grant leaves room for them
        try:
            original(self, data, datatype)
        finally:
            self._recv_window -= held

    setattr(_deliver_data, _MARK, True)
    _deliver_data.__doc__ = original.__doc__
    channel._deliver_data = _deliver_data
    return True
