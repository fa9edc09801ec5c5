"""The scaffold templates render, and what they render works: run on the host, no Docker."""

from __future__ import annotations

import json
import os
import py_compile
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import HANG_GUARD

from workbench import scaffold

INPUTS = {"name": "order-api", "package": "order_api", "project": "shop"}
TEMPLATES = [
    ("endpoint", "python"),
    ("endpoint", "static"),
    ("model", "model"),
    ("utility", "utility"),
]
ENDPOINT_KEYS = {
    "port",
    "health",
    "health_timeout",
    "routes",
    "data",
    "env",
    "secrets",
    "produces",
    "consumes",
    "test",
    "models",
    "utilities",
    "build_args",
}
TEST_COMMAND = "python3 -m unittest discover -s tests -v"


def render(kind: str, template: str, target: Path) -> Path:
    """Render one template with INPUTS into ``target``."""
    scaffold.render(scaffold.get(kind, template), target, dict(INPUTS))
    return target


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def run_test_command(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a template's test command the way workbench does, with this interpreter as python3."""
    argv = shlex.split(command)
    if argv[0] == "python3":
        argv[0] = sys.executable
    return subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=HANG_GUARD
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HANG_GUARD) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw) if raw else None


class App:
    """The python endpoint's app.py running on the host, logging to a file."""

    def __init__(self, root: Path, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PORT": str(self.port), "DATA_DIR": str(data_dir)}
        with log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "app.py"], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        for _ in range(2000):  # bounded by count, not by a clock
            assert self.proc.poll() is None, f"app exited early:\n{log.read_text()}"
            try:
                if http("GET", self.url + "/health") == (200, {"status": "ok"}):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"no health after 2000 looks:\n{log.read_text()}")

    def stop(self) -> int:
        """SIGTERM, then the exit code (the wait is a hang guard only)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=HANG_GUARD)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@pytest.fixture
def python_endpoint(tmp_path: Path) -> Path:
    return render("endpoint", "python", tmp_path / "order-api")


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Any]:
    """Start app.py instances; any still running at the end are killed."""
    apps: list[App] = []

    def start(root: Path, data_dir: Path) -> App:
        apps.append(App(root, data_dir, tmp_path / "app.log"))
        return apps[-1]

    yield start
    for app in apps:
        if app.proc.poll() is None:
            app.proc.kill()
            app.proc.wait()


@pytest.mark.parametrize(("kind", "template"), TEMPLATES)
def test_template_metadata(kind: str, template: str) -> None:
    found = scaffold.get(kind, template)
    meta = yaml.safe_load((found.root / "template.yaml").read_text())
    assert set(meta) == {"name", "kind", "version", "description", "changelog"}
    assert (meta["name"], meta["kind"], meta["version"]) == (template, kind, 1)
    assert meta["description"].strip()
    assert template in scaffold.available(kind)


@pytest.mark.parametrize(("kind", "template"), TEMPLATES)
def test_renders_python_that_compiles_and_an_answers_file(
    kind: str, template: str, tmp_path: Path
) -> None:
    target = render(kind, template, tmp_path / "out")
    assert not [p for p in target.rglob("*") if p.name.startswith("dot-") or p.suffix == ".j2"]
    assert {".gitignore", "README.md"} <= files_under(target)
    for source in target.rglob("*.py"):
        py_compile.compile(str(source), doraise=True, cfile=str(tmp_path / "x.pyc"))
    answers = yaml.safe_load((target / scaffold.ANSWERS_FILE).read_text())
    assert answers["template"] == template
    assert answers["kind"] == kind
    assert answers["template_version"] == 1
    assert answers["inputs"] == INPUTS
    assert "{{" not in (target / "README.md").read_text()
    assert "order-api" in (target / "README.md").read_text()


def test_python_endpoint_files(python_endpoint: Path) -> None:
    assert files_under(python_endpoint) == {
        ".dockerignore",
        ".gitignore",
        ".workbench-answers.yaml",
        "Dockerfile",
        "README.md",
        "app.py",
        "endpoint.yaml",
        "lib/README.md",
        "tests/test_api.py",
    }
    dockerfile = (python_endpoint / "Dockerfile").read_text().splitlines()
    assert dockerfile.index("ARG BASE_IMAGE=python:3.12-slim") < dockerfile.index(
        "FROM ${BASE_IMAGE}"
    )
    assert 'CMD ["python3", "app.py"]' in dockerfile
    assert "STOPSIGNAL SIGTERM" in dockerfile
    assert "PYTHONPATH=/app/lib" in "\n".join(dockerfile)
    ignored = (python_endpoint / ".dockerignore").read_text().split()
    assert {".git", ".workbench-answers.yaml", "tests/"} <= set(ignored)
    assert "workbench --batch test -e order-api" in (python_endpoint / "README.md").read_text()


@pytest.mark.parametrize(
    ("template", "port", "data"), [("python", 8000, True), ("static", 8080, False)]
)
def test_endpoint_yaml(template: str, port: int, data: bool, tmp_path: Path) -> None:
    text = (render("endpoint", template, tmp_path / "e") / "endpoint.yaml").read_text()
    assert text.count("\n# ") >= 8  # commented for users
    config = yaml.safe_load(text)
    assert set(config) == ENDPOINT_KEYS
    assert (config["port"], config["health"], config["data"]) == (port, "/health", data)
    assert config["routes"] == ["/order-api"]
    assert config["test"] == TEST_COMMAND
    for key in ("secrets", "produces", "consumes", "models", "utilities"):
        assert config[key] == []
    for key in ("env", "build_args"):
        assert isinstance(config[key], dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in config[key].items())


def test_static_endpoint_files(tmp_path: Path) -> None:
    target = render("endpoint", "static", tmp_path / "site")
    assert files_under(target) == {
        ".dockerignore",
        ".gitignore",
        ".workbench-answers.yaml",
        "Dockerfile",
        "README.md",
        "endpoint.yaml",
        "nginx.conf",
        "public/index.html",
        "tests/test_site.py",
    }
    assert "<h1>order-api</h1>" in (target / "public/index.html").read_text()
    assert 'NAME = "order-api"' in (target / "tests/test_site.py").read_text()
    dockerfile = (target / "Dockerfile").read_text()
    for line in (
        "ARG BASE_IMAGE=nginx:alpine",
        "STOPSIGNAL SIGQUIT",
        "EXPOSE 8080",
        'CMD ["nginx", "-g", "daemon off;"]',
        "rm -f /etc/nginx/sites-enabled/default",
    ):
        assert line in dockerfile
    nginx = (target / "nginx.conf").read_text()
    assert "listen 8080" in nginx
    assert "location = /health" in nginx


def test_python_endpoint_passes_its_own_tests_and_stops_gracefully(
    python_endpoint: Path, tmp_path: Path, app_factory: Any
) -> None:
    data_dir = tmp_path / "data"
    app = app_factory(python_endpoint, data_dir)
    config = yaml.safe_load((python_endpoint / "endpoint.yaml").read_text())
    result = run_test_command(config["test"], python_endpoint, BASE_URL=app.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 4 tests" in result.stderr

    status, item = http("POST", app.url + "/items", {"name": "kept"})
    assert status == 201
    assert app.stop() == 0
    lines = app.log_lines()
    assert lines[-1]["msg"] == "stopped"
    requests = [line for line in lines if line["msg"] == "request"]
    assert requests
    assert {"ts", "level", "method", "path", "status", "duration_ms"} <= set(requests[0])
    assert any(line["status"] == 400 for line in requests)

    again = app_factory(python_endpoint, data_dir)  # a new process over the same data
    assert http("GET", f"{again.url}/items/{item['id']}") == (200, item)
    assert http("GET", again.url + "/items") == (200, [item])
    assert again.stop() == 0
    assert not list((data_dir / "items").glob(".tmp-*"))


def test_python_endpoint_rejects_bad_requests(
    python_endpoint: Path, tmp_path: Path, app_factory: Any
) -> None:
    app = app_factory(python_endpoint, tmp_path / "data")
    for bad_id in ("..", "..%2F..%2Fetc%2Fpasswd", "x" * 65):
        assert http("GET", f"{app.url}/items/{bad_id}")[0] == 404
    assert http("PUT", app.url + "/items", {})[0] == 405
    assert http("POST", app.url + "/items", "a string")[0] == 400
    assert http("DELETE", app.url + "/items/missing")[0] == 404
    assert app.stop() == 0


@pytest.mark.parametrize("kind", ["model", "utility"])
def test_library_tests_pass(kind: str, tmp_path: Path) -> None:
    target = render(kind, kind, tmp_path / "order-api")
    assert {
        "order_api/__init__.py",
        "order_api/py.typed",
        "tests/test_order_api.py",
        "pyproject.toml",
    } <= files_under(target)
    assert 'name = "order-api"' in (target / "pyproject.toml").read_text()
    assert 'packages = ["order_api"]' in (target / "pyproject.toml").read_text()
    result = run_test_command(TEST_COMMAND, target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stderr


def test_model_class_name_follows_the_package(tmp_path: Path) -> None:
    for package, cls in [("order_api", "OrderApi"), ("x", "X"), ("_2fa", "Model2fa")]:
        target = tmp_path / package
        scaffold.render(
            scaffold.get("model", "model"),
            target,
            {"name": package.strip("_").replace("_", "-"), "package": package, "project": "shop"},
        )
        assert f"class {cls}:" in (target / package / "__init__.py").read_text()
        result = run_test_command(TEST_COMMAND, target)
        assert result.returncode == 0, result.stdout + result.stderr


def test_python_endpoint_finishes_a_request_in_flight_on_sigterm(
    python_endpoint: Path, tmp_path: Path, app_factory: Any
) -> None:
    app = app_factory(python_endpoint, tmp_path / "data")
    body = b'{"name": "late"}'
    head = b"POST /items HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(body)
    with socket.create_connection(("127.0.0.1", app.port), timeout=HANG_GUARD) as sock:
        sock.sendall(head + body[:5])  # the app is now waiting for the rest of the body
        time.sleep(0.3)
        app.proc.send_signal(signal.SIGTERM)
        for _ in range(2000):  # new connections are refused while the request is still open
            try:
                socket.create_connection(("127.0.0.1", app.port), timeout=HANG_GUARD).close()
            except ConnectionRefusedError:
                break
            except ConnectionResetError:
                pass  # queued as the listening socket closed: the next one is refused
            time.sleep(0.05)
        else:
            raise AssertionError("still accepting connections after SIGTERM (2000 looks)")
        sock.sendall(body[5:])
        response = sock.makefile("rb").read()
    assert response.startswith(b"HTTP/1.0 201"), response
    assert app.proc.wait(timeout=HANG_GUARD) == 0
    assert app.log_lines()[-1] == {
        **app.log_lines()[-1],
        "msg": "stopped",
        "in_flight_abandoned": False,
    }
