"""`workbench --batch test` on the real Docker Engine: scaffolded endpoints, failures, Ctrl-C.

Every test runs in a project with a unique name and checks that nothing labelled with it is
left behind: no container, volume or network (the images it built are removed at the end).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from helpers import HANG_GUARD

pytestmark = pytest.mark.integration

RunWorkbench = Callable[..., subprocess.CompletedProcess[str]]


class Shop:
    """A fresh project with python endpoint ``orders`` (includes model ``customer``) and
    static endpoint ``site``, built FROM the local base image."""

    def __init__(self, root: Path, name: str, run: RunWorkbench) -> None:
        self.root, self.name, self._run = root, name, run

    def workbench(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return self._run("--batch", *args, cwd=self.root, timeout=timeout)

    def endpoint(self, name: str) -> Path:
        return self.root / "endpoints" / name

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.root / path
        text = file.read_text()
        assert old in text, f"{old!r} not in {file}"
        file.write_text(text.replace(old, new, 1))


def leftovers(client: docker.DockerClient, project: str) -> list[str]:
    """Names of test containers, volumes and networks of ``project`` still in the engine."""
    filters = {"label": [f"dev.workbench.project={project}", "dev.workbench.env=test"]}
    return ([c.name for c in client.containers.list(all=True, filters=filters)]
            + [v.name for v in client.volumes.list(filters=filters)]
            + [n.name for n in client.networks.list(filters=filters)])


@pytest.fixture
def shop(tmp_path: Path, run_workbench: RunWorkbench, base_image: str,
         docker_client: docker.DockerClient) -> Iterator[Shop]:
    name = "t" + uuid.uuid4().hex[:8]
    for args, cwd in ((("new", name), tmp_path),
                      (("new", "-m", "customer"), tmp_path / name),
                      (("new", "-e", "orders"), tmp_path / name),
                      (("new", "-e", "site", "--template", "static"), tmp_path / name)):
        done = run_workbench("--batch", *args, cwd=cwd)
        assert done.returncode == 0, done.stderr
    project = Shop(tmp_path / name, name, run_workbench)
    project.edit("workbench.yaml", "build_args: {}", f'build_args: {{BASE_IMAGE: "{base_image}"}}')
    project.edit("endpoints/orders/endpoint.yaml", "models: []", "models: [customer]")
    # The app imports the model: it only starts when the model is in its image.
    project.edit("endpoints/orders/app.py", "MAX_BODY =",
                 "from customer import Customer  # noqa: E402  (lib/, copied in by workbench)\n"
                 "assert Customer(id='a', name='b').to_dict()['name'] == 'b'\n\nMAX_BODY =")
    yield project
    assert leftovers(docker_client, name) == []
    for image in docker_client.images.list(filters={"label": f"dev.workbench.project={name}"}):
        docker_client.images.remove(image.id, force=True)


def step_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("ok ", "FAIL "))]


def test_all_builds_runs_and_tests_every_endpoint(shop: Shop) -> None:
    done = shop.workbench("test", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    steps = step_lines(done.stdout)
    for endpoint in ("orders", "site"):
        for label in ("build image", "start container", "wait for health", "run tests",
                      "clean up"):
            assert any(line.startswith("ok ") and line.endswith(f"{endpoint}: {label}")
                       and line.split()[1].endswith("s") for line in steps), (endpoint, label)
    assert "2 endpoints: 2 passed" in done.stdout
    # Both test suites ran against their container, and the logs kept their sources apart.
    assert "[orders/tests] Ran 4 tests" in done.stdout
    assert "[site/tests] Ran 3 tests" in done.stdout
    assert '[orders/app] {"ts"' in done.stdout
    assert "[site/app] " in done.stdout and '[site/app] {"ts"' not in done.stdout
    # A second run reuses the images: nothing changed, nothing is rebuilt.
    again = shop.workbench("test", "-e", "orders")
    assert again.returncode == 0, again.stdout
    assert "is up to date" in again.stdout and "Step 1/" not in again.stdout


def test_one_failing_endpoint_is_named_while_the_other_passes(shop: Shop) -> None:
    shop.edit("endpoints/site/Dockerfile", "EXPOSE 8080", "RUN exit 3\nEXPOSE 8080")
    done = shop.workbench("test", "--all")
    assert done.returncode == 1
    assert any(line.startswith("FAIL") and line.endswith("site: build image  (build failed: "
               "The command '/bin/sh -c exit 3' returned a non-zero code: 3)")
               for line in step_lines(done.stdout)), done.stdout
    assert "site    FAILED  at build: build failed:" in done.stdout
    assert "orders  passed" in done.stdout
    assert "2 endpoints: 1 passed, 1 failed (site)" in done.stdout
    assert "site: start container" not in done.stdout  # nothing ran after the failed step


def test_a_container_that_exits_at_start_shows_its_last_lines(shop: Shop) -> None:
    shop.edit("endpoints/orders/endpoint.yaml", "models: [customer]", "models: []")
    done = shop.workbench("test", "-e", "orders")
    assert done.returncode == 1
    assert "orders  FAILED  at health: the container exited with code 1 before it became " \
           "healthy" in done.stdout
    tail = done.stdout.split("last lines of the container:")[1]
    assert "ModuleNotFoundError: No module named 'customer'" in tail


def test_a_container_that_never_becomes_healthy(shop: Shop) -> None:
    shop.edit("endpoints/orders/endpoint.yaml", "health: /health", "health: /not-there")
    done = shop.workbench("test", "-e", "orders", "--health-timeout", "2")
    assert done.returncode == 1
    assert "at health: GET /not-there did not answer 200 within 2s (last: 404)" in done.stdout
    assert '"path": "/not-there", "status": 404' in done.stdout  # its log lines, in the tail


def test_failing_tests_fail_the_run(shop: Shop) -> None:
    (shop.endpoint("orders") / "tests" / "test_fails.py").write_text(
        "import os, unittest\n\nclass T(unittest.TestCase):\n"
        "    def test_base_url_is_local(self):\n"
        "        self.assertTrue(os.environ['BASE_URL'].startswith('http://127.0.0.1:'))\n\n"
        "    def test_fails(self):\n        self.fail('deliberately')\n")
    done = shop.workbench("test", "-e", "orders", "--json")
    assert done.returncode == 1
    events = [json.loads(line) for line in done.stdout.splitlines()]
    result = events[-1]
    assert result["event"] == "result" and result["ok"] is False
    report = result["data"]["endpoints"][0]
    assert report["failed_step"] == "tests"
    assert report["reason"] == "the test command exited with code 1"
    tests_log = [line for e in events if e["event"] == "log_lines"
                 and e["source"] == "orders/tests" for line in e["lines"]]
    assert "test_base_url_is_local (test_fails.T.test_base_url_is_local) ... ok" in tests_log
    assert any("AssertionError: deliberately" in line for line in tests_log)
    finished = [e for e in events if e["event"] == "step_finished"]
    assert [e["step"] for e in finished] == ["orders/build", "orders/start", "orders/health",
                                             "orders/tests", "orders/cleanup"]
    assert [e["ok"] for e in finished] == [True, True, True, False, True]


def test_keep_leaves_it_running_and_says_how_to_remove_it(
        shop: Shop, docker_client: docker.DockerClient) -> None:
    done = shop.workbench("test", "-e", "orders", "--keep")
    assert done.returncode == 0, done.stdout
    kept = next(line for line in done.stdout.splitlines() if line.startswith("kept orders: "))
    url = kept.split()[2].rstrip(";")
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url + "/health", timeout=HANG_GUARD) as reply:
        assert reply.status == 200
    assert len(leftovers(docker_client, shop.name)) == 3  # container, volume, network
    remove = kept.split("remove with: ")[1]
    subprocess.run(remove, shell=True, check=True, capture_output=True)


@pytest.mark.parametrize("moment", ["build", "health"])
def test_ctrl_c_cleans_up_and_exits_130(shop: Shop, moment: str) -> None:
    # Neither the build nor the health check can end by itself before the SIGINT, however
    # slowly this machine runs: the exit must come from the cancel.
    if moment == "build":
        shop.edit("endpoints/orders/Dockerfile", "EXPOSE 8000", "RUN sleep 3600\nEXPOSE 8000")
        wait_for = "RUN sleep 3600"
    else:
        shop.edit("endpoints/orders/endpoint.yaml", "health: /health", "health: /never")
        shop.edit("endpoints/orders/endpoint.yaml", "health_timeout: 30", "health_timeout: 3600")
        wait_for = '"path": "/never"'
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "--batch", "test", "-e", "orders"], cwd=shop.root,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # until the line, or the end of its output
        seen.append(line)
        if wait_for in line:
            break
    assert any(wait_for in line for line in seen), "".join(seen)
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=HANG_GUARD)  # a hang guard only
    assert process.returncode == 130, errors  # cancelled: not ended by its health timeout
    assert errors.strip() == "workbench: error: test interrupted; its containers, volumes and " \
                             "networks were removed"
    assert "FAIL" in rest and "(cancelled)" in rest
    assert "ok " in rest.split("(cancelled)")[1] and "orders: clean up" in rest
