"""The per-environment key that secret values are compared under, kept on the server.

Secret values never leave the process, not even as plain hashes (a sha256 of a weak secret is
brute-forced in seconds). What deploys record instead is an HMAC-SHA256 under a random key
that lives in the environment's state root (``secrets/hmac.key``, mode 0600, made on first use;
on the environment's first host): the config hash of a release, and its *secrets generation*,
which tells two releases' secrets apart (same or differs) without saying anything about them
to whoever lacks the server's key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from .errors import OperationFailed
from .state import Store

KEY_PATH = "secrets/hmac.key"
KEY_BYTES = 32


async def read_key(store: Store) -> bytes | None:
    """The environment's key, or None when no deploy made one yet (changes nothing)."""
    found = await store.read(KEY_PATH)
    if found is None:
        return None
    try:
        key = bytes.fromhex(found.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < KEY_BYTES:
        raise OperationFailed(f"the secrets key {store.where}/{KEY_PATH} is damaged",
                              "remove it: the next deploy makes a new one (config hashes of "
                              "earlier releases then differ once)")
    return key


async def env_key(store: Store) -> bytes:
    """The environment's key, made when missing. Call it while holding the environment's
    lock (deploys and rollbacks do), so that two first deploys cannot make two keys."""
    found = await read_key(store)
    if found is not None:
        return found
    key = secrets.token_bytes(KEY_BYTES)
    await store.write(KEY_PATH, key.hex().encode() + b"\n", mode=0o600)
    return key


def seal(key: bytes, name: str, value: str) -> str:
    """The HMAC of one secret (its name bound in), as hex."""
    return hmac.new(key, f"{name}\0{value}".encode(), hashlib.sha256).hexdigest()


def generation(key: bytes, values: Mapping[str, str]) -> str:
    """A short id of a set of secrets under ``key``: equal for equal names and values ("" for
    none)."""
    if not values:
        return ""
    body = "\0".join(seal(key, name, values[name]) for name in sorted(values))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:16]
