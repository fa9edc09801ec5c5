"""The endpoint templates build on the base image, pass their own tests and stop gracefully."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import yaml
from docker.models.containers import Container
from helpers import HANG_GUARD

from workbench import scaffold

pytestmark = pytest.mark.integration

INPUTS = {"name": "order-api", "package": "order_api", "project": "shop"}
LABELS = {"dev.workbench.test": "test_template_images"}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=HANG_GUARD) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def build(client: docker.DockerClient, source: Path, base_image: str, stack: ExitStack) -> str:
    """Build ``source`` FROM ``base_image`` under a unique tag, removed when ``stack`` closes."""
    tag = f"wbtest-{source.name}:{uuid.uuid4().hex[:12]}"
    try:
        client.images.build(
            path=str(source),
            buildargs={"BASE_IMAGE": base_image},
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            labels=LABELS,
        )
    except docker.errors.BuildError as exc:
        log = "".join(str(chunk.get("stream", chunk)) for chunk in exc.build_log)
        pytest.fail(f"build of {source.name} failed: {exc}\n{log}")
    stack.callback(client.images.remove, tag, force=True)
    return tag


def start(
    client: docker.DockerClient,
    tag: str,
    config: dict[str, Any],
    stack: ExitStack,
    volume: str | None,
) -> tuple[Container, str]:
    """Run the image as workbench would; return the container and its base URL once healthy."""
    port = f"{config['port']}/tcp"
    container = client.containers.run(
        tag,
        detach=True,
        labels=LABELS,
        ports={port: ("127.0.0.1", None)},
        volumes={volume: {"bind": "/data", "mode": "rw"}} if volume else None,
        environment=config["env"],
    )
    stack.callback(container.remove, force=True, v=True)
    for _ in range(1000):  # bounded by count, not by a clock
        container.reload()
        assert container.status in ("created", "running"), container.logs().decode()
        bindings = container.ports.get(port)
        if bindings:
            url = f"http://127.0.0.1:{bindings[0]['HostPort']}"
            try:
                if get(url + config["health"])[0] == 200:
                    return container, url
            except OSError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"no health after 1000 looks:\n{container.logs().decode()}")


def run_test_command(command: str, cwd: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    """Run the endpoint's test command on the host, as ``workbench test`` does."""
    argv = shlex.split(command)
    if argv[0] == "python3":
        argv[0] = sys.executable
    return subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, "BASE_URL": base_url},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )


def stop(container: Container) -> str:
    """Stop with the image's STOPSIGNAL; assert exit 0 (a container that ignored it would be
    killed after the timeout: 137); return the logs."""
    container.stop(timeout=10)
    code = container.wait(timeout=HANG_GUARD)["StatusCode"]
    logs = container.logs().decode()
    assert code == 0, logs
    return logs


@pytest.mark.parametrize("template", ["python", "static"])
def test_endpoint_image(
    template: str, docker_client: docker.DockerClient, base_image: str, tmp_path: Path
) -> None:
    source = tmp_path / "order-api"
    scaffold.render(scaffold.get("endpoint", template), source, dict(INPUTS))
    config = yaml.safe_load((source / "endpoint.yaml").read_text())
    if template == "python":  # as workbench does for `models: [shop-model]`
        model = tmp_path / "shop-model"
        scaffold.render(
            scaffold.get("model", "model"),
            model,
            {"name": "shop-model", "package": "shop_model", "project": "shop"},
        )
        shutil.copytree(model / "shop_model", source / "lib" / "shop_model")
    with ExitStack() as stack:
        tag = build(docker_client, source, base_image, stack)
        volume = None
        if config["data"]:
            created = docker_client.volumes.create(f"wbtest-{uuid.uuid4().hex[:12]}", labels=LABELS)
            stack.callback(created.remove, force=True)
            volume = created.name
        container, url = start(docker_client, tag, config, stack, volume)
        result = run_test_command(config["test"], source, url)
        assert result.returncode == 0, result.stdout + result.stderr
        if template == "static":
            logs = stop(container)
            assert '"GET / HTTP/1.1" 200' in logs  # access log on stdout
            return

        code, output = container.exec_run(["python3", "-c", "import shop_model"])
        assert code == 0, output.decode()  # lib/ is on PYTHONPATH
        request = urllib.request.Request(url + "/items", data=b'{"name": "kept"}', method="POST")
        with urllib.request.urlopen(request, timeout=HANG_GUARD) as response:
            item = json.load(response)
        lines = [json.loads(line) for line in stop(container).splitlines()]
        assert lines[-1]["msg"] == "stopped"
        post = [line for line in lines if line["msg"] == "request"][-1]
        assert (post["method"], post["path"], post["status"]) == ("POST", "/items", 201)
        assert {"ts", "level", "duration_ms"} <= set(post)

        replacement, url = start(docker_client, tag, config, stack, volume)
        status, body = get(f"{url}/items/{item['id']}")
        assert (status, json.loads(body)) == (200, item)  # the data volume kept it
        stop(replacement)
