"""The proxy of an environment: one nginx container in front of its endpoints, per host.

Per environment there is a network ``wb_<project>_<env>`` and, on it, a proxy container
``wb_<project>_<env>_proxy`` (:mod:`workbench.naming`; labelled ``dev.workbench.project|env``
and ``role=network``/``role=proxy``, and found by those labels, never by name alone) that
publishes the environment's ``proxy_port``. It runs nginx with a whole configuration written by
workbench (``/etc/workbench/nginx.conf``; nothing of the image's own layout is used), so the
same config works on ``nginx:alpine`` and on Debian's ``nginx-light``.

- :func:`render` (pure, :mod:`workbench.proxyconf`) turns routes into that config.
- :func:`ensure_proxy` creates the network and the proxy when missing, with an empty config.
- :func:`apply` writes a new config beside the live one, checks it with ``nginx -t``, moves it
  into place and reloads nginx gracefully: old workers finish the requests they hold, new
  connections get the new config. A config that fails the check changes nothing.

Upstreams are containers' aliases on the environment's network, resolved per request through
Docker's embedded DNS (:mod:`workbench.proxyconf`). The switch writes a config naming a new
container only after that container exists and answered its health check. Resolving per request
(rather than once, when nginx loads its config) is what keeps an endpoint reachable when Docker
restarts its container in place under another address (``restart: unless-stopped`` after a
crash, with no workbench running to reload the proxy): with load-time resolution the proxy sent
every request to the old address until the next deploy. Each request opens its own connection
to the app, so no request is ever sent on a connection the app has just closed.

Every function blocks on the docker SDK: call them in a thread (:func:`workbench.engine.blocking`).
:func:`apply` runs one at a time per proxy container within a process; callers deploying several
endpoints must still render one config from all of their routes (the last apply wins).
"""

from __future__ import annotations

import io
import re
import tarfile
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import naming
from .engine import Engine
from .errors import OperationFailed
from .proxyconf import (
    CONFIG_HEADER,
    HEALTH_PATH,
    LISTEN_PORT,
    PID_PATH,
    Route,
    config_id,
    render,
)

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

__all__ = ["CONFIG_HEADER", "HEALTH_PATH", "LISTEN_PORT", "ConfigRefused", "Route", "apply",
           "config_id", "ensure_network", "ensure_proxy", "render", "wait_ready", "workers"]

DEFAULT_IMAGE = "nginx:alpine"
CONF_DIR = "/etc/workbench"
CONF_PATH = f"{CONF_DIR}/nginx.conf"
_NGINX_ERROR = re.compile(r"\[(?:emerg|alert|crit|error)\] (?:\d+#\d+: )?(.*)$")


def network_name(project: str, env: str) -> str:
    """The environment's network (:mod:`workbench.naming`)."""
    return naming.network(project, env)


def proxy_name(project: str, env: str) -> str:
    """The environment's proxy container (:mod:`workbench.naming`)."""
    return naming.proxy(project, env)


def labels(project: str, env: str, role: str) -> dict[str, str]:
    """The labels of the environment's ``role`` object ("proxy" or "network")."""
    return naming.labels(project, env, role)


# -- the container ----------------------------------------------------------------------------
def ensure_network(engine: Engine, project: str, env: str) -> str:
    """The id of the environment's network, created when missing."""
    return _network(engine, project, env)[0]


def ensure_environment(engine: Engine, project: str, env: str, image: str, port: int,
                       bind: str = "0.0.0.0", ready_timeout: float = 20.0,
                       wait: bool = True) -> tuple[str, str]:
    """The environment's network and running proxy, made when missing: (proxy container id,
    network name). The network is found by its labels (a deployment made before today's
    names keeps its own); an object that has our name but not our labels is refused.

    The proxy publishes ``bind:port`` (all interfaces by default; "127.0.0.1" keeps it local).
    Returns once nginx runs, so :func:`apply` can reload it right away. An existing proxy is
    started if stopped, never recreated: one published elsewhere is an error naming the fix.
    ``wait=False`` returns without that wait (an exec in the proxy): the caller checks that
    nginx answers (over HTTP, which is cheaper) and else calls :func:`wait_ready`.
    """
    import docker.errors

    name = proxy_name(project, env)
    try:
        network_id, network = _network(engine, project, env)
        container = _find(engine, project, env)
        if container is None:
            container = _create(engine, project, env, image, port, bind, network_id)
        else:
            _check_published(container, port, bind)
        if container.status != "running":
            container.start()
    except docker.errors.APIError as exc:
        raise OperationFailed(f"could not start the proxy {name} on {engine.where}: "
                              f"{_explain(exc)}", _start_fix(exc, port)) from None
    if wait:
        _wait_ready(engine, container, ready_timeout)
    return str(container.id), network


def ensure_proxy(engine: Engine, project: str, env: str, image: str, port: int,
                 bind: str = "0.0.0.0", ready_timeout: float = 20.0, wait: bool = True) -> str:
    """The id of the environment's running proxy (:func:`ensure_environment`)."""
    return ensure_environment(engine, project, env, image, port, bind, ready_timeout, wait)[0]


