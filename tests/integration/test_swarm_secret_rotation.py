"""Swarm secrets (workbench/swarm/secrets.py) on the CI Swarm's manager, reached over SSH like
any host: made once per content, seen by an app as environment variables through the wrapper,
rotated to a new secret, the old one removed once no service mounts it, an object of another
owner refused; and never a value in a name, a label, an event or a message."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import pytest
from helpers import SSHTarget
from hosts import SwarmCluster, trust_ci_hosts

from workbench.engine import LABEL, Engine
from workbench.errors import OperationFailed
from workbench.swarm.secrets import (
    SecretRef,
    content_hash,
    ensure_secrets,
    env_file,
    remove_unused,
    secret_name,
    wrapped_command,
)
from workbench.tunnel import RemoteEngine

pytestmark = pytest.mark.integration

KEY = bytes(range(32))
TOKEN = "tok-'quoted' $HOME `id` \"x\" " + uuid.uuid4().hex[:8]  # taken literally by the app
ROTATED = "rotated-" + uuid.uuid4().hex


@pytest.fixture
def project(swarm_cluster: SwarmCluster) -> Iterator[str]:
    """A unique project name; its services and secrets are removed from the manager after."""
    name = f"sec{uuid.uuid4().hex[:8]}"
    yield name
    client = swarm_cluster.manager.client
    label = {"label": f"{LABEL}project={name}"}
    for service in client.services.list(filters=label):
        with suppress(docker.errors.NotFound):
            service.remove()
    for _ in range(600):  # a safety cap: Swarm lets a secret go once its service is gone
        left = client.secrets.list(filters=label)
        if not left:
            break
        for secret in left:
            with suppress(docker.errors.APIError):
                secret.remove()


@asynccontextmanager
async def manager(cluster: SwarmCluster, home: Path, target: SSHTarget) -> AsyncIterator[Engine]:
    trust_ci_hosts(home, target)
    async with RemoteEngine(cluster.manager.host(), "swarm-test") as engine:
        yield engine


def service(client: docker.DockerClient, project: str, ref: SecretRef, command: list[str],
            base: str) -> Any:
    """A one-task service of the base image running ``command`` with the secret mounted."""
    wrapper, args = wrapped_command(None, command)
    return client.services.create(
        base, command=wrapper, args=args, name=f"{project}_app",
        labels={f"{LABEL}project": project},
        secrets=[docker.types.SecretReference(ref.id, ref.name, filename=ref.target)],
        restart_policy=docker.types.RestartPolicy(condition="none"))


async def state(service: Any, *until: str) -> str:
    """The state of the service's task once it is one of ``until`` or has ended."""
    for _ in range(3000):  # a safety cap
        tasks = service.tasks()
        state = tasks[0]["Status"]["State"] if tasks else "new"
        if state in ("complete", "failed", "rejected", "shutdown", *until):
            return str(state)
        await asyncio.sleep(0.1)
    raise AssertionError(f"the task never ended: {state}")


async def test_the_app_sees_the_secrets_as_its_environment_and_a_second_run_reuses_it(
        swarm_cluster: SwarmCluster, ssh_target: SSHTarget, isolated_env: Path, project: str,
        base_image: str) -> None:
    values = {"TOKEN": TOKEN, "OTHER": "second-value-" + uuid.uuid4().hex[:6]}
    async with manager(swarm_cluster, isolated_env, ssh_target) as engine:
        [ref] = await ensure_secrets(engine, project, "prod", "orders", values, KEY)
        assert await ensure_secrets(engine, project, "prod", "orders", values, KEY) == [ref]
    digest = content_hash(KEY, project, "prod", "orders", env_file(values))
    assert ref.name == secret_name(project, "prod", "orders", digest)
    found = swarm_cluster.manager.client.secrets.get(ref.id).attrs["Spec"]
    assert found["Labels"] == {f"{LABEL}project": project, f"{LABEL}env": "prod",
                               f"{LABEL}role": "secret", f"{LABEL}endpoint": "orders",
                               f"{LABEL}secrets": "OTHER,TOKEN"}
    want = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in values.items()}
    check = ("import hashlib, os, sys\n"
             f"want = {want!r}\n"
             "got = {k: hashlib.sha256(os.environ.get(k, '').encode()).hexdigest() for k in want}\n"
             "sys.exit(0 if got == want else 3)\n")
    app = service(swarm_cluster.manager.client, project, ref, ["python3", "-c", check],
                  base_image)
    assert await state(app) == "complete"  # exit 0: every value arrived, literally
    for text in (ref, found, app.attrs):
        assert TOKEN not in str(text) and values["OTHER"] not in str(text)


async def test_a_rotation_is_a_new_secret_and_the_old_one_goes_once_unused(
        swarm_cluster: SwarmCluster, ssh_target: SSHTarget, isolated_env: Path, project: str,
        base_image: str) -> None:
    client = swarm_cluster.manager.client
    async with manager(swarm_cluster, isolated_env, ssh_target) as engine:
        [old] = await ensure_secrets(engine, project, "prod", "orders", {"TOKEN": TOKEN}, KEY)
        app = service(client, project, old, ["python3", "-c", "import time; time.sleep(3600)"],
                      base_image)
        assert await state(app, "running") == "running"
        [new] = await ensure_secrets(engine, project, "prod", "orders", {"TOKEN": ROTATED}, KEY)
        assert new.name != old.name
        assert await remove_unused(engine, project, "prod", "orders", [new.name]) == []  # mounted
        app.reload()
        app.update(secrets=[docker.types.SecretReference(new.id, new.name, filename=new.target)])
        assert await remove_unused(engine, project, "prod", "orders", [new.name]) == [old.name]
        ours = client.secrets.list(filters={"label": f"{LABEL}project={project}"})
        assert {s.name for s in ours} == {new.name}
        assert await remove_unused(engine, project, "prod", "orders", [new.name]) == []


async def test_an_object_of_another_owner_with_our_name_is_refused_without_values(
        swarm_cluster: SwarmCluster, ssh_target: SSHTarget, isolated_env: Path,
        project: str) -> None:
    values = {"TOKEN": TOKEN}
    name = secret_name(project, "prod", "orders",
                       content_hash(KEY, project, "prod", "orders", env_file(values)))
    swarm_cluster.manager.client.secrets.create(name=name, data=b"not ours",
                                                labels={f"{LABEL}project": project})
    async with manager(swarm_cluster, isolated_env, ssh_target) as engine:
        with pytest.raises(OperationFailed) as caught:
            await ensure_secrets(engine, project, "prod", "orders", values, KEY)
    assert caught.value.line.startswith(f"secret {name} on root@127.0.0.1:")
    assert "belongs to something else" in caught.value.line and TOKEN not in caught.value.line
