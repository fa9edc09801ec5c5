"""Secret values over a whole deploy, a failed release and a rollback, on the real sshd and engine.

Endpoint ``orders`` declares the secret API_TOKEN. A secret value (and its plain sha256) must
appear nowhere but in the container's environment and in ``secrets/orders.env`` in the state
root (mode 0600): not in the CLI's plain or JSON output, the release records, the lock (read at
every event of a deploy while it holds it), any other file of the state root, or the proxy's
logs. A broken version prints its whole environment (at each failed health check, or at its
start, then exits): its failed release still records the reason (the exit code, not a timeout)
and the container's last lines, without the value. Config hashes and secrets generations are
keyed per environment, and a rollback runs with the secrets current now.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from helpers import SSHTarget, clean, free_port
from staging import RunWorkbench, Staged, stage
from traffic import Watched, served, set_release

pytestmark = pytest.mark.integration

ENV_FILE = "secrets/orders.env"
"""The one file of the state root that holds the values (by design)."""
ENV_FILE_TEMP = re.compile(r"secrets/\.orders\.env\.[0-9a-f]+\.tmp")
"""It is written as a temporary file beside it, then renamed: that one must be 0600 too."""
START = '    port = int(os.environ.get("PORT", "8000"))\n'
# Broken releases of orders: with CRASH=1 it prints its whole environment and exits; with
# UNHEALTHY=1 it prints it at each GET /health, and answers 503.
DUMP_AND_EXIT = ('    if os.environ.get("CRASH") == "1":\n'
                 '        for key, value in sorted(os.environ.items()):\n'
                 '            print(f"env {key}={value}", flush=True)\n'
                 '        return 3\n')
HEALTH_ROUTE = '        if path == "/health":\n'
DUMP_AND_FAIL_HEALTH = ('        if path == "/health" and os.environ.get("UNHEALTHY") == "1":\n'
                        '            for key, value in sorted(os.environ.items()):\n'
                        '                print(f"env {key}={value}", flush=True)\n'
                        '            raise HTTPError(HTTPStatus.SERVICE_UNAVAILABLE, "no")\n')


def new_secret() -> str:
    return "s3cr3t-" + uuid.uuid4().hex


def set_secret(staged: Staged, value: str, env: str = "staging") -> None:
    path = staged.root / ".workbench" / "secrets" / f"{env}.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"API_TOKEN={value}\n")


def traces(value: str) -> list[str]:
    """What must not be found: the value and its plain sha256 (hex)."""
    return [value, hashlib.sha256(value.encode()).hexdigest()]


class StateRoot:
    """The environment's state root on the host, read again at every :meth:`look`: every file
    but ``secrets/orders.env``, with every content it had (and the modes of that file's
    temporary files while it is written)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: dict[str, set[bytes]] = {}
        self.temp_modes: set[int] = set()

    def look(self) -> None:
        if not self.root.is_dir():
            return
        for path in self.root.rglob("*"):
            name = path.relative_to(self.root).as_posix()
            try:
                if ENV_FILE_TEMP.fullmatch(name):
                    self.temp_modes.add(stat.S_IMODE(path.stat().st_mode))
                elif name != ENV_FILE and path.is_file():
                    self.seen.setdefault(name, set()).add(path.read_bytes())
            except FileNotFoundError:  # renamed or moved aside meanwhile
                continue

    def found(self, values: list[str]) -> list[str]:
        """Which files held which of ``values`` (named by their place in the list)."""
        return [f"{name} held values[{i}]" for name, contents in sorted(self.seen.items())
                for data in contents for i, value in enumerate(values) if value.encode() in data]


def watched(staged: Staged, state: StateRoot, *args: str, as_json: bool = True) -> Watched:
    """`workbench --batch ARGS` run to its end, the state root read at every line it prints."""
    run = Watched(staged.root, *args, as_json=as_json)
    for _ in run:
        state.look()
    run.process.wait()
    state.look()
    return run


@pytest.fixture
def staged(tmp_path: Path, isolated_env: Path, run_workbench: RunWorkbench, base_image: str,
           ssh_target: SSHTarget, docker_client: docker.DockerClient) -> Iterator[Staged]:
    project = stage(tmp_path, isolated_env, run_workbench, base_image, ssh_target,
                    [ssh_target.spec])
    project.edit("endpoints/orders/endpoint.yaml", "secrets: []", "secrets: [API_TOKEN]")
    project.edit("endpoints/orders/app.py", START, DUMP_AND_EXIT + START)
    yield project
    clean(docker_client, project.name, Path("/var/lib/workbench"))