def _network(engine: Engine, project: str, env: str) -> tuple[str, str]:
    """(id, name) of the environment's network: found by labels, else made. A network that
    has its name but not its labels (Docker allows two networks of one name) is refused."""
    import docker.errors

    client = engine.client
    wanted = labels(project, env, "network")
    found = client.networks.list(filters={"label": _filter(wanted)})
    if found:
        return str(found[0].id), str(found[0].name)
    name = network_name(project, env)
    for other in client.networks.list(names=[name]):
        if other.name == name:  # the filter matches parts of names too
            naming.check_owned("network", name, other.attrs.get("Labels"), wanted, engine.where)
    try:
        made = client.networks.create(name, driver="bridge", labels=wanted,
                                      check_duplicate=True)
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # made meanwhile (by another workbench?): check it
            other = client.networks.get(name)
            naming.check_owned("network", name, other.attrs.get("Labels"), wanted, engine.where)
            return str(other.id), name
        raise OperationFailed(f"could not create network {name} on {engine.where}: "
                              f"{_explain(exc)}", "check the Docker Engine there") from None
    return str(made.id), name


def wait_ready(engine: Engine, proxy_container_id: str, timeout: float = 20.0) -> None:
    """Return once the proxy's nginx runs with a loaded config (as :func:`ensure_proxy` does);
    :class:`OperationFailed` with its last log line when it stops or takes too long."""
    _wait_ready(engine, engine.container(proxy_container_id), timeout)


class ConfigRefused(OperationFailed):
    """``nginx -t`` refused a config: nothing changed, the proxy serves its previous one."""


def apply(engine: Engine, proxy_container_id: str, config_text: str) -> None:
    """Make the proxy serve ``config_text``: stage, ``nginx -t``, move into place, reload.

    Raises :class:`ConfigRefused` with nginx's own line when the check fails; the proxy then
    keeps serving its previous config. The reload is graceful (``nginx -s reload``). The steps
    run as one ``sh`` script in one exec (each exec costs ~70 ms on the server); the config
    travels in that exec's environment, or by ``put_archive`` when it is large or not ASCII.
    """
    import docker.errors

    try:
        container = engine.container(proxy_container_id)
    except docker.errors.NotFound:
        raise OperationFailed(f"the proxy container {proxy_container_id[:12]} is gone from "
                              f"{engine.where}", "deploy again: it is created when missing"
                              ) from None
    staging = f"{CONF_DIR}/nginx.conf.new-{uuid.uuid4().hex[:12]}"
    inline = config_text.isascii() and len(config_text) <= _INLINE_MAX
    chunks = ([config_text[i:i + _CHUNK] for i in range(0, len(config_text), _CHUNK)]
              if inline else [])
    write = ("printf '%s' " + " ".join(f'"${_CHUNK_VAR}{i}"' for i in range(len(chunks)))
             + ' > "$2" || { rm -f "$2"; exit 13; }\n') if inline else ""
    with _lock(str(container.id)):
        try:
            if not inline:
                container.put_archive(CONF_DIR, _tar({staging.rsplit("/", 1)[1]: config_text}))
            result = container.exec_run(
                ["sh", "-c", "umask 022\n" + write + _APPLY, "sh", CONF_PATH, staging],
                stdout=True, stderr=True,
                environment={f"{_CHUNK_VAR}{i}": chunk for i, chunk in enumerate(chunks)})
        except docker.errors.APIError as exc:
            raise OperationFailed(f"could not update the proxy {container.name}: "
                                  f"{_explain(exc)}", "check that it is running") from None
    output: Any = result.output
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output or "")
    code = result.exit_code
    if code == 0:
        return
    if code == 10:
        raise ConfigRefused(f"the new proxy config was refused by nginx -t: "
                            f"{_nginx_error(text)}",
                            "nothing changed: the proxy still serves its previous config; "
                            "check that every upstream container exists on the environment's "
                            "network")
    if code == 12:
        raise OperationFailed(f"the proxy did not reload: {_nginx_error(text)}",
                              f"see 'docker logs {container.name}'")
    what = {11: "put the proxy config in place", 13: "write the proxy config"}.get(
        int(code if code is not None else -1), f"update the proxy {container.name}")
    raise OperationFailed(f"could not {what}: {_nginx_error(text)}", "see the proxy's logs")


_APPLY = """\
if ! out=$(nginx -t -c "$2" 2>&1); then printf '%s\\n' "$out"; rm -f "$2"; exit 10; fi
mv -f "$2" "$1" || exit 11
nginx -s reload -c "$1" 2>&1 || exit 12
"""
"""After the config is at ``$2``: check it (refused: remove it, exit 10), move it to ``$1``,
reload. Exit codes tell the steps apart."""
_CHUNK_VAR = "WB_PROXY_CONFIG_"
_CHUNK = 65_536
"""Characters per environment variable (Linux takes at most 128 KiB in one)."""
_INLINE_MAX = 100_000
"""Larger configs go by ``put_archive``: an exec's arguments and environment together must fit
in 128 KiB on the smallest Linux limits (this is ~80 routes)."""


