"""Images on every Swarm node (workbench/swarm/images.py, pipe.py, nodemap.py) with fake engines:
which nodes get the image, one save teed to all of them through bounded pipes, failures that
name the node and the fix, cancels that end every thread, the registry alternative, and which
host is which node."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from workbench.engine import Engine
from workbench.errors import BadInput, OperationFailed
from workbench.events import Event, LogLines, Progress, StepFinished, StepStarted
from workbench.site import Site
from workbench.swarm import images
from workbench.swarm.images import distribute, push, registry_ref
from workbench.swarm.nodemap import match_nodes, node_id, node_sites, refuse_unmatched
from workbench.swarm.pipe import Aborted, Pipe

IMAGE = "wb_shop_orders:v1"
ID = "sha256:" + "a" * 64
OLD = "sha256:" + "b" * 64
TAR = [bytes([i]) * 1000 for i in range(40)]


# -- fakes ----------------------------------------------------------------------------------------
class FakeSock:
    def __init__(self, on_shutdown: Callable[[], None]) -> None:
        self.on_shutdown = on_shutdown
        self.shut = False

    def shutdown(self, _how: int) -> None:
        self.shut = True
        self.on_shutdown()

    def close(self) -> None:
        pass


class FakeRaw:
    """A streamed body: ``chunks``, each through ``gate`` first (a test may hold it there);
    closing its socket (a cancel) makes the next read fail, as a real one would."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.closed = False
        self.cut = threading.Event()
        self.sock = FakeSock(self.cut.set)
        self._fp = SimpleNamespace(fp=SimpleNamespace(raw=SimpleNamespace(sock=self.sock)))

    def stream(self, _size: int, decode_content: bool = False) -> Iterator[bytes]:
        for chunk in self.chunks:
            if self.cut.is_set():
                raise OSError("connection closed")
            yield chunk


class FakeResponse:
    def __init__(self, status: int = 200, chunks: Iterator[bytes] | None = None,
                 lines: list[dict[str, Any]] | None = None) -> None:
        self.status_code = status
        self.raw = FakeRaw(chunks or iter(()))
        self.lines = lines or []
        self.reason = "Error"

    def iter_lines(self) -> Iterator[bytes]:
        return iter(json.dumps(line).encode() for line in self.lines)

    def json(self) -> dict[str, Any]:
        return {"message": "refused by the fake"}

    def close(self) -> None:
        self.raw.closed = True


class FakeApi:
    """One engine: its images (name -> id), what ``docker save`` sends, what ``docker load``
    does with what it receives."""

    base_url = "http+docker://fake"
    api_version = "1.41"
    _auth_configs = None  # what docker.auth reads (from this test's empty HOME)
    credstore_env = None

    def __init__(self, images: dict[str, str], tar: Callable[[], Iterator[bytes]] | None = None,
                 loads_as: str = ID, load_error: str = "",
                 take: Callable[[Iterator[bytes]], list[bytes]] | None = None) -> None:
        self.images = images
        self.tar = tar or (lambda: iter(TAR))
        self.loads_as, self.load_error = loads_as, load_error
        self.take = take or list
        self.calls: list[str] = []
        self.received: list[bytes] = []
        self.load_ended: BaseException | None = None
        self.responses: list[FakeResponse] = []
        self.stalled = threading.Event()
        self.push_lines: list[dict[str, Any]] = []
        self.pushed: dict[str, Any] = {}
        self.info = lambda: {"Swarm": {"NodeID": "", "ControlAvailable": False}}
        self.nodes = lambda: []

    def tag(self, image: str, repo: str, tag: str, force: bool = False) -> bool:
        self.calls.append(f"tag {image} {repo}:{tag}")
        return True

    def inspect_image(self, ref: str) -> dict[str, Any]:
        self.calls.append(f"inspect {ref}")
        if ref not in self.images:
            raise docker.errors.ImageNotFound(f"no such image: {ref}")
        return {"Id": self.images[ref], "Size": sum(map(len, TAR))}

    def get(self, url: str, **_kw: Any) -> FakeResponse:
        self.calls.append(f"get {url.split('/v1.41')[1]}")
        response = FakeResponse(chunks=self.tar())
        self.responses.append(response)
        return response

    def post(self, url: str, data: Any = None, **_kw: Any) -> FakeResponse:
        self.calls.append(f"post {url.split('/v1.41')[1]}")
        if "/push" in url:
            self.pushed = _kw
            return FakeResponse(lines=self.push_lines)
        try:
            self.received = self.take(data)
        except BaseException as exc:
            self.load_ended = exc
            raise
        if self.load_error:
            return FakeResponse(lines=[{"errorDetail": {}, "error": self.load_error}])
        self.images[IMAGE] = self.loads_as
        return FakeResponse(lines=[{"stream": f"Loaded image: {IMAGE}\n"}])


