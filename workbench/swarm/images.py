"""Images on every node of a Swarm: streamed from the manager, or pushed to a registry.

Swarm may start a task on any node, and a node that lacks the image fails it (moby #29940)::

    distribute(manager, nodes, image, emit)  each other node at once: one inspect says whether
        it has the image with the manager's id; only where not, ``docker save`` on the manager's
        engine is streamed into ``docker load`` on the node's (the docker API on each host's
        forwarded socket, in chunks, through a bounded pipe per node), then the node's id is
        checked. One save feeds every node that needs it: the manager sends the image once.
    push(manager, image, registry, emit)     tag and push; the ``registry/...@sha256:`` that
        services pin to, so that no node resolves another image.

Which host is which node, and the refusal of a node without a host: :mod:`.nodemap`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote_plus

from ..engine import Engine, Stream, blocking, body_chunks
from ..errors import BadInput, OperationFailed, WorkbenchError
from ..events import Emit, LogLines, Progress, StepFinished, StepStarted, failure
from ..site import Site
from .pipe import Aborted, Pipe

CHUNK = 1 << 20
"""Bytes read from the manager at a time, at most: a transfer holds about LIMIT (see
:mod:`.pipe`) bytes per node in memory, whatever the image's size."""
PROGRESS_EVERY = 32 << 20
MB = 1_000_000


class _Cancels(Stream):
    """A response stream whose close (a cancel) also aborts ``pipes``, so both threads end."""

    def __init__(self, pipes: Sequence[Pipe]) -> None:
        super().__init__()
        self.pipes = pipes

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.abort("cancelled")
        super().close()


# -- distribute ---------------------------------------------------------------------------------
async def distribute(manager: Site, nodes: Sequence[Site], image: str, emit: Emit) -> str:
    """Make sure every node in ``nodes`` (the manager itself is skipped) has ``image`` with the
    manager's image id, streaming it only to those that lack it. Returns that id (services
    pin to it). A failure names each node that did not get it."""
    ident, size = await blocking(lambda: _image(manager, image))
    others = [node for node in nodes if node is not manager and node.name != manager.name]
    found = await asyncio.gather(*(blocking(lambda n=node: _id_on(n, image)) for node in others))
    needed = []
    for node, there in zip(others, found, strict=True):
        if there == ident:
            step, label = _step(node, image)
            emit(StepStarted(step, label))
            emit(StepFinished(step, label, True, 0.0, "already there with the same id"))
        else:
            needed.append(node)
    if needed:
        await _send(manager, needed, image, ident, size, emit)
    return ident


def _step(node: Site, image: str) -> tuple[str, str]:
    return f"image/{image}@{node.name}", f"send {image} to {node.name}"


def _image(manager: Site, image: str) -> tuple[str, int]:
    """The image's id and size on the manager (blocks)."""
    import docker.errors

    try:
        found = manager.engine.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        raise OperationFailed(f"image {image} is not on the manager {manager.name}",
                              "build it there first") from None
    except Exception as exc:
        raise OperationFailed(f"cannot inspect image {image} on the manager {manager.name} "
                              f"({_reason(exc)})", "check that Docker runs there") from None
    return str(found["Id"]), int(found.get("Size") or 0)


def _id_on(node: Site, image: str) -> str:
    """The id of ``image`` on ``node`` ("" when it has none; blocks)."""
    import docker.errors

    try:
        return str(node.engine.api.inspect_image(image)["Id"])
    except docker.errors.ImageNotFound:
        return ""
    except Exception as exc:
        raise OperationFailed(f"cannot ask {node.name} for image {image} ({_reason(exc)})",
                              f"check that Docker runs on {node.name}") from None


async def _send(manager: Site, nodes: Sequence[Site], image: str, ident: str, size: int,
                emit: Emit) -> None:
    """One ``docker save`` on the manager, teed into a ``docker load`` on each of ``nodes``."""
    pipes = {node.name: Pipe() for node in nodes}
    saving = _Cancels(list(pipes.values()))
    reading = asyncio.ensure_future(blocking(
        lambda: _save(manager.engine, image, list(pipes.values()), saving), saving,
        own_thread=True))
    try:
        results = await asyncio.gather(
            *(_receive(node, pipes[node.name], image, ident, size, emit) for node in nodes),
            return_exceptions=True)
    except BaseException:  # cancelled
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        raise
    if not reading.done():
        saving.close()  # every node stopped taking it before the end
    read = await asyncio.gather(reading, return_exceptions=True)
    for result in (*results, *read):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result
    failed = [(node, r) for node, r in zip(nodes, results, strict=True)
              if isinstance(r, BaseException)]
    if not failed:
        return
    cause = read[0] if isinstance(read[0], WorkbenchError) else None
    why = "; ".join(f"{node.name}: " + (cause.problem if cause and isinstance(exc, Aborted)
                                        else failure(exc)) for node, exc in failed)
    names = ", ".join(node.name for node, _ in failed)
    raise OperationFailed(f"cannot send image {image} to {why}",
                          f"check that Docker runs on {names} and has room for the image, or set "
                          "registry: for the environment to pull images from a registry")


