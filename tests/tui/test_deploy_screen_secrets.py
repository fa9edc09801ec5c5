"""The deploy screen never shows a secret value, on a real deploy over the CI sshd and engine.

Endpoint ``orders`` declares the secret API_TOKEN, and prints its whole environment when it
starts (and, in its broken version, at each failed health check). The screen is driven with
Pilot through a good deploy and a failed one; after each, the text every widget renders (the
timeline, summary, logs, notifications...) and an SVG export of the screen must not hold the
value, nor its sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import SIZE, build_project, set_environments
from helpers import SSHTarget, clean, free_port
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Log, OptionList

from screens.app import WorkbenchApp
from screens.deploy_run import DeployRunScreen
from screens.releases_view import EnvironmentPicker
from workbench.model import PROJECT_FILE

pytestmark = pytest.mark.integration

LOOKS = 2000
"""Safety cap on the Pilot pauses spent waiting for a screen (each a message round)."""
START = '    port = int(os.environ.get("PORT", "8000"))\n'
DUMP = ('    for key, value in sorted(os.environ.items()):\n'
        '        print(f"env {key}={value}", flush=True)\n')
HEALTH_ROUTE = '        if path == "/health":\n'
BROKEN_HEALTH = ('        if path == "/health" and os.environ.get("UNHEALTHY") == "1":\n'
                 '            for key, value in sorted(os.environ.items()):\n'
                 '                print(f"env {key}={value}", flush=True)\n'
                 '            raise HTTPError(HTTPStatus.SERVICE_UNAVAILABLE, "no")\n')


@pytest.fixture
def project(tmp_path: Path, isolated_env: Path, base_image: str, ssh_target: SSHTarget,
            docker_client: docker.DockerClient) -> Iterator[tuple[Path, str]]:
    """A project (unique name) whose staging environment is the CI sshd; and the secret."""
    ssh = isolated_env / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "config").write_text(f"Host {ssh_target.host}\n  IdentityFile {ssh_target.key}\n"
                                "  IdentitiesOnly yes\n")
    (ssh / "known_hosts").write_text(ssh_target.known_hosts.read_text())
    name = f"tuis{uuid.uuid4().hex[:8]}"
    root = build_project(tmp_path / "work", name, endpoints=("orders",), environments=None)
    edit(root / PROJECT_FILE, "\nbuild_args: {}\n", f"\nbuild_args: {{BASE_IMAGE: {base_image}}}\n")
    set_environments(root, f"environments:\n  local:\n    proxy_port: 8080\n  staging:\n"
                           f"    hosts: [{ssh_target.spec}]\n"
                           f"    proxy_port: {free_port()}\n    proxy_bind: 127.0.0.1\n"
                           f"    proxy_image: {base_image}\n")
    orders = root / "endpoints" / "orders"
    edit(orders / "endpoint.yaml", "secrets: []", "secrets: [API_TOKEN]")
    edit(orders / "endpoint.yaml", "health_timeout: 30", "health_timeout: 3")
    edit(orders / "app.py", START, DUMP + START)
    edit(orders / "app.py", HEALTH_ROUTE, BROKEN_HEALTH + HEALTH_ROUTE)
    secret = "s3cr3t-" + uuid.uuid4().hex
    secrets = root / ".workbench" / "secrets" / "staging.env"
    secrets.parent.mkdir(parents=True, exist_ok=True)
    secrets.write_text(f"API_TOKEN={secret}\n")
    yield root, secret
    clean(docker_client, name, Path("/var/lib/workbench"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def shown(app: App[Any]) -> dict[str, str]:
    """The text each widget of every screen renders (a Log: all its lines), and an SVG
    export of the current screen."""
    found = {}
    for screen in app.screen_stack:
        for widget in screen.walk_children(with_self=True):
            parts = []
            with contextlib.suppress(Exception):  # a widget that renders only line by line
                parts.append(str(widget.render()))
            if isinstance(widget, Log):
                parts.extend(widget.lines)
            parts += [str(getattr(widget, name) or "") for name in
                      ("tooltip", "border_title", "border_subtitle")]
            found[f"{type(screen).__name__} {widget!r}"] = "\n".join(parts)
    found["svg"] = app.export_screenshot()
    return found


def leaks(texts: dict[str, str], secret: str) -> list[str]:
    values = (secret, hashlib.sha256(secret.encode()).hexdigest())
    return [f"{where}: {line.replace(secret, '<SECRET>')[:200]}"
            for where, text in texts.items() for line in text.splitlines()
            if any(value in line for value in values)]


async def deployed(pilot: Pilot[Any]) -> DeployRunScreen:
    """Wait (by worker, not by clock) until the deploy screen's run has finished."""
    app = pilot.app
    for _ in range(LOOKS):
        if isinstance(app.screen, DeployRunScreen):
            break
        await pilot.pause()
    screen = app.screen
    assert isinstance(screen, DeployRunScreen), screen
    for _ in range(LOOKS):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not screen.busy:
            return screen
    raise AssertionError("the deploy did not finish")


async def pick_staging(pilot: Pilot[Any]) -> None:
    picker = pilot.app.screen
    assert isinstance(picker, EnvironmentPicker), picker
    options = picker.query_one(OptionList)
    for _ in range(options.option_count + 1):
        option = options.highlighted_option
        if option is not None and option.id == "staging":
            break
        await pilot.press("down")
    await pilot.press("enter")


async def test_the_deploy_screen_never_shows_a_secret_value(
        project: tuple[Path, str]) -> None:
    root, secret = project
    app = WorkbenchApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("2", "d")
        await pick_staging(pilot)
        screen = await deployed(pilot)
        assert screen.phase == "passed", shown(app)["svg"]
        assert any("env LOG_LEVEL=info" in line for line in screen.log_view.log_widget.lines)
        found = leaks(shown(app), secret)
        assert found == [], "secret values shown:\n" + "\n".join(found)

        edit(root / "endpoints" / "orders" / "endpoint.yaml", "  LOG_LEVEL: info\n",
             '  LOG_LEVEL: info\n  UNHEALTHY: "1"\n')
        await pilot.press("d")  # deploy again: the project is read again
        screen = await deployed(pilot)
        assert screen.phase != "passed"
        assert "did not answer 200" in str(screen.query_one("#summary").render())
        assert any("env UNHEALTHY=1" in line for line in screen.log_view.log_widget.lines)
        found = leaks(shown(app), secret)
        assert found == [], "secret values shown:\n" + "\n".join(found)
