"""An endpoint's secrets as a Swarm secret, named by its content.

A Swarm secret cannot be changed in place (moby #35048), so a changed value must be a new
secret. Each endpoint gets ONE secret holding its env file (``NAME='value'`` lines, sorted),
named ``wb_<project>_<env>_<endpoint>_<hmac12>``: the HMAC of that content under the
environment's key (:mod:`workbench.envkey`), never a plain hash, which a weak secret would not
survive. Same values, same name: nothing is created. Any change: a new name, so a rotation is a
service update to a new secret, and :func:`remove_unused` removes the old one once no service
uses it (after a successful deploy).

Why one secret and not one per variable: a change of any value is one new object and one
reference, the service's secret list is always one entry, and the content is exactly the
``secrets/<endpoint>.env`` file that a single host keeps.

How the app sees them: as environment variables, as on the docker engine, without changing any
app. Swarm mounts the secret as the file ``/run/secrets/workbench.env`` (:data:`TARGET`), and the
service runs the image's own entrypoint and command through a ``/bin/sh`` wrapper
(:func:`wrapped_command`) that exports that file's variables and then runs them with ``exec``
(the app stays PID 1 and gets the stop signal). The python template and the base image have
``/bin/sh``; an image without a shell cannot take secrets this way. The file is shell syntax, so
an app may also read it itself.

Values never appear in a name, a label, an event, a log line or an error message.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import envkey, naming
from ..engine import LABEL, Engine, blocking
from ..errors import BadInput, OperationFailed
from ..redact import Redactor
from ..schema import control_problem, is_env_name

TARGET = "workbench.env"
"""The secret's file name in each task: ``/run/secrets/workbench.env``."""
NAME_LIMIT = 64
"""Swarm's limit on secret names (and only [a-zA-Z0-9-_.], alphanumeric at both ends)."""
HASH = 12
SCRIPT = 'set -a && . /run/secrets/{target} && set +a && exec "$@"'


@dataclass(frozen=True, slots=True)
class SecretRef:
    """One Swarm secret a service mounts: ``docker.types.SecretReference(id, name, target)``."""

    name: str
    id: str
    target: str = TARGET


# -- pure parts ----------------------------------------------------------------------------------
def env_file(values: Mapping[str, str]) -> bytes:
    """The secret's content: ``NAME='value'`` lines, sorted, single-quoted for ``/bin/sh``
    (a ``'`` in a value is written ``'\\''``). Refuses what a line cannot carry, naming the
    variable, never the value."""
    lines = []
    for name in sorted(values):
        value = values[name]
        if not is_env_name(name):
            raise BadInput(f"secret name {name!r} is not a variable name",
                           "use letters, digits and '_', not starting with a digit")
        bad = control_problem(value)
        if bad:
            raise BadInput(f"the value of secret {name} contains {bad}",
                           "a secret is one line of text")
        quoted = value.replace("'", "'\\''")
        lines.append(f"{name}='{quoted}'\n")
    return "".join(lines).encode()


def content_hash(key: bytes, project: str, env: str, endpoint: str, content: bytes) -> str:
    """The HMAC (under the environment's ``key``) of ``content`` as this endpoint's secret,
    shortened to :data:`HASH` hex digits. The endpoint is bound in: two endpoints with the same
    values still get two names (and two owners)."""
    scope = f"swarm-secret:{project}/{env}/{endpoint}"  # never a variable's name (':' and '/')
    return envkey.seal(key, scope, content.decode())[:HASH]


def secret_name(project: str, env: str, endpoint: str, digest: str) -> str:
    """``wb_<project>_<env>_<endpoint>_<digest>``, its readable part cut when the whole would
    pass Swarm's 64 characters (names of up to 40 characters each can). The digest binds the
    endpoint, and objects are found by labels, so a cut name stays unique and unambiguous."""
    readable = naming.network(project, env) + naming.SEP + endpoint
    room = NAME_LIMIT - len(naming.SEP) - len(digest)
    if len(readable) > room:
        readable = readable[:room].rstrip("-_.")
    return f"{readable}{naming.SEP}{digest}"