async def _receive(node: Site, pipe: Pipe, image: str, ident: str, size: int,
                   emit: Emit) -> None:
    """Load what ``pipe`` brings into ``node``'s engine, then check the id; as one step."""
    step, label = _step(node, image)
    emit(StepStarted(step, label))
    started = time.perf_counter()
    stream = _Cancels([pipe])
    sent = _Counter(step, size or None, emit)
    try:
        await blocking(lambda: _load(node.engine, pipe, stream, sent), stream, own_thread=True)
        there = await blocking(lambda: _id_on(node, image))
        if there != ident:
            raise OperationFailed(f"after the load, {image} on {node.name} is "
                                  f"{there[:19] or 'missing'}, not the manager's {ident[:19]}",
                                  "check that nothing else tags that image there, then run it "
                                  "again")
    except BaseException as exc:
        emit(StepFinished(step, label, False, time.perf_counter() - started, failure(exc)))
        raise
    seconds = time.perf_counter() - started
    line = (f"sent {sent.total / MB:.1f} MB to {node.name} in {seconds:.1f} s "
            f"({sent.total / MB / max(seconds, 1e-3):.0f} MB/s); id {ident[:19]} checked")
    emit(LogLines(f"image@{node.name}", (line,)))
    emit(StepFinished(step, label, True, seconds, line))


class _Counter:
    """Bytes sent to one node; a :class:`Progress` event every :data:`PROGRESS_EVERY` bytes
    (from the sending thread, handed to the event loop)."""

    def __init__(self, step: str, size: int | None, emit: Emit) -> None:
        self.step, self.size, self.emit = step, size, emit
        self.total = 0
        self._next = PROGRESS_EVERY
        self._loop = asyncio.get_running_loop()

    def __call__(self, count: int) -> None:
        self.total += count
        if self.total >= self._next:
            self._next += PROGRESS_EVERY
            event = Progress(self.step, self.total, self.size)
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self.emit, event)


def _url(engine: Engine, path: str) -> str:
    api = engine.api
    return f"{api.base_url}/v{api.api_version}{path}"


def _save(engine: Engine, image: str, pipes: Sequence[Pipe], stream: Stream) -> None:
    """``docker save`` of ``image`` into every pipe, until the end or until no pipe takes more
    (blocks). A failure aborts every pipe, so no node loads a cut-off image."""
    response: Any = None
    try:
        response = engine.api.get(_url(engine, f"/images/{quote_plus(image, safe='/:')}/get"),
                                  stream=True, timeout=None)
        stream.attach(response)
        if response.status_code >= 400:
            raise OperationFailed(f"docker save of {image} on {engine.where} was refused "
                                  f"({_message(response)})", "check that Docker runs there")
        taking = list(pipes)
        for chunk in body_chunks(response, CHUNK):
            taking = [pipe for pipe in taking if pipe.put(chunk)]
            if not taking:
                break
        if stream.closed:
            raise Aborted("cancelled")
    except BaseException as exc:
        for pipe in pipes:
            pipe.abort(f"the manager stopped sending ({failure(exc)})")
        if isinstance(exc, Exception) and not isinstance(exc, WorkbenchError):
            raise OperationFailed(f"docker save of {image} on {engine.where} stopped "
                                  f"({_reason(exc)})", "check that Docker runs there") from None
        raise
    finally:
        if response is not None:
            response.close()
    for pipe in pipes:
        pipe.close()


def _load(engine: Engine, pipe: Pipe, stream: Stream, sent: Callable[[int], None]) -> None:
    """``docker load`` of what ``pipe`` brings (blocks). The request body is read from the pipe
    as it fills; when the pipe is aborted the upload stops half-way, and the engine drops it."""

    def body() -> Iterator[bytes]:
        for chunk in pipe:
            yield chunk
            sent(len(chunk))

    try:
        response = engine.api.post(_url(engine, "/images/load"), params={"quiet": "1"},
                                   data=body(), stream=True, timeout=None,
                                   headers={"Content-Type": "application/x-tar"})
    except Aborted:
        raise
    except Exception as exc:
        raise OperationFailed(f"docker load on {engine.where} stopped ({_reason(exc)})",
                              "check that Docker runs there") from None
    finally:
        pipe.abort("the node stopped taking the image")  # the reader stops feeding this one
    stream.attach(response)
    try:
        if response.status_code >= 400:
            raise OperationFailed(f"docker load on {engine.where} was refused "
                                  f"({_message(response)})", "check the engine's log there")
        for raw in response.iter_lines():
            message = _json(raw)
            if "error" in message:
                raise OperationFailed(f"docker load on {engine.where} failed "
                                      f"({str(message['error']).strip()[:300]})",
                                      "check its free disk space and the engine's log")
    finally:
        response.close()


