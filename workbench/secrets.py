"""Secrets files: ``NAME=value`` lines, git-ignored, one per environment.

The rules, as dotenv users expect them; what tools read differently is refused, not guessed:

- blank lines and lines starting with ``#`` are skipped; ``export NAME=value`` is allowed;
  spaces around ``=`` and around the value are dropped; a NAME given twice: the last wins.
- unquoted: ``NAME=value # comment`` is ``value``: a ``#`` after a space or tab starts a
  comment; any other ``#`` is kept (``a#b``). A value starting with ``#`` is refused.
- quoted: ``'...'`` or ``"..."`` keeps everything inside literally (``#`` too); after the
  closing quote only a ``# comment`` may follow. Refused: an unclosed quote (values are one
  line), text after the closing quote, a backslash inside ``"..."`` (escapes differ).
- no expansion: ``${`` is refused outside single quotes (dotenv tools would expand it).
- no control characters but tab (no NUL, no CR): a value reaches a process environment
  and a ``NAME=value`` file on the server, where a line break would start a new variable.

Values are read only to hand them to a container; they are never printed, logged or put in
an error message (errors name the file, the line and the secret's name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .errors import BadInput, ConfigError
from .schema import control_problem, is_env_name
from .yamlfile import read_text

_COMMENT = re.compile(r"[ \t]#")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a secrets file by the rules in the module docstring."""
    values: dict[str, str] = {}
    for number, raw in enumerate(read_text(path, "the secrets file").split("\n"), 1):
        line = raw.removesuffix("\r").strip(" \t")
        if not line or line.startswith("#"):
            continue
        bad = control_problem(line)
        if bad:
            raise ConfigError(path, number, f"the line contains {bad}",
                              "remove it: a secret is one line of text")
        name, value = _parse(line, path, number)
        values[name] = value
    return values


def _parse(line: str, path: Path, number: int) -> tuple[str, str]:
    """(NAME, value) of one ``NAME=value`` line; errors never show the value."""
    if line.startswith("export") and line[6:7] in (" ", "\t"):
        line = line[6:].lstrip(" \t")
    name, equals, value = line.partition("=")
    name = name.rstrip(" \t")
    if not equals or not is_env_name(name):
        raise ConfigError(path, number, "not a NAME=value line",
                          "write secrets as NAME=value, one per line")

    def refuse(problem: str, fix: str) -> ConfigError:
        return ConfigError(path, number, f"the value of {name} {problem}", fix)

    value = value.strip(" \t")
    quote = value[:1]
    if quote in ("'", '"'):
        end = value.find(quote, 1)
        if end < 0:
            raise refuse(f"opens a {quote} quote and does not close it",
                         "close it on the same line (a value is one line)")
        rest = value[end + 1:].lstrip(" \t")
        value = value[1:end]
        if rest and not rest.startswith("#"):
            raise refuse("has text after its closing quote",
                         "put the whole value inside the quotes; a comment starts with ' #'")
        if quote == '"' and "\\" in value:
            raise refuse("has a backslash inside double quotes, which tools read differently",
                         "use single quotes to keep it literally")
    else:
        if value.startswith("#"):
            raise refuse("starts with '#': is it the value or a comment?",
                         f"quote it ({name}='#...') or put the comment on its own line")
        comment = _COMMENT.search(value)
        if comment:
            value = value[:comment.start()].rstrip(" \t")
    if quote != "'" and "${" in value:
        raise refuse("has '${', which workbench does not expand",
                     "write the value itself, or single-quote it to keep '${' literally")
    return name, value


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