def wrapped_command(entrypoint: Sequence[str] | None,
                    cmd: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The service's ``command`` and ``args`` (ContainerSpec) that run the image's own
    ``entrypoint`` + ``cmd`` (from its inspect: ``Config.Entrypoint``, ``Config.Cmd``) with the
    secret file's variables exported."""
    args = [*(entrypoint or ()), *(cmd or ())]
    if not args:
        raise BadInput("the image has neither ENTRYPOINT nor CMD, so secrets cannot be handed "
                       "to its program", "give its Dockerfile a CMD")
    return ["/bin/sh", "-c", SCRIPT.format(target=TARGET), "workbench-secrets"], args


def secret_labels(project: str, env: str, endpoint: str,
                  values: Mapping[str, str]) -> dict[str, str]:
    """The secret's labels: identity (role=secret) and the variables' names (not values)."""
    return {**naming.labels(project, env, "secret", endpoint),
            f"{LABEL}secrets": ",".join(sorted(values))}


def in_use(services: Sequence[Mapping[str, Any]]) -> set[str]:
    """Ids and names of the secrets that the services' current specs mount (what Swarm itself
    refuses to remove)."""
    used: set[str] = set()
    for service in services:
        template = (service.get("Spec") or {}).get("TaskTemplate") or {}
        for ref in (template.get("ContainerSpec") or {}).get("Secrets") or ():
            used.update(str(ref[k]) for k in ("SecretID", "SecretName") if ref.get(k))
    return used


# -- on the manager ------------------------------------------------------------------------------
async def ensure_secrets(engine: Engine, project: str, env: str, endpoint: str,
                         values: Mapping[str, str], key: bytes) -> list[SecretRef]:
    """The endpoint's secret for ``values`` on the Swarm manager ``engine``: created when absent,
    reused when there, refused when an object of another owner has its name. Empty ``values``:
    no secret ([])."""
    if not values:
        return []
    content = env_file(values)
    name = secret_name(project, env, endpoint,
                       content_hash(key, project, env, endpoint, content))
    labels = secret_labels(project, env, endpoint, values)
    mask = Redactor(values)
    ident = await blocking(lambda: _ensure(engine, name, content, labels, mask))
    return [SecretRef(name, ident, TARGET)]


def _ensure(engine: Engine, name: str, content: bytes, labels: Mapping[str, str],
            mask: Redactor) -> str:
    import docker.errors

    wanted = {k: v for k, v in labels.items() if k != f"{LABEL}secrets"}
    found = _found(engine, name, mask)
    if found is None:
        try:
            return str(engine.api.create_secret(name, content, labels=dict(labels))["ID"])
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: made meanwhile (by another run): check it
                raise _failed(engine, f"cannot create secret {name}", exc, mask) from None
        found = _found(engine, name, mask)
        if found is None:
            raise OperationFailed(f"secret {name} on {engine.where} was said to exist, then "
                                  "not", "run it again")
    spec = found.get("Spec") or {}
    naming.check_owned("secret", name, spec.get("Labels"), wanted, engine.where)
    return str(found["ID"])


def _found(engine: Engine, name: str, mask: Redactor) -> dict[str, Any] | None:
    """The secret named exactly ``name``, or None."""
    import docker.errors

    try:
        found = engine.api.inspect_secret(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise _failed(engine, f"cannot read secret {name}", exc, mask) from None
    if (found.get("Spec") or {}).get("Name") != name:  # an id's prefix matched, not the name
        return None
    return dict(found)


async def remove_unused(engine: Engine, project: str, env: str, endpoint: str,
                        keep: Collection[str]) -> list[str]:
    """Remove the endpoint's secrets (found by labels) other than ``keep`` (names or ids) that
    no service mounts any more; returns the names removed. One that a service took meanwhile
    is left (Swarm refuses it), as is one already gone."""
    filters = {"label": [f"{k}={v}" for k, v in
                         naming.labels(project, env, "secret", endpoint).items()]}
    return await blocking(lambda: _remove_unused(engine, filters, set(keep)))


def _remove_unused(engine: Engine, filters: dict[str, Any], keep: set[str]) -> list[str]:
    import docker.errors

    mask = Redactor({})
    try:
        ours = engine.api.secrets(filters=filters)
        used = in_use(engine.api.services()) | keep
    except docker.errors.APIError as exc:
        raise _failed(engine, "cannot list secrets and services", exc, mask) from None
    removed = []
    for secret in ours:
        name = str((secret.get("Spec") or {}).get("Name", ""))
        if secret.get("ID") in used or name in used:
            continue
        try:
            engine.api.remove_secret(secret["ID"])
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            if "in use" in str(exc.explanation or ""):
                continue
            raise _failed(engine, f"cannot remove secret {name}", exc, mask) from None
        removed.append(name)
    return sorted(removed)


def _failed(engine: Engine, what: str, exc: Any, mask: Redactor) -> OperationFailed:
    """One line for a refused call; the engine's words masked (they never hold values, but a
    refusal is no place to find out)."""
    reason = " ".join(mask([str(exc.explanation or exc)])).splitlines()[0][:200]
    if getattr(exc, "status_code", None) == 503 or "not a swarm manager" in reason.lower():
        return OperationFailed(f"{what} on {engine.where}: it is no Swarm manager ({reason})",
                               "make the environment's first host a Swarm manager ('docker "
                               "swarm init' there), or set engine: docker")
    return OperationFailed(f"{what} on {engine.where} ({reason})",
                           "check the Swarm's state there ('docker info')")
