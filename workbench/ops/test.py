"""The local test loop: build, run, health-check and test endpoints in throwaway containers.

For each endpoint (several at once with ``--all``, bounded by ``jobs``)::

    build   image from the endpoint folder + its models/utilities (skipped when cached)
    start   container on a throwaway network with a throwaway /data volume, 127.0.0.1:<free>
    health  GET <health path> until 200, the container exits, or health_timeout passes
    tests   the endpoint's test command on this machine, with BASE_URL set
    cleanup container, volume and network removed (unless keep)

Step ids and log sources are ``<endpoint>/<step>`` and ``<endpoint>/build|app|tests``, so the
logs of endpoints tested together stay apart. Cancelling the task (Ctrl-C, the TUI's cancel)
cleans up before :class:`asyncio.CancelledError` propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from secrets import token_hex
from types import MappingProxyType
from typing import Any

from .. import naming, probe
from ..context import build_context
from ..engine import LABEL, Engine, Stream, blocking, follow
from ..errors import OperationFailed, WorkbenchError
from ..events import Emit, Result, StepFinished, Steps, Warning
from ..health import wait_healthy
from ..logstream import LineSplitter, LogHub, LogPump
from ..model import LOCAL, Endpoint, Project
from ..owner import owner_labels
from ..redact import Redactor
from ..secrets import secrets_for
from .selection import select

STEPS: tuple[tuple[str, str], ...] = (
    ("build", "build image"),
    ("start", "start container"),
    ("health", "wait for health"),
    ("tests", "run tests"),
    ("cleanup", "clean up"),
)
"""The steps of one endpoint, in order: (id suffix, label)."""
STEP_LABELS = dict(STEPS)

SOURCES: tuple[str, ...] = ("build", "app", "tests")
"""Log sources of one endpoint (``<endpoint>/<source>``)."""


@dataclass(frozen=True, slots=True)
class TestOptions:
    """How to run: keep what was started, parallelism, health timeout, extra build args."""

    __test__ = False  # not a pytest class

    keep: bool = False
    jobs: int = 0
    """Endpoints tested at once; 0 picks min(4, CPUs)."""
    health_timeout: float | None = None
    """Overrides every endpoint's ``health_timeout``."""
    build_args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Win over the endpoint's and the project's build args."""


StepRecord = StepFinished
"""A finished step in a report: the very event the stream carried."""


@dataclass(frozen=True, slots=True)
class EndpointReport:
    """How one endpoint's run went."""

    name: str
    ok: bool
    steps: tuple[StepRecord, ...]
    failed_step: str | None = None
    reason: str = ""
    last_lines: tuple[str, ...] = ()
    """The container's last log lines when it failed to start or become healthy."""
    base_url: str | None = None
    kept: tuple[str, ...] = ()
    """With keep: the commands that remove what was kept."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.name, "ok": self.ok, "failed_step": self.failed_step,
            "reason": self.reason, "last_lines": list(self.last_lines),
            "base_url": self.base_url, "kept": list(self.kept),
            "steps": [{"step": s.step, "label": s.label, "ok": s.ok,
                       "duration": round(s.duration, 3), "detail": s.detail}
                      for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class TestReport:
    __test__ = False

    endpoints: tuple[EndpointReport, ...]

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.endpoints)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "endpoints": [r.as_dict() for r in self.endpoints]}


# -- the run ----------------------------------------------------------------------------------
async def test_endpoints(project: Project, names: Sequence[str], emit: Emit,
                         options: TestOptions = TestOptions()) -> TestReport:
    """Test ``names`` (all endpoints when empty); see the module docstring."""
    endpoints = select(project, names, "test")
    local = project.environment(LOCAL)
    prepared = [_Prepared(e, {**local.variables, **e.env}, secrets_for(
        project.root, local.secrets_file, LOCAL, e.name, e.secrets)) for e in endpoints]
    engine = await blocking(Engine.local)
    jobs = options.jobs or min(4, os.cpu_count() or 1)
    run = _Run(project, engine, emit, options, token_hex(3), asyncio.Semaphore(jobs))
    try:
        async with LogHub(emit) as hub:
            run.hub = hub
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(run.endpoint(p)) for p in prepared]
    finally:
        await asyncio.to_thread(engine.close)
    report = TestReport(tuple(task.result() for task in tasks))
    emit(Result(report.ok, summary(report), report.as_dict()))
    return report


def summary(report: TestReport) -> str:
    """The closing lines: one per endpoint, then the count."""
    width = max(len(r.name) for r in report.endpoints)
    lines = []
    for r in report.endpoints:
        steps = "  ".join(f"{s.step.split('/')[-1]} {s.duration:.1f}s" for s in r.steps)
        if r.ok:
            lines.append(f"{r.name:<{width}}  passed  {steps}")
            continue
        lines.append(f"{r.name:<{width}}  FAILED  at {r.failed_step}: {r.reason}")
        if r.last_lines:
            lines.append(f"{'':<{width}}  last lines of the container:")
            lines += [f"{'':<{width}}    {line}" for line in r.last_lines]
    for r in report.endpoints:
        if r.kept:
            lines.append(f"kept {r.name}: {r.base_url or 'not reachable'}; remove with: "
                         + " && ".join(r.kept))
    failed = [r.name for r in report.endpoints if not r.ok]
    count = len(report.endpoints)
    total = f"{count} endpoint{'s' if count != 1 else ''}: {count - len(failed)} passed"
    lines.append(total + (f", {len(failed)} failed ({', '.join(failed)})" if failed else ""))
    return "\n".join(lines)


@dataclass(slots=True)
class _Prepared:
    endpoint: Endpoint
    env: dict[str, str]
    secrets: dict[str, str]


@dataclass(slots=True)
class _Outcome:
    failed_step: str | None = None
    reason: str = ""
    last_lines: tuple[str, ...] = ()
    base_url: str | None = None
    kept: tuple[str, ...] = ()


@dataclass(slots=True)
class _Run:
    project: Project
    engine: Engine
    emit: Emit
    options: TestOptions
    token: str
    slots: asyncio.Semaphore
    hub: LogHub | None = None

    async def endpoint(self, prepared: _Prepared) -> EndpointReport:
        async with self.slots:
            return await self._endpoint(prepared)

    async def _endpoint(self, prepared: _Prepared) -> EndpointReport:
        endpoint = prepared.endpoint
        name = endpoint.name
        assert self.hub is not None
        pumps = {source: self.hub.pump(f"{name}/{source}") for source in SOURCES}
        steps = Steps(self.emit)
        run_label = f"{LABEL}run={self.token}-{name}"
        objects = naming.test_objects(self.project.name, name, self.token)
        outcome = _Outcome()
        logs = Stream()
        log_task: asyncio.Future[None] | None = None
        mask = Redactor(prepared.secrets)  # an app may print its environment
        current = "build"
        try:
            with self._step(steps, name, "build", pumps["build"]):
                image, version = await self._build(endpoint, pumps["build"])
            current = "start"
            with self._step(steps, name, "start", pumps["app"]):
                container, port = await self._start(prepared, image, version, objects)
                outcome.base_url = f"http://127.0.0.1:{port}"
                log_task = follow(
                    lambda: self.engine.follow_logs(container, mask.feed(pumps["app"].feed),
                                                    logs), logs)
            current = "health"
            with self._step(steps, name, "health", pumps["app"]):
                await self._health(endpoint, container, outcome.base_url)
            current = "tests"
            with self._step(steps, name, "tests", pumps["tests"]):
                await self._tests(endpoint, outcome.base_url, pumps["tests"], mask)
        except WorkbenchError as exc:
            outcome.failed_step, outcome.reason = current, exc.problem
            outcome.last_lines = tuple(mask(getattr(exc, "last_lines", ())))
        finally:
            await _uninterrupted(self._finish(steps, name, run_label, objects, logs, log_task,
                                              outcome))
        return EndpointReport(
            name=name, ok=outcome.failed_step is None,
            steps=tuple(steps.finished),
            failed_step=outcome.failed_step, reason=outcome.reason,
            last_lines=outcome.last_lines, base_url=outcome.base_url, kept=outcome.kept)

    @contextlib.contextmanager
    def _step(self, steps: Steps, name: str, step: str, pump: LogPump) -> Iterator[None]:
        """One step; its log lines so far are emitted before its end is."""
        with steps.step(f"{name}/{step}", f"{name}: {STEP_LABELS[step]}"):
            try:
                yield
            finally:
                pump.flush()

    async def _build(self, endpoint: Endpoint, pump: LogPump) -> tuple[str, str]:
        context = await asyncio.to_thread(build_context, self.project, endpoint,
                                          self.options.build_args)
        image = naming.image(self.project.name, endpoint.name, context.version)
        if await blocking(lambda: self.engine.image_exists(image)):
            pump.feed([f"image {image} is up to date (same build context and args): not rebuilt"])
            return image, context.version
        pump.feed([f"building {image} from {context.files} files "
                   f"({len(context.data) / 1024:.0f} KiB)"])
        labels = {f"{LABEL}project": self.project.name, f"{LABEL}endpoint": endpoint.name,
                  f"{LABEL}version": context.version}
        stream = Stream()
        await blocking(lambda: self.engine.build(context.data, image, context.build_args, labels,
                                                 pump.feed, stream), stream)
        return image, context.version

    async def _start(self, prepared: _Prepared, image: str, version: str,
                     objects: str) -> tuple[str, int]:
        endpoint = prepared.endpoint
        labels = {f"{LABEL}project": self.project.name, f"{LABEL}env": "test",
                  f"{LABEL}endpoint": endpoint.name, f"{LABEL}version": version,
                  f"{LABEL}run": f"{self.token}-{endpoint.name}",
                  **owner_labels()}  # whose leftovers they are, should this process die
        client = self.engine.client

        def start() -> tuple[str, int]:
            client.networks.create(objects, labels=labels)
            volumes = {}
            if endpoint.data:
                client.volumes.create(f"{objects}-data", labels=labels)
                volumes = {f"{objects}-data": {"bind": "/data", "mode": "rw"}}
            container = client.containers.run(
                image, detach=True, name=objects, labels=labels, network=objects,
                environment={**prepared.env, **prepared.secrets}, volumes=volumes,
                ports={f"{endpoint.port}/tcp": ("127.0.0.1",)})
            return container.id, self.engine.published_port(container, endpoint.port)

        return await blocking(start)

    async def _health(self, endpoint: Endpoint, container: str, base_url: str) -> None:
        async def exited() -> int | None:
            state = await blocking(lambda: self.engine.exited(self.engine.container(container)))
            return None if state is None else state.code

        port = int(base_url.rsplit(":", 1)[1])
        await wait_healthy(endpoint.health, self.options.health_timeout or endpoint.health_timeout,
                           exited=exited, status=lambda: probe.status(
                               asyncio.open_connection, "127.0.0.1", port, endpoint.health),
                           tail=lambda: blocking(lambda: self.engine.tail(container)))

    async def _tests(self, endpoint: Endpoint, base_url: str, pump: LogPump,
                     mask: Redactor) -> None:
        if not endpoint.test:
            pump.feed(["no test command in endpoint.yaml: nothing to run"])
            self.emit(Warning(f"endpoint '{endpoint.name}' has no test command; "
                              "add 'test: ...' to its endpoint.yaml"))
            return
        pump.feed([f"$ {endpoint.test}    (BASE_URL={base_url})"])
        env = {**os.environ, "BASE_URL": base_url}
        for name in ("no_proxy", "NO_PROXY"):  # BASE_URL is on this machine: never proxied
            env[name] = ",".join(filter(None, (env.get(name), "127.0.0.1", "localhost")))
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", endpoint.test, cwd=endpoint.path, start_new_session=True,
            env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert process.stdout is not None
        splitter = LineSplitter()
        try:
            while chunk := await process.stdout.read(65536):
                pump.feed(mask(splitter.split(chunk)))
            pump.feed(mask(splitter.finish()))
            code = await process.wait()
        except asyncio.CancelledError:
            _kill_group(process.pid)
            await process.wait()
            raise
        if code != 0:
            raise OperationFailed(f"the test command exited with code {code}",
                                  "see the tests log")

    def _flush_all(self, name: str) -> None:
        assert self.hub is not None
        for source in SOURCES:
            self.hub.pump(f"{name}/{source}").flush()

    async def _finish(self, steps: Steps, name: str, run_label: str, objects: str,
                      logs: Stream, log_task: asyncio.Future[None] | None,
                      outcome: _Outcome) -> None:
        with steps.step(f"{name}/cleanup", f"{name}: {STEP_LABELS['cleanup']}"):
            self._flush_all(name)
            if self.options.keep:
                if log_task is not None:
                    logs.close()
                    await asyncio.gather(log_task, return_exceptions=True)
                outcome.kept = (f"docker rm -f {objects}", f"docker volume rm -f {objects}-data",
                                f"docker network rm {objects}")
                return
            await blocking(lambda: self.engine.remove_labelled(run_label))
            if log_task is not None:
                logs.close()
                await asyncio.gather(log_task, return_exceptions=True)


async def _uninterrupted(coro: Coroutine[Any, Any, None]) -> None:
    """Await ``coro`` to its end even if cancelled meanwhile; then re-raise the cancel."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
