"""Safety rails (protected, readonly) in the core, the environment's secrets key, and probes.

The rails are checked by the batch CLI before any host is contacted: the environments here
point at hosts that do not exist, so a run that got past the rail would fail with exit 3.
"""

from __future__ import annotations

import asyncio
import hashlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import HANG_GUARD

from workbench import envkey, probe
from workbench.errors import BadInput, OperationFailed
from workbench.model import Endpoint, Environment
from workbench.ops.inputs import config_hash
from workbench.ops.rails import require_confirm
from workbench.state import LocalStore

SECRET = "hunter2"
ENVIRONMENTS = """environments:
  local: {}
  prod:
    hosts: [deploy@prod.invalid]
    protected: true
  audit:
    hosts: [deploy@audit.invalid]
    readonly: true
  cluster:
    hosts: [deploy@manager.invalid]
    engine: swarm
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    from workbench.ops.new import new_child, new_project

    root = new_project(tmp_path, "shop").path
    new_child(root, "endpoint", "orders")
    text = (root / "workbench.yaml").read_text()
    (root / "workbench.yaml").write_text(text[:text.index("environments:")] + ENVIRONMENTS)
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", "--batch", "-C", str(root), *args],
                          capture_output=True, text=True, timeout=HANG_GUARD)


def one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("args", [
    ["deploy", "--env", "prod"],
    ["rollback", "--env", "prod", "-e", "orders"],
    ["lock", "release", "--env", "prod", "--force"],
    ["deploy", "--env", "prod", "--confirm", "staging"],
])
def test_a_protected_environment_needs_confirm(project: Path, args: list[str]) -> None:
    one_line(run(project, *args), 2, "environment 'prod' is protected", "--confirm prod")


@pytest.mark.parametrize("args", [
    ["deploy", "--env", "audit", "--confirm", "audit"],
    ["rollback", "--env", "audit", "-e", "orders"],
    ["lock", "release", "--env", "audit", "--force", "--confirm", "audit"],
])
def test_a_readonly_environment_refuses_changes(project: Path, args: list[str]) -> None:
    one_line(run(project, *args), 2, "environment 'audit' is readonly", "refused")


@pytest.mark.parametrize("args", [["rollback", "-e", "orders"], ["scale", "-e", "orders", "1"]])
def test_a_swarm_rollback_or_scale_goes_to_the_swarm(project: Path, args: list[str]) -> None:
    # Past the rails, it tries to reach the manager (non-existent): exit 3.
    one_line(run(project, args[0], "--env", "cluster", *args[1:]), 3, "manager.invalid")


def test_a_swarm_deploy_goes_to_the_swarm(project: Path) -> None:
    # Past the rails, the Swarm deploy tries to reach its manager (non-existent): exit 3.
    one_line(run(project, "deploy", "--env", "cluster"), 3, "manager.invalid")


def test_with_confirm_a_protected_deploy_goes_on_to_the_hosts(project: Path) -> None:
    # Past the rail, the run tries to reach the (non-existent) host: exit 3, not 2.
    done = run(project, "deploy", "--env", "prod", "--confirm", "prod")
    one_line(done, 3, "prod.invalid")


def test_rails_as_a_function() -> None:
    plain = Environment("staging", hosts=())
    require_confirm(plain, "deploy", None)
    guarded = Environment("prod", hosts=(), protected=True)
    require_confirm(guarded, "deploy", "prod")
    with pytest.raises(BadInput, match="needs --confirm prod"):
        require_confirm(guarded, "deploy", None)
    with pytest.raises(BadInput, match="is readonly: deploy is refused"):
        require_confirm(Environment("audit", hosts=(), readonly=True), "deploy", "audit")


# -- the environment's key ------------------------------------------------------------------
def test_the_key_is_made_once_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    assert asyncio.run(envkey.read_key(store)) is None
    key = asyncio.run(envkey.env_key(store))
    assert len(key) == envkey.KEY_BYTES
    assert asyncio.run(envkey.env_key(store)) == key == asyncio.run(envkey.read_key(store))
    mode = stat.S_IMODE((tmp_path / "state" / envkey.KEY_PATH).stat().st_mode)
    assert mode == 0o600


def test_a_damaged_key_is_one_clear_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    (tmp_path / "state" / "secrets").mkdir(parents=True)
    (tmp_path / "state" / envkey.KEY_PATH).write_text("not hex\n")
    with pytest.raises(OperationFailed, match="is damaged"):
        asyncio.run(envkey.env_key(store))


def test_generations_tell_secrets_apart_and_hide_them() -> None:
    key, other = b"k" * 32, b"o" * 32
    one = envkey.generation(key, {"TOKEN": SECRET})
    assert one == envkey.generation(key, {"TOKEN": SECRET})
    assert one != envkey.generation(key, {"TOKEN": SECRET + "!"})
    assert one != envkey.generation(key, {"OTHER": SECRET})
    assert one != envkey.generation(other, {"TOKEN": SECRET})
    assert envkey.generation(key, {}) == ""
    assert SECRET not in one and hashlib.sha256(SECRET.encode()).hexdigest()[:16] != one


def test_the_config_hash_has_no_plain_hash_of_a_secret() -> None:
    endpoint = Endpoint("orders", Path("/nowhere"))
    key = b"k" * 32
    with_secret = config_hash(endpoint, {"A": "1"}, {"TOKEN": SECRET}, key)
    # Whoever knows the value but not the server's key cannot confirm it from the hash.
    assert with_secret != config_hash(endpoint, {"A": "1"}, {"TOKEN": SECRET}, b"x" * 32)
    assert with_secret == config_hash(endpoint, {"A": "1"}, {"TOKEN": SECRET}, key)
    assert with_secret != config_hash(endpoint, {"A": "1"}, {"TOKEN": "other"}, key)


# -- probes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/health now", "/a\r\nX-Evil: 1", "/a\nb", "health", "/\x00"])
def test_a_probe_never_writes_a_bad_path(path: str) -> None:
    async def connect(address: str, port: int) -> tuple[asyncio.StreamReader,
                                                           asyncio.StreamWriter]:
        raise AssertionError("no connection may be opened for a bad path")

    status, head = asyncio.run(probe.get(connect, "10.0.0.1", 80, path))
    assert status.startswith("bad path") and head == ""


def test_a_probe_reads_status_and_header_without_any_proxy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # a closed port: must not be used

    async def main() -> tuple[str, str]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.0 200 OK\r\nX-Workbench-Config: abc\r\n\r\nok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            status = await probe.status(asyncio.open_connection, "127.0.0.1", port, "/health")
            seen = await probe.header(asyncio.open_connection, "127.0.0.1", port, "/health",
                                      "x-workbench-config")
        return status, seen

    assert asyncio.run(main()) == ("200", "abc")


@pytest.mark.parametrize("moment", ["connect", "read"])
def test_a_probe_cancelled_as_its_await_completes_raises_the_cancel(moment: str) -> None:
    """The cancel lands after the awaited connect (or read) finished but before the probe ran
    on: Python 3.11's ``asyncio.wait_for`` returned the result there and dropped the cancel, so
    a cancelled health check went on polling until its timeout (x in the test screen waited
    30 s). A cancel the task accepted must end the probe with ``CancelledError``."""

    async def main() -> str:
        go = asyncio.Event()
        reader = asyncio.StreamReader()

        class Writer:
            def write(self, data: bytes) -> None:
                pass

            def close(self) -> None:
                pass

        async def connect(address: str, port: int) -> tuple[asyncio.StreamReader, Writer]:
            if moment == "connect":
                await go.wait()
            return reader, Writer()

        task = asyncio.ensure_future(probe.status(connect, "10.0.0.1", 80, "/health"))
        for _ in range(10):  # until the probe waits (a count of loop turns)
            await asyncio.sleep(0)
        if moment == "connect":
            go.set()
        else:
            reader.feed_data(b"HTTP/1.0 200 OK\r\n\r\n")
        await asyncio.sleep(0)  # the awaited step completes; the probe may not have run on
        accepted = task.cancel()  # False: the probe had ended (nothing to drop)
        try:
            return f"{accepted} {await task}"
        except asyncio.CancelledError:
            return f"{accepted} cancelled"

    assert asyncio.run(main()) in ("True cancelled", "False 200")  # never "True 200"