def workers(engine: Engine, proxy_container_id: str) -> dict[int, bool]:
    """The proxy's nginx worker processes: PID (on the host) -> whether it takes new
    connections (False: a worker of an earlier config, finishing its requests in flight)."""
    import docker.errors

    try:
        listing = engine.api.top(proxy_container_id)
    except docker.errors.NotFound:
        return {}
    titles = listing.get("Titles") or []
    if "CMD" not in titles or "PID" not in titles:
        return {}
    cmd, pid = titles.index("CMD"), titles.index("PID")
    return {int(row[pid]): "shutting down" not in str(row[cmd])
            for row in listing.get("Processes") or () if "nginx: worker process" in str(row[cmd])}


def _find(engine: Engine, project: str, env: str) -> Container | None:
    found = engine.client.containers.list(
        all=True, filters={"label": _filter(labels(project, env, "proxy"))})
    return found[0] if found else None


def _create(engine: Engine, project: str, env: str, image: str, port: int,
            bind: str, network_id: str) -> Container:
    import docker.errors

    client = engine.client
    if not engine.image_exists(image):
        _pull(client, image, engine.where)
    name = proxy_name(project, env)
    try:
        container = client.containers.create(
            image, entrypoint=["nginx"], command=["-c", CONF_PATH, "-g", "daemon off;"],
            name=name, labels=labels(project, env, "proxy"), network=network_id,
            ports={f"{LISTEN_PORT}/tcp": (bind, port)}, stop_signal="SIGQUIT",
            restart_policy={"Name": "unless-stopped"})
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise
        other = client.containers.get(name)  # made meanwhile, or not ours: check its labels
        naming.check_owned("container", name, other.labels, labels(project, env, "proxy"),
                           engine.where)
        return other
    try:
        container.put_archive("/etc", _tar({"workbench/nginx.conf": render(project, env, ())}))
    except BaseException:
        container.remove(force=True)
        raise
    return container


def _pull(client: docker.DockerClient, image: str, where: str) -> None:
    import docker.errors
    from docker.utils import parse_repository_tag

    repository, tag = parse_repository_tag(image)
    try:
        client.images.pull(repository, tag=tag or "latest")
    except docker.errors.APIError as exc:
        raise OperationFailed(f"the proxy image {image} is not on {where} and could not be "
                              f"pulled: {_explain(exc)}", "load it there (docker load) or set "
                              "another proxy image") from None


def _check_published(container: Container, port: int, bind: str) -> None:
    bindings = (container.attrs.get("HostConfig", {}).get("PortBindings") or {})
    published = [(b.get("HostIp") or "0.0.0.0", str(b.get("HostPort")))
                 for b in bindings.get(f"{LISTEN_PORT}/tcp") or []]
    if (bind or "0.0.0.0", str(port)) not in published:
        shown = ", ".join(f"{ip}:{p}" for ip, p in published) or "nothing"
        raise OperationFailed(f"the proxy {container.name} publishes {shown}, not {bind}:{port}",
                              f"remove it ('docker rm -f {container.name}') to have it "
                              "recreated on the new port at the next deploy")


def _wait_ready(engine: Engine, container: Container, timeout: float) -> None:
    """Wait until nginx has written its pid file, i.e. its master runs with a loaded config."""
    import docker.errors

    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        if container.status == "running":
            try:
                if _exec(container, "cat", PID_PATH)[0] == 0:
                    return
            except docker.errors.APIError:
                pass  # restarting between reload() and exec
        stopped = container.status in ("exited", "dead")
        if stopped or time.monotonic() >= deadline:
            tail = engine.tail(str(container.id), 5)
            last = tail[-1] if tail else f"status {container.status}"
            within = "" if stopped else f" within {timeout:g}s"
            raise OperationFailed(f"the proxy {container.name} did not start{within}: {last}",
                                  f"see 'docker logs {container.name}'")
        time.sleep(0.1)


def _exec(container: Container, *argv: str) -> tuple[int, str]:
    result = container.exec_run(list(argv), stdout=True, stderr=True)
    output: Any = result.output
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output or "")
    return int(result.exit_code if result.exit_code is not None else -1), text


def _nginx_error(output: str) -> str:
    """nginx's first error, without time, level and pid: ``host not found in upstream ...``."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        match = _NGINX_ERROR.search(line)
        if match:
            return match.group(1)[:300]
    return lines[0].removeprefix("nginx: ")[:300] if lines else "no output"


def _tar(files: dict[str, str]) -> bytes:
    """A tar of text files (mode 0644), with an entry for each parent folder."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folders = sorted({"/".join(path.split("/")[:i]) for path in files
                          for i in range(1, path.count("/") + 1)})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for path, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _filter(values: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in values.items()]


def _explain(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", None) or exc)
    return " ".join(text.split())[:300]


def _start_fix(exc: Exception, port: int) -> str:
    if "address already in use" in _explain(exc) or "port is already allocated" in _explain(exc):
        return f"free port {port} on that host or set another proxy_port for the environment"
    return "check the Docker Engine there (docker ps -a, docker logs)"


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(container_id: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(container_id, threading.Lock())
