"""Read YAML files keeping the line of every key and item, for errors that name file and line.

Mappings load as :class:`LineDict` and sequences as :class:`LineList`; both remember where they
and their entries start. Duplicate keys and non-text keys are errors, not silent overwrites.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, OperationFailed

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence that remembers its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _LineLoader(_Loader):  # type: ignore[misc, valid-type]
    path: str = "<yaml>"


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise ConfigError(
                loader.path, line, f"the key {key!r} is not text", "quote it, e.g. \"on\": ..."
            )
        if key in result:
            raise ConfigError(
                loader.path,
                line,
                f"'{key}' is given twice (first on line {result.key_lines[key]})",
                "keep one of them",
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse(text: str, path: Path | str) -> Any:
    """Parse YAML ``text`` that came from ``path``; ConfigError (with the line) when malformed."""
    loader = _LineLoader(text)
    loader.path = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(filter(None, [exc.context, exc.problem])) or "malformed YAML"
        raise ConfigError(path, line, f"invalid YAML: {problem}", "fix the syntax there") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, f"invalid YAML: {exc}", "fix the syntax") from None
    finally:
        loader.dispose()


def read(path: Path) -> tuple[str, Any]:
    """Read and parse a YAML file; returns its text and data."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "the file is missing", "create it or fix the path") from None
    except UnicodeDecodeError:
        raise ConfigError(path, None, "the file is not UTF-8 text", "save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read the file ({exc.strerror})", None) from None
    return text, parse(text, path)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a reader sees the old or the new file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OperationFailed(
            f"cannot write {path} ({exc.strerror})", "check the folder's permissions and free space"
        ) from None