# -- a registry instead ---------------------------------------------------------------------------
def registry_ref(image: str, registry: str) -> tuple[str, str]:
    """(repository, tag) of ``image`` in ``registry`` (``host[:port][/prefix]``): the image's
    own name (its last path part) under the registry, same tag."""
    from docker.utils import parse_repository_tag

    where = registry.strip().rstrip("/")
    if not where or "://" in where or where != where.lower() or " " in where:
        raise BadInput(f"registry '{registry}' is not host[:port][/prefix]",
                       "write it as docker push expects it, e.g. registry.example.com:5000/team")
    repo, tag = parse_repository_tag(image)
    if repo.startswith("sha256:") or not repo:
        raise BadInput(f"image {image} has no name to push it under", "push a tagged image")
    return f"{where}/{repo.rsplit('/', 1)[-1]}", tag or "latest"


async def push(manager: Site, image: str, registry: str, emit: Emit) -> str:
    """Tag ``image`` on the manager for ``registry`` and push it there; returns the reference
    by digest (``registry/name@sha256:...``) that services pin to. Credentials come from this
    machine's docker config (``docker login``), as for ``docker push``."""
    repo, tag = registry_ref(image, registry)
    step, label = f"image/{image} push", f"push {image} to {registry}"
    emit(StepStarted(step, label))
    started = time.perf_counter()
    stream = Stream()
    lines: list[str] = []
    try:
        await blocking(lambda: _tag(manager, image, repo, tag))
        digest = await blocking(lambda: _push(manager.engine, repo, tag, stream, lines.append),
                                stream, own_thread=True)
    except BaseException as exc:
        emit(StepFinished(step, label, False, time.perf_counter() - started, failure(exc)))
        raise
    ref = f"{repo}@{digest}"
    emit(LogLines(f"image/push@{manager.name}", (*lines[-3:], f"pushed {ref}")))
    emit(StepFinished(step, label, True, time.perf_counter() - started, ref))
    return ref


def _tag(manager: Site, image: str, repo: str, tag: str) -> None:
    try:
        manager.engine.api.tag(image, repo, tag, force=True)
    except Exception as exc:
        raise OperationFailed(f"cannot tag {image} as {repo}:{tag} on {manager.name} "
                              f"({_reason(exc)})", "check that the image is there") from None


def _push(engine: Engine, repo: str, tag: str, stream: Stream,
          out: Callable[[str], None]) -> str:
    """Push ``repo:tag`` (blocks); its digest, from the engine's last words."""
    from docker import auth

    registry, _ = auth.resolve_repository_name(repo)
    headers = {"Content-Type": "application/json"}
    header = auth.get_config_header(engine.api, registry)
    if header:
        headers["X-Registry-Auth"] = header
    fix = ("check that the registry answers, that the manager's Docker trusts it "
           "(insecure-registries for plain HTTP), and 'docker login' to it if it needs that")
    try:
        response = engine.api.post(_url(engine, f"/images/{quote_plus(repo, safe='/:')}/push"),
                                   params={"tag": tag}, data="{}", headers=headers,
                                   stream=True, timeout=None)
        stream.attach(response)
        if response.status_code >= 400:
            raise OperationFailed(f"push of {repo}:{tag} was refused ({_message(response)})",
                                  fix)
        digest = ""
        for raw in response.iter_lines():
            message = _json(raw)
            if "error" in message:
                raise OperationFailed(f"push of {repo}:{tag} failed "
                                      f"({str(message['error']).strip()[:300]})", fix)
            aux = message.get("aux")
            if isinstance(aux, dict) and str(aux.get("Digest", "")).startswith("sha256:"):
                digest = str(aux["Digest"])
            elif "status" in message and "id" not in message:
                out(str(message["status"]))
    except WorkbenchError:
        raise
    except Exception as exc:
        if stream.closed:
            raise OperationFailed("push cancelled", "run it again") from None
        raise OperationFailed(f"push of {repo}:{tag} stopped ({_reason(exc)})", fix) from None
    if not digest:
        raise OperationFailed(f"push of {repo}:{tag} ended without a digest",
                              "check the registry, then run it again")
    return digest


# -- small parts -----------------------------------------------------------------------------------
def _json(raw: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _message(response: Any) -> str:
    try:
        return str(response.json().get("message", response.reason)).strip()[:300]
    except ValueError:
        return str(response.reason)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc) or type(exc).__name__
    return text.splitlines()[0][:200]
