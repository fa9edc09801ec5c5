"""Secrets files: ``NAME=value`` lines, git-ignored, one per environment.

Values are read only to hand them to a container; they are never printed, logged or put in
an error message (errors name the file, the line and the secret's name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .errors import BadInput, ConfigError

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a dotenv-style file: ``NAME=value``, ``#`` comments, optional quotes."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ConfigError(path, number, "not a NAME=value line",
                              "write secrets as NAME=value, one per line")
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def secrets_for(root: Path, secrets_file: str, env_name: str, endpoint: str,
                wanted: Sequence[str]) -> dict[str, str]:
    """The values of the secrets ``endpoint`` declares, from the environment's secrets file."""
    if not wanted:
        return {}
    path = root / secrets_file
    if not path.is_file():
        raise BadInput(f"endpoint '{endpoint}' needs secrets {', '.join(wanted)} but {path} "
                       "does not exist", f"create it (git-ignored) with NAME=value lines for "
                       f"the '{env_name}' environment")
    values = read_env_file(path)
    missing = [name for name in wanted if name not in values]
    if missing:
        raise BadInput(f"{path} has no value for {', '.join(missing)} (needed by endpoint "
                       f"'{endpoint}')", "add NAME=value lines for them")
    return {name: values[name] for name in wanted}
