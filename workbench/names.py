"""Names of projects, endpoints, models, utilities and environments.

A name is a DNS label that also works as a folder, a git repo, a Python package (dashes become
underscores) and a part of a Docker object name: lower-case letters, digits and '-', starting
with a letter, not ending with '-', at most 40 characters.
"""

from __future__ import annotations

import re

from .errors import BadInput

MAX_LENGTH = 40
_NAME = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
#: Names that workbench uses for its own objects on a server.
RESERVED = frozenset({"proxy", "workbench"})


def problem(name: object) -> str | None:
    """Why ``name`` is not a valid name, or None when it is."""
    if not isinstance(name, str) or not name:
        return "a name must be non-empty text"
    if len(name) > MAX_LENGTH:
        return f"{_shown(name[:48])} is {len(name)} characters long; the limit is {MAX_LENGTH}"
    if not _NAME.fullmatch(name):  # not match(): '$' would accept a trailing newline
        allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
        bad = sorted({c for c in name if c not in allowed})
        shown = " ".join(repr(c) for c in bad[:5])
        if bad:
            return f"{_shown(name)} contains {shown}; use only a-z, 0-9 and '-'"
        if not name[0].isalpha():
            return f"{_shown(name)} must start with a letter"
        return f"{_shown(name)} must not end with '-'"
    return None


def _shown(name: str) -> str:
    """``name`` quoted for a message; escaped when it holds control characters."""
    return f"'{name}'" if name.isprintable() else repr(name)


def suggest(name: str) -> str:
    """A valid name close to ``name``, for the fix in an error message."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    cleaned = re.sub(r"^[^a-z]+", "", cleaned)[:MAX_LENGTH].rstrip("-")
    return cleaned or "my-service"


def check(name: object, what: str) -> str:
    """Return ``name`` if valid, else raise BadInput naming the problem and a valid choice."""
    reason = problem(name)
    if reason is None:
        assert isinstance(name, str)
        return name
    if isinstance(name, str) and name:
        fix = f"try '{suggest(name)}'"
    else:
        fix = f"give the {what} a name such as 'orders'"
    raise BadInput(f"bad {what} name: {reason}", fix)


def package(name: str) -> str:
    """The Python package name for ``name``."""
    return name.replace("-", "_")
