"""One Docker API for every host: the docker SDK on a socket (local, or forwarded over SSH).

Every method blocks; operations call them through :func:`blocking`, in a thread. The two
long streams, a build and a container's logs, are read from the HTTP response directly so
that :meth:`Stream.close` can stop them from another thread (a cancelled operation must not
wait for a build to finish) and so that logs are split in large chunks, not frame by frame.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import OperationFailed, Unreachable
from .logstream import ChunkedBody, DockerLogDecoder, LineSplitter
from .threads import Stream as Stream
from .threads import blocking as blocking
from .threads import follow as follow

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

LABEL = "dev.workbench."
"""Prefix of every label workbench puts on Docker objects."""

Lines = Callable[[list[str]], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Exited:
    code: int
    error: str = ""


class Engine:
    """A Docker engine reached through the docker SDK."""

    def __init__(self, client: docker.DockerClient, where: str) -> None:
        self.client = client
        self.api = client.api
        self.where = where

    @classmethod
    def local(cls) -> Engine:
        """The local engine: ``DOCKER_HOST`` or the default socket."""
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        try:
            import docker

            client = docker.from_env(max_pool_size=64, timeout=120)
            client.ping()
        except Exception as exc:
            raise Unreachable(f"the Docker Engine at {where} does not answer "
                              f"({_reason(exc)})", "start it (e.g. 'sudo systemctl start docker' "
                              "or 'dockerd &') or point DOCKER_HOST at it") from None
        return cls(client, where)

    def close(self) -> None:
        self.client.close()

    # -- images -----------------------------------------------------------------------------
    def image_exists(self, ref: str) -> bool:
        import docker.errors

        try:
            self.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return False
        return True

    def build(self, context: bytes, tag: str, build_args: Mapping[str, str],
              labels: Mapping[str, str], out: Lines, stream: Stream) -> None:
        """Build ``context`` (a tar) as ``tag``, passing output lines to ``out``.

        ``labels`` go on the image as one LABEL instruction appended to the Dockerfile that is
        sent (see :func:`one_label_step`), or through the API when that cannot be done safely.
        """
        from .context import one_label_step

        context, api_labels = one_label_step(context, labels)
        params = {"t": tag, "rm": "1", "forcerm": "1",
                  "buildargs": json.dumps(dict(build_args)),
                  "labels": json.dumps(dict(api_labels))}
        response = self.api.post(self._url("/build"), data=context, params=params, stream=True,
                                 headers={"Content-Type": "application/x-tar"}, timeout=None)
        stream.attach(response)
        if response.status_code >= 400:
            raise OperationFailed(f"build refused: {_api_message(response)}",
                                  "check the Dockerfile and build_args")
        messages, text = LineSplitter(), _TextLines()
        error = ""
        try:
            for chunk in response.raw.stream(65536, decode_content=True):
                for raw in messages.split(chunk):
                    message = _json(raw)
                    if "stream" in message:
                        out(text.add(str(message["stream"])))
                    elif "error" in message:
                        error = str(message["error"]).strip()
                        out(text.add(error + "\n"))
                    elif "status" in message:
                        out([str(message["status"]) + " " + str(message.get("progress", ""))])
        except Exception:
            if stream.closed:
                raise OperationFailed("build cancelled", "run it again") from None
            raise
        out(text.finish())
        if stream.closed:
            raise OperationFailed("build cancelled", "run it again")
        if error:
            raise OperationFailed(f"build failed: {error.splitlines()[-1][:300]}",
                                  "fix the Dockerfile or the code it builds (see the build log)")
        if not self.image_exists(tag):
            raise OperationFailed("build ended without an image", "see the build log")

    # -- containers -------------------------------------------------------------------------
    def container(self, name_or_id: str) -> Container:
        return self.client.containers.get(name_or_id)

    def published_port(self, container: Container, port: int) -> int:
        container.reload()
        bindings = (container.ports or {}).get(f"{port}/tcp") or []
        for binding in bindings:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        raise OperationFailed(f"port {port} of {container.name} was not published",
                              "check that nothing else holds the ports Docker hands out")

    def exited(self, container: Container, reload: bool = True) -> Exited | None:
        """The exit code when the container has stopped, else None (``reload=False``: trust the
        state it was fetched with, e.g. by :meth:`container` just before: one inspect, not two)."""
        if reload:
            container.reload()
        state = container.attrs.get("State", {})
        if state.get("Restarting"):  # it exited; its restart policy is about to start it again
            return Exited(int(state.get("ExitCode", -1)), str(state.get("Error") or ""))
        if state.get("Running") or state.get("Status") == "created":
            return None
        return Exited(int(state.get("ExitCode", -1)), str(state.get("Error") or ""))

    # -- containers by name ------------------------------------------------------------------
    def exists(self, container: str) -> bool:
        """Whether a container of that name or id exists."""
        import docker.errors

        try:
            self.client.containers.get(container)
        except docker.errors.NotFound:
            return False
        return True

    def running(self, container: str) -> bool:
        """Whether the container exists and runs."""
        import docker.errors

        try:
            return self.client.containers.get(container).status == "running"
        except docker.errors.NotFound:
            return False

    def stop(self, container: str, timeout: int = 10) -> None:
        """Stop the container (gracefully, up to ``timeout`` s); gone already is fine."""
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(container).stop(timeout=timeout)

    def remove(self, container: str) -> None:
        """Remove the container, running or not; gone already is fine."""
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(container).remove(force=True)

    def state(self, container: str, network: str) -> tuple[int | None, str]:
        """The container's exit code (None while it runs) and its address on ``network``
        (one inspect)."""
        found = self.container(container)
        exited = self.exited(found, reload=False)
        return (exited.code if exited else None), ip_on(found.attrs, network)

    def address(self, container: str, network: str) -> str:
        """The container's address on ``network`` ("" when it has none)."""
        return ip_on(self.container(container).attrs, network)

    def follow_logs(self, container_id: str, out: Lines, stream: Stream,
                    follow: bool = True) -> None:
        """Pass the container's log lines (stdout and stderr, in order) to ``out``."""
        params = {"stdout": 1, "stderr": 1, "follow": 1 if follow else 0}
        response = self.api.get(self._url(f"/containers/{container_id}/logs"), params=params,
                                stream=True, timeout=None)
        stream.attach(response)
        if response.status_code >= 400:
            return
        decoder = DockerLogDecoder()
        try:
            for chunk in body_chunks(response):
                lines = decoder.feed(chunk)
                if lines:
                    out(lines)
        except Exception:
            if not stream.closed:
                raise
        finally:
            response.close()
        out(decoder.finish())

    def tail(self, container_id: str, lines: int = 20) -> list[str]:
        """The container's last log lines (empty when it is gone)."""
        import docker.errors

        try:
            raw = self.api.logs(container_id, stdout=True, stderr=True, tail=lines)
        except docker.errors.APIError:
            return []
        return raw.decode("utf-8", "replace").splitlines()[-lines:]

    # -- cleanup ----------------------------------------------------------------------------
    def remove_labelled(self, label: str) -> list[str]:
        """Remove every container, then volume and network carrying ``label`` (k=v)."""
        import docker.errors

        removed: list[str] = []
        filters = {"label": label}
        for container in self.client.containers.list(all=True, filters=filters):
            _quietly(docker.errors.NotFound, lambda c=container: c.remove(force=True))
            removed.append(f"container {container.name}")
        for volume in self.client.volumes.list(filters=filters):
            _quietly(docker.errors.NotFound, lambda v=volume: v.remove(force=True))
            removed.append(f"volume {volume.name}")
        for network in self.client.networks.list(filters=filters):
            _quietly(docker.errors.NotFound, network.remove)
            removed.append(f"network {network.name}")
        return removed

    def _url(self, path: str) -> str:
        return f"{self.api.base_url}/v{self.api.api_version}{path}"


