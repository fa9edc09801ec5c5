"""Read YAML files keeping the line of every key and item, for errors that name file and line.

Mappings load as :class:`LineDict` and sequences as :class:`LineList`; both remember where they
and their entries start. Duplicate keys and non-text keys are errors, not silent overwrites.
Every problem with a file (missing, not a regular file, over :data:`MAX_BYTES`, not UTF-8,
malformed, nested over :data:`MAX_DEPTH` levels) is a :class:`ConfigError` naming its line.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, OperationFailed

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_BYTES = 1 << 20
"""Project files (YAML, secrets, answers) are at most 1 MiB: a real one is a few KiB."""
MAX_DEPTH = 64
"""Nesting deeper than this is refused (a project file needs a handful of levels)."""


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
        node = loader.get_single_node()
        if node is None:
            return None
        _check_depth(node, path)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(filter(None, [exc.context, exc.problem])) or "malformed YAML"
        raise ConfigError(path, line, f"invalid YAML: {problem}", "fix the syntax there") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(path, line, f"invalid YAML: the control character "
                          f"U+{exc.character:04X} is not allowed in a YAML file",
                          "remove it (in a double-quoted string write an escape such as \\t)"
                          ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, f"invalid YAML: {exc}", "fix the syntax") from None
    except RecursionError:  # _check_depth keeps this from happening; never a traceback
        raise ConfigError(path, None, "the YAML is nested too deeply",
                          f"use at most {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _check_depth(root: yaml.Node, path: Path | str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before constructing (which recurses per level).

    Each node is visited once, so aliases (``*a``) cost nothing extra and cycles end."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if depth > MAX_DEPTH and not isinstance(node, yaml.ScalarNode):
            raise ConfigError(path, node.start_mark.line + 1,
                              f"invalid YAML: nested more than {MAX_DEPTH} levels deep",
                              "flatten it; project files need only a few levels")
        if isinstance(node, yaml.SequenceNode):
            children = node.value[::-1]
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value[::-1] for child in pair[::-1]]
        else:
            continue
        stack.extend((child, depth + 1) for child in children
                     if not isinstance(child, yaml.ScalarNode))


def read_text(path: Path, what: str = "the file") -> str:
    """The text of a project file, or a ConfigError saying why it cannot be used.

    Refuses what is not a regular file (a FIFO would block), what exceeds MAX_BYTES, and what
    is not UTF-8 (naming the line of the first bad byte); a leading BOM is dropped."""
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(path, None, f"{what} is not a regular file",
                                  "replace it with a text file")
            data = b""  # read what is there (no 1 MiB buffer per file), up to the limit + 1
            want = min(info.st_size, MAX_BYTES) + 1
            while len(data) <= MAX_BYTES and (chunk := handle.read(want - len(data))):
                data += chunk
                want = MAX_BYTES + 1
    except FileNotFoundError:
        raise ConfigError(path, None, "the file is missing", "create it or fix the path") from None
    except IsADirectoryError:
        raise ConfigError(path, None, f"{what} is a folder", "replace it with a text file"
                          ) from None
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read the file ({exc.strerror})",
                          "check its permissions") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(path, None, f"{what} is larger than {MAX_BYTES // (1 << 20)} MiB",
                          "a project file is a few KiB: check that this is the right file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(path, line, f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                          "save it as UTF-8") from None
    return text.removeprefix("\ufeff")


def read(path: Path) -> tuple[str, Any]:
    """Read and parse a YAML file; returns its text and data."""
    text = read_text(path)
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
