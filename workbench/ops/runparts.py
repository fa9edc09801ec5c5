"""Small parts of a deploy run: a failure on one host, the packing error shown first, and a
wait that a cancel cannot cut short."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any


class OnHost(Exception):
    """``cause`` happened on ``host``."""

    def __init__(self, host: str, cause: Exception) -> None:
        super().__init__(f"on {host}: {cause}")
        self.host, self.cause = host, cause


async def packing_error_first(packing: asyncio.Future[Any]) -> None:
    """A failure to pack the build contexts (bad input in the endpoints) is the error to show,
    as when packing came before connecting to the hosts: raise it."""
    if not packing.done():
        await asyncio.wait([packing])
    error = None if packing.cancelled() else packing.exception()
    if error is not None:
        raise error from None


def problem(exc: BaseException) -> str:
    """The one-line problem of ``exc`` (its type and text when it has none)."""
    return getattr(exc, "problem", "") or f"{type(exc).__name__}: {exc}"


def fix(exc: BaseException) -> str:
    """What to do about ``exc`` ("" when it does not say), also through :class:`OnHost`."""
    cause = exc.cause if isinstance(exc, OnHost) else exc
    return getattr(cause, "fix", None) or ""


async def finish(work: Awaitable[None]) -> None:
    """Await ``work`` to its end even when cancelled (then re-raise the cancel)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