def ip_on(attrs: Mapping[str, Any], network: str) -> str:
    """The address on ``network`` in a container's inspect data ("" when it has none)."""
    networks = attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    return str((networks.get(network) or {}).get("IPAddress", ""))


class _TextLines:
    """Build output arrives as text pieces that may split or join lines."""

    def __init__(self) -> None:
        self._rest = ""

    def add(self, text: str) -> list[str]:
        data = self._rest + text
        *lines, self._rest = data.split("\n")
        return [line.rstrip("\r") for line in lines]

    def finish(self) -> list[str]:
        rest, self._rest = self._rest, ""
        return [rest] if rest else []


def body_chunks(response: Any, size: int = 65536) -> Iterator[bytes]:
    """A streamed response's body in reads of whatever has arrived (at most ``size`` bytes).

    urllib3 yields a chunked body one HTTP chunk at a time, and Docker sends one chunk per log
    frame: 200,000 lines would be 200,000 reads and 200,000 calls of ``out``. So read the
    connection's buffered file with ``read1`` (never waits for more than has arrived, so a
    followed log stays live) and undo the chunked coding here.
    """
    raw = response.raw
    http = getattr(raw, "_fp", None)
    file = getattr(http, "fp", None)
    if not getattr(http, "chunked", False) or not hasattr(file, "read1"):
        yield from raw.stream(size, decode_content=False)
        return
    body = ChunkedBody()
    while not body.done:
        data = file.read1(size)
        if not data:
            return
        chunk = body.feed(data)
        if chunk:
            yield chunk


def _json(raw: str) -> dict[str, Any]:
    raw = raw.strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"stream": raw + "\n"}
    return value if isinstance(value, dict) else {}


def _api_message(response: Any) -> str:
    try:
        return str(response.json().get("message", response.reason))
    except ValueError:
        return str(response.reason)


def _quietly(ignored: type[BaseException], action: Callable[[], object]) -> None:
    with contextlib.suppress(ignored):
        action()


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc) or type(exc).__name__
    return text.splitlines()[0][:200]