def site(name: str, api: FakeApi) -> Site:
    engine = Engine(SimpleNamespace(api=api, close=lambda: None), where=f"root@{name}")  # type: ignore[arg-type]
    return Site(name, engine, None, asyncio.open_connection)  # type: ignore[arg-type]


def run(manager: Site, nodes: list[Site]) -> tuple[str, list[Event]]:
    seen: list[Event] = []

    async def main() -> str:
        return await distribute(manager, nodes, IMAGE, seen.append)

    return asyncio.run(main()), seen


# -- the pipe --------------------------------------------------------------------------------------
class WatchedPipe(Pipe):
    """A pipe that says when a put finds it full (and is about to wait) and how full it got."""

    made: list[WatchedPipe] = []

    def __init__(self, limit: int = 800) -> None:
        super().__init__(limit)
        self.full = threading.Event()
        self.most = 0
        WatchedPipe.made.append(self)

    def put(self, chunk: bytes) -> bool:
        if self.waiting >= self._limit:
            self.full.set()
        taken = super().put(chunk)
        self.most = max(self.most, self.waiting)
        return taken


def test_a_full_pipe_makes_the_writer_wait_and_an_abort_frees_it() -> None:
    pipe = WatchedPipe(2)
    assert pipe.put(b"1") and pipe.put(b"2")
    outcome: list[bool] = []
    writer = threading.Thread(target=lambda: outcome.append(pipe.put(b"3")))
    writer.start()
    pipe.full.wait()  # the third put found it full
    assert list(pipe._items) == [b"1", b"2"]
    pipe.abort("the reader went away")
    writer.join()
    assert outcome == [False]
    with pytest.raises(Aborted, match="the reader went away"):
        next(iter(pipe))


def test_a_closed_pipe_gives_what_is_left_then_ends_and_an_abort_wakes_a_reader() -> None:
    pipe = Pipe(4)
    pipe.put(b"a")
    pipe.put(b"b")
    pipe.close()
    assert list(pipe) == [b"a", b"b"]
    empty, failed = Pipe(), []

    def read() -> None:
        try:
            list(empty)
        except Aborted as exc:
            failed.append(str(exc))

    reader = threading.Thread(target=read)
    reader.start()
    empty.abort("cancelled")
    reader.join()
    assert failed == ["cancelled"]


# -- distribute -----------------------------------------------------------------------------------
def test_a_node_with_the_same_image_id_gets_nothing() -> None:
    manager = site("m", FakeApi({IMAGE: ID}))
    node = site("n", FakeApi({IMAGE: ID}))
    ident, seen = run(manager, [manager, node])
    assert ident == ID
    assert node.engine.api.calls == [f"inspect {IMAGE}"]  # one call, no load
    assert manager.engine.api.calls == [f"inspect {IMAGE}"]  # no save
    assert seen == [StepStarted(f"image/{IMAGE}@n", f"send {IMAGE} to n"),
                    StepFinished(f"image/{IMAGE}@n", f"send {IMAGE} to n", True, 0.0,
                                 "already there with the same id")]