def leaks(named: dict[str, str], values: list[str]) -> list[str]:
    """Each line of the named texts that holds one of ``values``, with the value masked."""
    found = []
    for name, text in named.items():
        for line in text.splitlines():
            hits = [v for v in values if v in line]
            for value in hits:
                line = line.replace(value, "<SECRET>")
            if hits and f"{name}: {line[:300]}" not in found:
                found.append(f"{name}: {line[:300]}")
    return found


def check_outputs(named: dict[str, str], values: list[str]) -> None:
    found = leaks(named, values)
    assert found == [], "secret values found:\n" + "\n".join(found[:40])


def check_state_root(staged: Staged, state: StateRoot, value: str) -> None:
    """Nothing in the state root holds the value but its secrets file, which is 0600."""
    state.look()
    assert "lock" in state.seen, "the lock was never seen during a deploy"
    assert any(name.startswith("releases/") for name in state.seen)
    assert state.found(traces(value)) == [], "secret values in the state root"
    assert state.temp_modes <= {0o600}, [oct(m) for m in state.temp_modes]
    env_file = state.root / ENV_FILE
    assert env_file.read_text() == f"API_TOKEN={value}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_a_deploy_keeps_the_value_out_of_outputs_records_the_lock_and_the_proxy_logs(
        staged: Staged, docker_client: docker.DockerClient) -> None:
    value = new_secret()
    set_secret(staged, value)
    state = StateRoot(staged.state_root())
    first = watched(staged, state, "deploy", "--env", "staging")
    assert first.process.returncode == 0, first.output
    again = watched(staged, state, "deploy", "--env", "staging", as_json=False)
    assert again.process.returncode == 0, again.output
    assert "orders  unchanged" in again.output
    others = [staged.workbench("plan", "--env", "staging"),
              staged.workbench("releases", "--env", "staging", "-e", "orders", "--json"),
              staged.workbench("releases", "--env", "staging", "-e", "orders"),
              staged.workbench("lock", "status", "--env", "staging")]
    [container] = staged.apps(docker_client, "orders")
    assert f"API_TOKEN={value}" in container.attrs["Config"]["Env"]  # it did reach the app
    assert '"event": "step_finished"' in first.output  # JSON events were read
    check_outputs({"deploy --json": first.output, "deploy": again.output,
                   **{" ".join(o.args[4:]): o.stdout + o.stderr for o in others},
                   "proxy logs": staged.proxy(docker_client).logs().decode(errors="replace")},
                  traces(value))
    check_state_root(staged, state, value)


def break_orders(staged: Staged, how: str) -> None:
    """Give orders a version that fails: ``CRASH`` prints its environment and exits with 3 at
    its start; ``UNHEALTHY`` answers /health with 503 and prints its environment each time."""
    staged.edit("endpoints/orders/endpoint.yaml", "  LOG_LEVEL: info\n",
                f'  LOG_LEVEL: info\n  {how}: "1"\n')


def failing_deploys(staged: Staged, state: StateRoot, how: str,
                    *args: str) -> tuple[Watched, Watched, list[dict[str, object]]]:
    """A good release, then one broken ``how`` deployed twice (JSON events, then plain lines):
    both runs and the release records. The good version keeps serving."""
    set_release(staged, "good")
    assert watched(staged, state, "deploy", "--env", "staging").process.returncode == 0
    break_orders(staged, how)
    broken = watched(staged, state, "deploy", "--env", "staging", "-e", "orders", *args)
    assert broken.process.returncode == 1, broken.output
    plain = watched(staged, state, "deploy", "--env", "staging", "-e", "orders", *args,
                    as_json=False)
    assert plain.process.returncode == 1, plain.output
    assert served(staged) == "good"  # the old version keeps serving
    records = staged.releases("orders")
    assert [r["outcome"] for r in records] == ["ok", "failed", "failed"]
    return broken, plain, records


def check_failure_leaks_nothing(staged: Staged, docker_client: docker.DockerClient,
                                state: StateRoot, value: str, runs: list[Watched],
                                records: list[dict[str, object]]) -> None:
    shown = staged.workbench("releases", "--env", "staging", "-e", "orders")
    check_outputs({"release records": json.dumps(records, indent=1),
                   **{f"failed deploy {i}": run.output for i, run in enumerate(runs, 1)},
                   "releases": shown.stdout,
                   "proxy logs": staged.proxy(docker_client).logs().decode(errors="replace")},
                  traces(value))
    check_state_root(staged, state, value)


