"""The environment's nginx proxy on the real Docker Engine, built from the local base image.

One proxy (published on 127.0.0.1 only) in front of two tiny echo servers on its network. Every
container and network is labelled with a unique project name and removed at the end.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker
import pytest
from helpers import HANG_GUARD, free_port

from workbench import proxy
from workbench.engine import LABEL, Engine
from workbench.errors import OperationFailed
from workbench.proxy import Route, config_id, render

pytestmark = pytest.mark.integration

ENV = "it"
# An HTTP/1.1 server (so the proxy keeps connections to it alive) answering every GET with
# its NAME, the path it received and the request headers. /slow... touches /tmp/slow-came and
# answers once /tmp/slow-go exists (the test makes it; a count caps the wait).
ECHO = """
import json, os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/slow"):
            open("/tmp/slow-came", "w").close()
            for _ in range(120000):
                if os.path.exists("/tmp/slow-go"):
                    break
                time.sleep(0.005)
        body = json.dumps({"name": os.environ["NAME"], "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("0.0.0.0", 8000), Echo).serve_forever()
"""
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxies


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Proxied:
    engine: Engine
    project: str
    container_id: str
    port: int
    upstreams: dict[str, str]  # a, b -> container name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with _OPENER.open(request, timeout=HANG_GUARD) as reply:
                return Reply(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, dict(exc.headers), exc.read())

    def serving(self) -> str | None:
        """The id of the config the proxy serves now."""
        return self.get("/_workbench/health").headers.get(proxy.CONFIG_HEADER)

    def routes(self, *extra: Route) -> list[Route]:
        return [Route("/a", "a", self.upstreams["a"], 8000),
                Route("/b", "b", self.upstreams["b"], 8000), *extra]

    def apply(self, routes: list[Route]) -> str:
        """Apply ``routes`` and wait until the reload took effect; return the config id."""
        text = render(self.project, ENV, routes)
        proxy.apply(self.engine, self.container_id, text)
        wanted = config_id(text)
        wait_for(lambda: self.serving() == wanted, f"the proxy to serve config {wanted}")
        assert wanted
        return wanted


def wait_for(check: Callable[[], bool], what: str, rounds: int = 6000) -> None:
    """Wait until ``check()`` holds, looking ``rounds`` times at most (bounded by count)."""
    for _ in range(rounds):
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what}: not so after {rounds} looks")


@pytest.fixture(scope="module")
def proxied(docker_client: docker.DockerClient, base_image: str) -> Iterator[Proxied]:
    project = "t" + uuid.uuid4().hex[:8]
    owned = f"{LABEL}project={project}"
    engine = Engine(docker_client, "the local Docker Engine")
    try:
        port = free_port()
        container_id = proxy.ensure_proxy(engine, project, ENV, base_image, port,
                                          bind="127.0.0.1")
        upstreams: dict[str, str] = {}
        for name in ("a", "b"):
            upstreams[name] = f"wb-{project}-{ENV}-{name}"
            docker_client.containers.run(
                base_image, ["python3", "-c", ECHO], detach=True, name=upstreams[name],
                environment={"NAME": name}, network=proxy.network_name(project, ENV),
                labels={f"{LABEL}project": project, f"{LABEL}env": ENV,
                        f"{LABEL}endpoint": name})
        yield Proxied(engine, project, container_id, port, upstreams)
    finally:
        engine.remove_labelled(owned)
        left = [*docker_client.containers.list(all=True, filters={"label": owned}),
                *docker_client.networks.list(filters={"label": owned})]
        assert left == [], f"left behind: {left}"


def test_a_new_proxy_answers_health_and_404(proxied: Proxied) -> None:
    health = proxied.get("/_workbench/health")
    assert (health.status, health.body) == (200, b"ok\n")
    assert health.headers[proxy.CONFIG_HEADER] == config_id(render(proxied.project, ENV, []))
    unknown = proxied.get("/nowhere")
    assert unknown.status == 404 and unknown.json()["error"] == "not found"
    container = proxied.engine.container(proxied.container_id)
    assert container.name == proxy.proxy_name(proxied.project, ENV)
    assert container.labels[f"{LABEL}role"] == "proxy"


def test_ensure_proxy_is_idempotent(proxied: Proxied) -> None:
    again = proxy.ensure_proxy(proxied.engine, proxied.project, ENV, "unused:image",
                               proxied.port, bind="127.0.0.1")
    assert again == proxied.container_id
    with pytest.raises(OperationFailed, match=r"publishes 127\.0\.0\.1:\d+, not 127\.0\.0\.1:1"):
        proxy.ensure_proxy(proxied.engine, proxied.project, ENV, "unused:image", 1,
                           bind="127.0.0.1")
    networks = proxied.engine.client.networks.list(
        filters={"label": f"{LABEL}project={proxied.project}"})
    assert [n.name for n in networks] == [proxy.network_name(proxied.project, ENV)]


def test_routes_strip_their_prefix(proxied: Proxied) -> None:
    proxied.apply(proxied.routes())
    wait_for(lambda: proxied.get("/a/").status == 200, "upstream a to answer")
    wait_for(lambda: proxied.get("/b/").status == 200, "upstream b to answer")
    for path, name, seen in (("/a/x", "a", "/x"), ("/a/x/y?q=1", "a", "/x/y?q=1"),
                             ("/a", "a", "/"), ("/a?q=1", "a", "/?q=1"), ("/b/", "b", "/"),
                             ("/b/items", "b", "/items")):
        reply = proxied.get(path)
        assert reply.status == 200, path
        assert (reply.json()["name"], reply.json()["path"]) == (name, seen), path
    assert proxied.get("/ax").status == 404
    headers = proxied.get("/a/h", {"X-Request-Id": "req-42"}).json()["headers"]
    assert headers["host"] == f"127.0.0.1:{proxied.port}"
    assert headers["x-forwarded-for"]
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-prefix"] == "/a"
    assert headers["x-request-id"] == "req-42"
    assert len(proxied.get("/b/h").json()["headers"]["x-request-id"]) == 32  # nginx's own


def test_a_bad_config_changes_nothing(proxied: Proxied) -> None:
    good = proxied.apply(proxied.routes())
    missing = Route("/c", "c", f"wb-{proxied.project}-{ENV}-missing", 8000)
    bad = render(proxied.project, ENV, proxied.routes(missing)).replace(
        "worker_processes auto;", "worker_processes auto;\nnot_a_directive on;")
    with pytest.raises(OperationFailed, match='unknown directive "not_a_directive"') as caught:
        proxy.apply(proxied.engine, proxied.container_id, bad)
    assert "still serves its previous config" in caught.value.line
    time.sleep(0.3)
    assert proxied.serving() == good
    assert proxied.get("/a/x").json()["path"] == "/x"
    assert proxied.get("/c/x").status == 404
    _, listing = proxy._exec(proxied.engine.container(proxied.container_id), "ls",
                             proxy.CONF_DIR)
    assert listing.split() == ["nginx.conf"]  # the refused config was not left behind


def test_reloads_are_graceful(proxied: Proxied) -> None:
    proxied.apply(proxied.routes())
    wait_for(lambda: proxied.get("/a/").status == 200, "upstream a to answer")
    configs = [proxied.routes(Route("/extra", "a", proxied.upstreams["a"], 8000)),
               proxied.routes(), proxied.routes(Route("/more", "b", proxied.upstreams["b"], 8000))]
    stop = threading.Event()
    failures: list[str] = []
    paths = ("/a/x", "/b/y", "/a/", "/b/z")
    counts = [0] * len(paths)

    def load(index: int, path: str, name: str) -> None:
        for _ in range(1_000_000):  # a safety cap; ``stop`` ends it
            if stop.is_set():
                return
            try:
                reply = proxied.get(path)
                if reply.status != 200 or reply.json()["name"] != name:
                    failures.append(f"{path}: {reply.status} {reply.body[:80]!r}")
            except (OSError, ValueError) as exc:
                failures.append(f"{path}: {exc!r}")
            counts[index] += 1

    threads = [threading.Thread(target=load, args=(i, path, path[1]))
               for i, path in enumerate(paths)]

    def each_made(requests: int) -> bool:
        """Wait (bounded by count) until every thread made ``requests`` more requests."""
        marks = list(counts)
        for _ in range(100_000):
            if all(c - m >= requests for c, m in zip(counts, marks, strict=True)):
                return True
            if not all(t.is_alive() for t in threads):
                return False
            time.sleep(0.005)
        return False

    for thread in threads:
        thread.start()
    try:
        assert each_made(20), counts  # the load runs before the first reload...
        for routes in configs:
            proxied.apply(routes)
            assert each_made(20), counts  # ...and after each one
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert proxied.serving() == config_id(render(proxied.project, ENV, configs[-1]))


def test_old_workers_finish_their_requests_in_flight_after_a_reload(proxied: Proxied) -> None:
    proxied.apply(proxied.routes())
    wait_for(lambda: proxied.get("/a/").status == 200, "upstream a to answer")
    before = set(proxy.workers(proxied.engine, proxied.container_id))
    assert before
    replies: list[Reply] = []
    upstream = proxied.engine.client.containers.get(proxied.upstreams["a"])
    slow = threading.Thread(target=lambda: replies.append(proxied.get("/a/slow")))
    slow.start()
    wait_for(lambda: upstream.exec_run(["test", "-e", "/tmp/slow-came"]).exit_code == 0,
             "the slow request to reach upstream a")  # in flight on a current worker, held
    proxied.apply(proxied.routes(Route("/c", "a", proxied.upstreams["a"], 8000)))
    wait_for(lambda: not any(proxy.workers(proxied.engine, proxied.container_id).get(pid)
                             for pid in before), "the old workers to stop taking connections")
    after = proxy.workers(proxied.engine, proxied.container_id)
    assert before & set(after) and set(after) - before  # old ones finishing, new ones serving
    assert all(after[pid] for pid in after.keys() - before)
    assert replies == []  # still held: the old worker still has it in flight
    assert upstream.exec_run(["touch", "/tmp/slow-go"]).exit_code == 0
    slow.join(HANG_GUARD)
    assert [r.status for r in replies] == [200]  # the reload did not cut it
    wait_for(lambda: not before & set(proxy.workers(proxied.engine, proxied.container_id)),
             "the old workers to exit once their request was answered")
