"""Blocking calls off the event loop: the docker SDK blocks, so every call to it runs on a
thread (:func:`blocking`, on workbench's own pool), and long readers on threads of their own
(:func:`follow`); a :class:`Stream` lets another thread stop a reader."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from . import sdk

T = TypeVar("T")


class Stream:
    """A streaming response being read in some thread; :meth:`close` stops the reader."""

    def __init__(self) -> None:
        self._response: Any = None
        self.closed = False

    def attach(self, response: Any) -> None:
        self._response = response
        if self.closed:
            self.close()

    def close(self) -> None:
        self.closed = True
        cancel = getattr(self._response, "cancel", None)  # workbench.plainget.PlainGet
        if cancel is not None:
            cancel()
        elif self._response is not None:
            from docker.types import CancellableStream

            with contextlib.suppress(OSError):
                CancellableStream(iter(()), self._response).close()


async def blocking(fn: Callable[[], T], stream: Stream | None = None, *,
                   own_thread: bool = False) -> T:
    """Run ``fn`` in a thread; if the caller is cancelled, close ``stream`` so the thread ends.

    Short calls share workbench's own pool (:func:`pool`), not the loop's default executor:
    in the TUI, Textual's ``Log`` computes line widths on that executor for every write, and a
    stream of log batches kept all its threads waiting on the loop, so an inspect or a close
    waited behind them (0.6-0.9 s here). Long ones (a build) pass ``own_thread=True``: six
    builds in a pool would leave every other blocking call waiting for one.
    """
    sdk.load()
    if own_thread:
        future = _in_own_thread(fn)
    else:
        import contextvars
        import functools

        call = functools.partial(contextvars.copy_context().run, fn)
        future = asyncio.get_running_loop().run_in_executor(pool(), call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if stream is not None:
            stream.close()
        await asyncio.gather(future, return_exceptions=True)
        raise


def pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that run workbench's short blocking calls (docker API calls, closes)."""
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=POOL_THREADS,
                                                      thread_name_prefix="wb-pool")
    return _pool


POOL_THREADS = 32
"""At most this many short calls at once: enough for every host of a few environments."""
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def follow(fn: Callable[[], None], stream: Stream) -> asyncio.Future[None]:
    """Run a long reader (a log follower) on a thread of its own, not the loop's pool.

    Followers live as long as their container is watched; in the default executor (``cpus + 4``
    threads) a few of them would starve every other blocking call. Cancelling the future
    closes ``stream``, which ends the thread.
    """
    future = _in_own_thread(fn, "workbench-follow")
    future.add_done_callback(lambda f: stream.close() if f.cancelled() else None)
    return future


def _in_own_thread(fn: Callable[[], T], name: str = "workbench-long") -> asyncio.Future[T]:
    """A future for ``fn`` run on a new daemon thread (its result or exception)."""
    import contextvars
    import threading

    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def done(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def run() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = context.run(fn)
        except BaseException as exc:  # handed to the awaiting side
            error = exc
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(done, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


