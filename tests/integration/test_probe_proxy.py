"""Health probes are not routed through http_proxy/https_proxy.

Every proxy variable (http_proxy, https_proxy, all_proxy, upper and lower case) points at a
port on 127.0.0.1 that is bound but never listens, and no_proxy is unset. A client that used
them would be refused (the test shows that first); `workbench --batch test -e orders` and a
deploy to staging must still succeed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from helpers import HANG_GUARD
from staging import Staged

pytestmark = pytest.mark.integration

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                   "ALL_PROXY")
# A proxied GET of argv[1], as an HTTP client that honours the proxy variables makes it.
PROXIED_GET = ("import sys, urllib.request\n"
               "try:\n"
               "    urllib.request.urlopen(sys.argv[1], timeout=600)\n"
               "except OSError as exc:\n"
               "    sys.exit(f'refused: {exc}')\n")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens while the test runs (bound, not listening:
    connections are refused, and no one else can listen there meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def proxied(closed_port: int) -> dict[str, str]:
    """The environment of a process whose proxy variables all point at the closed port."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy",)}
    env.update({name: f"http://127.0.0.1:{closed_port}" for name in PROXY_VARIABLES})
    return env


def workbench(staged: Staged, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", "--batch", *args], cwd=staged.root,
                          env=env, capture_output=True, text=True, timeout=600, check=False)


def proxied_get(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROXIED_GET, url], env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD, check=False)


def test_the_test_loop_probes_health_directly(staged: Staged, proxied: dict[str, str]) -> None:
    done = workbench(staged, proxied, "test", "-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    passed = [line for line in done.stdout.splitlines() if line.startswith("ok ")]
    for step in ("orders: wait for health", "orders: run tests"):
        assert any(line.endswith(f"  {step}") for line in passed), done.stdout


def test_a_deploy_probes_health_directly(staged: Staged, proxied: dict[str, str]) -> None:
    done = workbench(staged, proxied, "deploy", "--env", "staging", "-e", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    assert staged.get("/orders/health")[0] == 200
    refused = proxied_get(staged.url("/orders/health"), proxied)  # the variables do bite
    assert refused.returncode != 0 and "refused" in refused.stderr, refused.stderr