def test_one_save_feeds_every_node_that_lacks_the_image_or_has_another_id() -> None:
    manager = site("m", FakeApi({IMAGE: ID}))
    same = site("same", FakeApi({IMAGE: ID}))
    lacking = site("lacking", FakeApi({}))
    other = site("other", FakeApi({IMAGE: OLD}))
    ident, seen = run(manager, [manager, same, lacking, other])
    assert ident == ID
    assert manager.engine.api.calls == [f"inspect {IMAGE}", f"get /images/{IMAGE}/get"]
    for node in (lacking, other):
        assert node.engine.api.received == TAR
        assert node.engine.api.calls == [f"inspect {IMAGE}", "post /images/load",
                                         f"inspect {IMAGE}"]  # checked after the load
        assert node.engine.api.images[IMAGE] == ID
    assert same.engine.api.calls == [f"inspect {IMAGE}"]
    done = {e.step.split("@")[1]: e for e in seen if isinstance(e, StepFinished)}
    assert done["lacking"].ok and "sent 0.0 MB to lacking in" in done["lacking"].detail
    assert "id sha256:aaaaaaaaaaaa checked" in done["other"].detail
    assert any(isinstance(e, LogLines) and e.source == "image@other" for e in seen)


def test_memory_stays_bounded_while_a_slow_node_takes_a_large_image(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The node takes a chunk only when the pipe is full (the writer is about to wait) or the
    save has ended: a pipe that did not make the writer wait would fill with all 40,000 bytes."""
    WatchedPipe.made = []
    monkeypatch.setattr(images, "Pipe", WatchedPipe)
    ended = threading.Event()
    chunks = [bytes([i % 256]) * 100 for i in range(400)]

    def tar() -> Iterator[bytes]:
        yield from chunks
        ended.set()
        WatchedPipe.made[0].full.set()

    def slow(body: Iterator[bytes]) -> list[bytes]:
        [pipe] = WatchedPipe.made
        taken = []
        while True:
            pipe.full.wait()  # full (the writer waits), or the save ended
            pipe.full.clear()
            if ended.is_set():
                pipe.full.set()
            try:
                taken.append(next(body))
            except StopIteration:
                return taken

    manager = site("m", FakeApi({IMAGE: ID}, tar=tar))
    node = site("n", FakeApi({}, take=slow))
    run(manager, [node])
    assert node.engine.api.received == chunks
    assert WatchedPipe.made[0].most == 800  # the pipe's limit (100-byte chunks)


def test_a_node_that_fails_is_named_with_the_fix_and_the_others_still_get_it() -> None:
    manager = site("m", FakeApi({IMAGE: ID}))
    full = site("full", FakeApi({}, load_error="write /var/lib/docker/x: no space left on device"))
    fine = site("fine", FakeApi({}))
    with pytest.raises(OperationFailed) as caught:
        run(manager, [full, fine])
    assert caught.value.line == (
        f"cannot send image {IMAGE} to full: docker load on root@full failed (write "
        "/var/lib/docker/x: no space left on device); check that Docker runs on full and has "
        "room for the image, or set registry: for the environment to pull images from a registry")
    assert fine.engine.api.images[IMAGE] == ID and fine.engine.api.received == TAR


def test_a_save_that_breaks_off_aborts_every_load_and_names_the_managers_problem() -> None:
    def broken() -> Iterator[bytes]:
        yield TAR[0]
        raise OSError("connection reset by peer")

    manager = site("m", FakeApi({IMAGE: ID}, tar=broken))
    nodes = [site("n1", FakeApi({})), site("n2", FakeApi({}))]
    with pytest.raises(OperationFailed) as caught:
        run(manager, nodes)
    why = f"docker save of {IMAGE} on root@m stopped (connection reset by peer)"
    assert caught.value.problem == f"cannot send image {IMAGE} to n1: {why}; n2: {why}"
    for node in nodes:
        assert isinstance(node.engine.api.load_ended, Aborted)  # the upload stopped half-way
        assert IMAGE not in node.engine.api.images


def test_a_node_whose_id_differs_after_the_load_fails() -> None:
    manager = site("m", FakeApi({IMAGE: ID}))
    node = site("n", FakeApi({}, loads_as=OLD))
    with pytest.raises(OperationFailed, match=f"after the load, {IMAGE} on n is sha256:bbbbbbbb"
                       "bbbb, not the manager's sha256:aaaaaaaaaaaa"):
        run(manager, [node])


def test_an_image_missing_on_the_manager_is_one_line() -> None:
    with pytest.raises(OperationFailed) as caught:
        run(site("m", FakeApi({})), [site("n", FakeApi({}))])
    assert caught.value.line == f"image {IMAGE} is not on the manager m; build it there first"


def test_a_cancel_ends_the_save_and_every_load() -> None:
    """The save stalls after one chunk (a slow manager): cancelling closes its socket and
    aborts the node's pipe, and distribute returns only once both threads have ended."""
    manager_api = FakeApi({IMAGE: ID}, tar=lambda: stalled(manager_api))
    node = site("n", FakeApi({}))
    seen: list[Event] = []

    async def main() -> None:
        task = asyncio.ensure_future(distribute(site("m", manager_api), [node], IMAGE,
                                                seen.append))
        await asyncio.to_thread(manager_api.stalled.wait)  # until the save stalls
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert manager_api.responses[0].raw.sock.shut  # the save's socket was closed
    assert isinstance(node.engine.api.load_ended, Aborted)
    assert [e.detail for e in seen if isinstance(e, StepFinished)] == ["cancelled"]


def stalled(api: FakeApi) -> Iterator[bytes]:
    """One chunk, then a wait that only closing the response's socket ends."""
    yield TAR[0]
    api.stalled.set()
    api.responses[-1].raw.cut.wait()


def test_progress_is_reported_from_the_sending_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "PROGRESS_EVERY", 10_000)
    _, seen = run(site("m", FakeApi({IMAGE: ID})), [site("n", FakeApi({}))])
    progress = [e for e in seen if isinstance(e, Progress)]
    assert [p.done for p in progress] == [10_000, 20_000, 30_000, 40_000]
    assert {p.step for p in progress} == {f"image/{IMAGE}@n"} and progress[0].total == 40_000


