"""Swarm secrets named by content (workbench/swarm/secrets.py) against a fake manager: names
under the environment's key, made only when absent, foreign objects refused, old ones removed
only when no service mounts them, the wrapper that exports them, and never a value in any
name, label, message or event."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest
import requests

from workbench.engine import LABEL, Engine
from workbench.errors import BadInput, OperationFailed
from workbench.swarm.secrets import (
    TARGET,
    SecretRef,
    content_hash,
    ensure_secrets,
    env_file,
    remove_unused,
    secret_name,
    wrapped_command,
)

KEY = bytes(range(32))
VALUES = {"TOKEN": "tok-9x'5ecret-Vq8w", "DB_PASSWORD": "pw $HOME `id` \"x\""}
NAME_RE = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")  # Swarm's rule


def api_error(status: int, text: str, cls: type[docker.errors.APIError] = docker.errors.APIError
              ) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return cls(text, response=response, explanation=text)


class FakeManager:
    """The secrets and services of a Swarm manager."""

    def __init__(self) -> None:
        self.secrets_by_id: dict[str, dict[str, Any]] = {}
        self.data: dict[str, bytes] = {}
        self.services_: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.refuse: docker.errors.APIError | None = None
        self.in_use_race: set[str] = set()

    def add(self, name: str, labels: dict[str, str]) -> str:
        ident = f"id{len(self.secrets_by_id):023d}"
        self.secrets_by_id[ident] = {"ID": ident, "Spec": {"Name": name, "Labels": labels}}
        return ident

    def inspect_secret(self, ref: str) -> dict[str, Any]:
        self.calls.append(f"inspect {ref}")
        if self.refuse:
            raise self.refuse
        for secret in self.secrets_by_id.values():
            if ref in (secret["ID"], secret["Spec"]["Name"]):
                return secret
        raise api_error(404, f"secret {ref} not found", docker.errors.NotFound)

    def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> dict[str, str]:
        self.calls.append(f"create {name}")
        ident = self.add(name, labels)
        self.data[name] = data
        return {"ID": ident}

    def secrets(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        wanted = dict(f.split("=", 1) for f in filters["label"])
        return [s for s in self.secrets_by_id.values()
                if all(s["Spec"]["Labels"].get(k) == v for k, v in wanted.items())]

    def services(self) -> list[dict[str, Any]]:
        return self.services_

    def remove_secret(self, ident: str) -> None:
        name = self.secrets_by_id[ident]["Spec"]["Name"]
        if name in self.in_use_race:
            raise api_error(400, f"rpc error: code = InvalidArgument desc = secret '{name}' is "
                                 "in use by the following service: other")
        self.calls.append(f"remove {name}")
        del self.secrets_by_id[ident]

    def mount(self, name: str) -> None:
        ident = next(i for i, s in self.secrets_by_id.items() if s["Spec"]["Name"] == name)
        self.services_.append({"Spec": {"TaskTemplate": {"ContainerSpec": {"Secrets": [
            {"SecretID": ident, "SecretName": name, "File": {"Name": TARGET}}]}}}})


def engine(api: FakeManager) -> Engine:
    return Engine(SimpleNamespace(api=api, close=lambda: None), "root@manager")  # type: ignore[arg-type]


def ensure(api: FakeManager, values: dict[str, str] = VALUES, endpoint: str = "orders",
           key: bytes = KEY) -> list[SecretRef]:
    return asyncio.run(ensure_secrets(engine(api), "shop", "prod", endpoint, values, key))


def ours(endpoint: str = "orders") -> dict[str, str]:
    return {f"{LABEL}project": "shop", f"{LABEL}env": "prod", f"{LABEL}role": "secret",
            f"{LABEL}endpoint": endpoint}


def assert_no_values(*texts: object) -> None:
    for text in texts:
        for value in VALUES.values():
            assert value not in str(text)


# -- names ----------------------------------------------------------------------------------------
def test_the_name_is_an_hmac_of_the_content_under_the_key_never_a_plain_hash() -> None:
    content = env_file(VALUES)
    digest = content_hash(KEY, "shop", "prod", "orders", content)
    assert re.fullmatch("[0-9a-f]{12}", digest)
    assert digest not in hashlib.sha256(content).hexdigest()
    assert content_hash(bytes(32), "shop", "prod", "orders", content) != digest  # key matters
    assert content_hash(KEY, "shop", "prod", "billing", content) != digest  # endpoint bound in
    changed = env_file({**VALUES, "TOKEN": "rotated-value-1"})
    assert content_hash(KEY, "shop", "prod", "orders", changed) != digest
    assert secret_name("shop", "prod", "orders", digest) == f"wb_shop_prod_orders_{digest}"


def test_long_names_are_cut_to_swarms_64_characters() -> None:
    long = "a" * 39 + "-b"
    name = secret_name(long, long, long, "0123456789ab")
    assert len(name) == 64 and NAME_RE.fullmatch(name) and name.endswith("_0123456789ab")
    dashed = secret_name("a" * 46, "b", "c", "0123456789ab")  # a cut at a '-' is trimmed
    assert NAME_RE.fullmatch(dashed) and len(dashed) <= 64


def test_the_env_file_is_sorted_quoted_and_exported_by_the_wrapper(tmp_path: Any) -> None:
    content = env_file(VALUES)
    assert content.decode().splitlines()[0].startswith("DB_PASSWORD='")
    secrets_dir = tmp_path / "run"
    secrets_dir.mkdir()
    (secrets_dir / TARGET).write_bytes(content)
    command, args = wrapped_command(None, ["python3", "-c", "import os, json; print(json.dumps("
                                           "{k: os.environ[k] for k in ('TOKEN', "
                                           "'DB_PASSWORD')}))"])
    assert command[:2] == ["/bin/sh", "-c"] and f"/run/secrets/{TARGET}" in command[2]
    script = command[2].replace("/run/secrets", str(secrets_dir))
    done = subprocess.run([command[0], "-c", script, *command[3:], *args], capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout) == VALUES  # literally: no expansion, quotes kept
    assert wrapped_command(["/entry.sh"], ["serve"])[1] == ["/entry.sh", "serve"]
    with pytest.raises(BadInput, match="neither ENTRYPOINT nor CMD"):
        wrapped_command(None, [])


def test_values_a_line_cannot_carry_are_refused_by_name() -> None:
    with pytest.raises(BadInput) as caught:
        env_file({"TOKEN": "two\nlines-secret"})
    assert "TOKEN" in caught.value.line and "two" not in caught.value.line
    with pytest.raises(BadInput, match="is not a variable name"):
        env_file({"1X": "value"})


# -- ensure_secrets -------------------------------------------------------------------------------
def test_a_secret_is_made_once_with_our_labels_and_reused_while_the_values_stay() -> None:
    api = FakeManager()
    [ref] = ensure(api)
    assert ref.target == TARGET and NAME_RE.fullmatch(ref.name)
    assert ref.name.startswith("wb_shop_prod_orders_") and api.data[ref.name] == env_file(VALUES)
    labels = api.secrets_by_id[ref.id]["Spec"]["Labels"]
    assert labels == {**ours(), f"{LABEL}secrets": "DB_PASSWORD,TOKEN"}
    api.calls.clear()
    assert ensure(api) == [ref]
    assert api.calls == [f"inspect {ref.name}"]  # found: nothing created
    [rotated] = ensure(api, {**VALUES, "TOKEN": "rotated-value-1"})
    assert rotated.name != ref.name and len(api.secrets_by_id) == 2
    assert ensure(api, {}) == []
    assert_no_values(ref, rotated, labels, api.calls)


def test_an_object_of_another_owner_with_our_name_is_refused() -> None:
    api = FakeManager()
    [ref] = ensure(api)
    api.secrets_by_id[ref.id]["Spec"]["Labels"] = {f"{LABEL}project": "other"}
    with pytest.raises(OperationFailed) as caught:
        ensure(api)
    assert caught.value.line == (f"secret {ref.name} on root@manager belongs to something else "
                                 "(project=other); rename or remove that secret there; "
                                 "workbench never adopts an object by its name alone")
    assert_no_values(caught.value.line)


def test_a_secret_made_meanwhile_by_another_run_is_checked_and_used() -> None:
    api = FakeManager()
    content = env_file(VALUES)
    name = secret_name("shop", "prod", "orders",
                       content_hash(KEY, "shop", "prod", "orders", content))
    real_inspect = api.inspect_secret
    first = [True]

    def late(ref: str) -> dict[str, Any]:
        if first[0]:  # absent when asked, made before our create
            first[0] = False
            api.add(name, ours())
            raise api_error(404, "not found", docker.errors.NotFound)
        return real_inspect(ref)

    def conflict(*_a: Any, **_k: Any) -> dict[str, str]:
        raise api_error(409, f"rpc error: code = AlreadyExists desc = secret {name} already exists")

    api.inspect_secret, api.create_secret = late, conflict  # type: ignore[method-assign]
    [ref] = ensure(api)
    assert ref.name == name and ref.id == next(iter(api.secrets_by_id))


def test_an_engine_that_is_no_manager_is_one_line_without_values() -> None:
    api = FakeManager()
    api.refuse = api_error(503, "This node is not a swarm manager. Use \"docker swarm init\" "
                                "or \"docker swarm join\" to connect this node to swarm and try "
                                "again.")
    with pytest.raises(OperationFailed) as caught:
        ensure(api)
    assert caught.value.line.startswith("cannot read secret wb_shop_prod_orders_")
    assert "on root@manager: it is no Swarm manager (This node is not a swarm manager." in (
        caught.value.line)
    assert caught.value.line.endswith("make the environment's first host a Swarm manager ('docker "
                                      "swarm init' there), or set engine: docker")
    assert_no_values(caught.value.line)
    api.refuse = api_error(500, f"odd engine that echoes {VALUES['TOKEN']}")  # masked anyway
    with pytest.raises(OperationFailed) as caught:
        ensure(api)
    assert "odd engine that echoes ***" in caught.value.line
    assert_no_values(caught.value.line)


# -- remove_unused ---------------------------------------------------------------------------------
def test_old_secrets_go_once_no_service_mounts_them() -> None:
    api = FakeManager()
    [old] = ensure(api, {"TOKEN": "first-value-1"})
    [mounted] = ensure(api, {"TOKEN": "second-value"})
    [new] = ensure(api, {"TOKEN": "third-value-3"})
    [other_endpoint] = ensure(api, {"TOKEN": "first-value-1"}, endpoint="billing")
    foreign = api.add("wb_shop_prod_orders_000000000000", {f"{LABEL}project": "other"})
    api.mount(mounted.name)  # a service still runs with it
    removed = asyncio.run(remove_unused(engine(api), "shop", "prod", "orders", [new.name]))
    assert removed == [old.name]
    assert {s["Spec"]["Name"] for s in api.secrets_by_id.values()} == {
        mounted.name, new.name, other_endpoint.name, api.secrets_by_id[foreign]["Spec"]["Name"]}
    api.services_.clear()
    api.in_use_race = {mounted.name}  # a service took it between the listing and the remove
    assert asyncio.run(remove_unused(engine(api), "shop", "prod", "orders", [new.id])) == []
    api.in_use_race = set()
    assert asyncio.run(remove_unused(engine(api), "shop", "prod", "orders",
                                     [new.id])) == [mounted.name]
