"""The docker SDK, imported once, by one thread.

The SDK is imported lazily (it costs about 0.3 s), and operations then use it from several
threads at once. Two threads importing ``docker`` and ``docker.utils.build`` at the same moment
can fail inside importlib (``KeyError: 'docker'``, seen in deploys and status), so the first
import of every part workbench uses happens here, under one lock; later imports are lookups.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()


def load() -> None:
    """Import the parts of the docker SDK that workbench uses (at once, and only once)."""
    global _loaded
    if _loaded:
        return
    with _LOCK:  # a module is in sys.modules while it still runs: wait for the whole import
        import docker
        import docker.errors
        import docker.types
        import docker.utils.build  # noqa: F401

        _loaded = True


_loaded = False