def test_a_failed_release_records_its_reason_and_last_lines_but_not_the_value(
        staged: Staged, docker_client: docker.DockerClient) -> None:
    value = new_secret()
    set_secret(staged, value)
    state = StateRoot(staged.state_root())
    staged.edit("endpoints/orders/app.py", HEALTH_ROUTE, DUMP_AND_FAIL_HEALTH + HEALTH_ROUTE)
    broken, plain, records = failing_deploys(staged, state, "UNHEALTHY", "--health-timeout", "3")
    [outcome] = broken.result()["data"]["endpoints"]
    assert outcome["ok"] is False
    assert "GET /health did not answer 200 within 3s (last: 503)" in outcome["reason"]
    assert "orders  FAILED  GET /health did not answer 200 within 3s" in plain.output
    assert any(e.get("event") == "log_lines" and e.get("source") == "orders/app"
               for e in broken.events)  # the app's logs were shown
    for record in records[1:]:
        assert "did not answer 200" in str(record["reason"])
        lines = [str(line) for line in record["last_lines"]]  # type: ignore[attr-defined]
        assert "env UNHEALTHY=1" in lines  # the container's last lines are recorded
    check_failure_leaks_nothing(staged, docker_client, state, value, [broken, plain], records)


def test_a_new_container_that_prints_its_environment_and_exits_fails_with_its_exit_code(
        staged: Staged, docker_client: docker.DockerClient) -> None:
    """It does not wait out the health timeout (the restart policy restarts it meanwhile)."""
    value = new_secret()
    set_secret(staged, value)
    state = StateRoot(staged.state_root())
    broken, plain, records = failing_deploys(staged, state, "CRASH", "--health-timeout", "15")
    [outcome] = broken.result()["data"]["endpoints"]
    assert "the new container exited with code 3 before it became healthy" in outcome["reason"]
    assert "orders  FAILED  the new container exited with code 3" in plain.output
    for record in records[1:]:
        lines = [str(line) for line in record["last_lines"]]  # type: ignore[attr-defined]
        assert "env CRASH=1" in lines
    check_failure_leaks_nothing(staged, docker_client, state, value, [broken, plain], records)


def test_config_hashes_and_secrets_generations_are_keyed_per_environment(
        staged: Staged, base_image: str, ssh_target: SSHTarget) -> None:
    """The same config and secret value in two environments give two config hashes: the hash
    is not a function of the value (a plain hash would be the same, and brute-forced)."""
    value = new_secret()
    with (staged.root / "workbench.yaml").open("a") as handle:
        handle.write(f"  staging2:\n    hosts: [{ssh_target.spec}]\n"
                     f"    proxy_port: {free_port()}\n    proxy_bind: 127.0.0.1\n"
                     f"    proxy_image: {base_image}\n")
    records = {}
    for env in ("staging", "staging2"):
        set_secret(staged, value, env)
        done = staged.workbench("deploy", "--env", env, "-e", "orders")
        assert done.returncode == 0, done.stdout + done.stderr
        [records[env]] = staged.releases("orders", env)
    one, two = records["staging"], records["staging2"]
    assert one["version"] == two["version"]
    assert one["config_hash"] and two["config_hash"]
    assert one["config_hash"] != two["config_hash"]
    assert one["secrets_generation"] and two["secrets_generation"]
    assert one["secrets_generation"] != two["secrets_generation"]
    check_outputs({"release records": json.dumps(records, indent=1)}, traces(value))


def test_a_rollback_runs_with_the_secrets_that_are_current_now(
        staged: Staged, docker_client: docker.DockerClient) -> None:
    values = {n: new_secret() for n in ("v1", "v2", "v3")}
    for release, secret in (("r1", "v1"), ("r2", "v2")):
        set_release(staged, release)
        set_secret(staged, values[secret])
        done = staged.deploy("-e", "orders")
        assert done.returncode == 0, done.stdout + done.stderr
        assert served(staged) == release
    set_secret(staged, values["v3"])  # rotated (v2 leaked, say); no new version
    back = staged.workbench("rollback", "--env", "staging", "-e", "orders")
    assert back.returncode == 0, back.stdout + back.stderr
    assert served(staged) == "r1"

    records = staged.releases("orders")
    assert [(r["kind"], r["outcome"]) for r in records] == [
        ("deploy", "ok"), ("deploy", "ok"), ("rollback", "ok")]
    assert records[2]["version"] == records[0]["version"]
    [running] = staged.apps(docker_client, "orders")
    assert running.name == records[2]["container"]
    env = running.attrs["Config"]["Env"]
    assert f"API_TOKEN={values['v3']}" in env, "the rolled-back container is not on v3"
    assert not {f"API_TOKEN={values[v]}" for v in ("v1", "v2")} & set(env)
    env_file = staged.state_root() / ENV_FILE  # rewritten at each rotation, still 0600
    assert env_file.read_text() == f"API_TOKEN={values['v3']}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    generations = [str(r["secrets_generation"]) for r in records]
    assert all(generations) and len(set(generations)) == 3, generations
    check_outputs({"release records": json.dumps(records, indent=1),
                   "rollback": back.stdout + back.stderr},
                  [t for v in values.values() for t in traces(v)])