# -- a registry instead ---------------------------------------------------------------------------
DIGEST = "sha256:" + "c" * 64


def test_the_image_keeps_its_name_and_tag_under_the_registry() -> None:
    assert registry_ref(IMAGE, "reg.example.com:5000/team/") == (
        "reg.example.com:5000/team/wb_shop_orders", "v1")
    assert registry_ref("old.example.com/x/wb_shop_site", "127.0.0.1:5000") == (
        "127.0.0.1:5000/wb_shop_site", "latest")
    for bad in ("https://reg.example.com", "Reg.Example.com", " ", "reg example"):
        with pytest.raises(BadInput, match="is not host\\[:port\\]\\[/prefix\\]"):
            registry_ref(IMAGE, bad)


def pushing(lines: list[dict[str, Any]]) -> tuple[FakeApi, str | BaseException, list[Event]]:
    api = FakeApi({IMAGE: ID})
    api.push_lines = lines
    seen: list[Event] = []
    try:
        result: str | BaseException = asyncio.run(push(site("m", api), IMAGE,
                                                       "reg.example.com:5000/team", seen.append))
    except OperationFailed as exc:
        result = exc
    return api, result, seen


def test_push_tags_pushes_and_returns_the_digest_reference() -> None:
    api, ref, seen = pushing([
        {"status": "The push refers to repository [reg.example.com:5000/team/wb_shop_orders]"},
        {"status": "Pushed", "progressDetail": {}, "id": "5f70bf18a086"},
        {"status": f"v1: digest: {DIGEST} size: 528"},
        {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": DIGEST, "Size": 528}}])
    assert ref == f"reg.example.com:5000/team/wb_shop_orders@{DIGEST}"
    assert api.calls == [f"tag {IMAGE} reg.example.com:5000/team/wb_shop_orders:v1",
                         "post /images/reg.example.com:5000/team/wb_shop_orders/push"]
    assert api.pushed["params"] == {"tag": "v1"}
    assert [e.detail for e in seen if isinstance(e, StepFinished)] == [ref]


def test_a_refused_push_and_a_push_without_digest_are_one_line_with_the_fix() -> None:
    _, failed, seen = pushing([{"status": "The push refers to repository [...]"},
                               {"errorDetail": {}, "error": "Get \"https://reg.example.com:5000"
                                "/v2/\": http: server gave HTTP response to HTTPS client"}])
    assert isinstance(failed, OperationFailed)
    assert failed.line == (
        "push of reg.example.com:5000/team/wb_shop_orders:v1 failed (Get \"https://reg.example."
        "com:5000/v2/\": http: server gave HTTP response to HTTPS client); check that the "
        "registry answers, that the manager's Docker trusts it (insecure-registries for plain "
        "HTTP), and 'docker login' to it if it needs that")
    assert [e.ok for e in seen if isinstance(e, StepFinished)] == [False]
    _, failed, _ = pushing([{"status": "done"}])
    assert isinstance(failed, OperationFailed) and "ended without a digest" in failed.line


# -- which host is which node -------------------------------------------------------------------
def node(ident: str, hostname: str, availability: str = "active") -> dict[str, Any]:
    return {"ID": ident, "Description": {"Hostname": hostname},
            "Spec": {"Availability": availability}}


def test_nodes_are_matched_to_hosts_and_a_node_without_host_is_refused() -> None:
    nodes = [node("id-manager-000000", "m1"), node("id-worker-1111111", "w1"),
             node("id-worker-2222222", "w2"), node("id-drained-333333", "d1", "drain")]
    match = match_nodes(nodes, {"id-manager-000000": "root@m1", "id-worker-1111111": "root@w1"})
    assert match.hosted == {"id-manager-000000": "root@m1", "id-worker-1111111": "root@w1"}
    assert match.missing == ("w2 (id-worker-22)",)  # the drained node gets no tasks
    with pytest.raises(BadInput) as caught:
        refuse_unmatched(match, "prod", "root@m1")
    assert caught.value.line == ("node w2 (id-worker-22) has no host in environment prod; add it "
                                 "to hosts, or set registry:")
    objects = [SimpleNamespace(attrs=n) for n in nodes[:2]]  # client.nodes.list() works too
    assert match_nodes(objects, {"id-manager-000000": "m", "id-worker-1111111": "w"}).missing == ()


def test_a_host_outside_the_swarm_is_refused() -> None:
    match = match_nodes([node("id-m", "m1")], {"id-m": "root@m1", "(none: root@x)": "root@x"})
    with pytest.raises(BadInput) as caught:
        refuse_unmatched(match, "prod", "root@m1")
    assert caught.value.line.startswith("host root@x of environment prod is no node of the Swarm "
                                        "that root@m1 manages; join it to that Swarm")


def swarm_site(name: str, ident: str, manager: bool = False,
               nodes: list[dict[str, Any]] | None = None) -> Site:
    api = FakeApi({})
    api.info = lambda: {"Swarm": {"NodeID": ident, "ControlAvailable": manager}}
    api.nodes = lambda: nodes or []
    return site(name, api)


def test_node_sites_maps_node_ids_to_sites_from_each_engines_info() -> None:
    nodes = [node("id-m", "m1"), node("id-w", "w1")]
    manager = swarm_site("m", "id-m", True, nodes)
    worker = swarm_site("w", "id-w")
    assert node_id({"Swarm": {"NodeID": "id-w"}}) == "id-w" and node_id({}) == ""
    found = asyncio.run(node_sites(manager, [manager, worker], "prod"))
    assert found == {"id-m": manager, "id-w": worker}
    with pytest.raises(BadInput, match=r"^w is no Swarm manager"):
        asyncio.run(node_sites(worker, [worker], "prod"))
    lost = swarm_site("x", "")
    with pytest.raises(BadInput, match=r"^host x of environment prod is no node of the Swarm"):
        asyncio.run(node_sites(manager, [manager, worker, lost], "prod"))
