"""Edit ``workbench.yaml`` in place, keeping the user's comments and layout.

Only the list that changes is rewritten: a flow list (``endpoints: [a, b]``) is replaced in
place, a block list gets one more ``- name`` line, and a missing key is appended. The result is
validated before it is written, and written in one step.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ConfigError
from .model import parse_project_file
from .yamlfile import parse


def with_child(path: Path, text: str, key: str, name: str) -> str:
    """The text of ``workbench.yaml`` with ``name`` added to the list under ``key``."""
    text, root = _compose(path, text)
    value = next((v for k, v in root.value if k.value == key), None)
    if value is None or (isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null")):
        new = _replace_or_append(text, key, value, name)
    elif isinstance(value, yaml.SequenceNode) and value.flow_style:
        items = [item.value for item in value.value] + [name]
        start, end = value.start_mark.index, value.end_mark.index
        new = text[:start] + "[" + ", ".join(items) + "]" + text[end:]
    elif isinstance(value, yaml.SequenceNode):
        last = value.value[-1]
        line_start = text.rfind("\n", 0, last.start_mark.index) + 1
        prefix = text[line_start : last.start_mark.index]  # e.g. "  - "
        line_end = text.find("\n", last.end_mark.index)
        line_end = len(text) if line_end < 0 else line_end
        new = text[:line_end] + "\n" + prefix + name + text[line_end:]
    else:
        raise ConfigError(path, value.start_mark.line + 1, f"'{key}' must be a list",
                          f"write e.g. {key}: [{name}]")
    parse_project_file(path, parse(new, path))
    return new


def with_environments(path: Path, text: str, blocks: list[str]) -> str:
    """The text of ``workbench.yaml`` with environment ``blocks`` (indented YAML text) appended
    after the last line of its block ``environments:`` mapping."""
    text, root = _compose(path, text)
    envs = next((v for k, v in root.value if k.value == "environments"), None)
    if not isinstance(envs, yaml.MappingNode) or envs.flow_style or not envs.value:
        raise ConfigError(path, None, "expected a block 'environments:' mapping to add to",
                          "write environments as 'name:' blocks under 'environments:'")
    last: yaml.Node = envs.value[-1][1]
    while isinstance(last, yaml.MappingNode | yaml.SequenceNode) and last.value:
        item = last.value[-1]
        last = item[1] if isinstance(item, tuple) else item
    end = text.find("\n", last.end_mark.index)
    end = len(text) if end < 0 else end + 1
    new = text[:end] + "".join(blocks) + text[end:]
    parse_project_file(path, parse(new, path))
    return new


def _compose(path: Path, text: str) -> tuple[str, yaml.MappingNode]:
    """``text`` without a leading BOM (node offsets would be one off), and its root node;
    ConfigError naming the line when it is not a valid YAML mapping."""
    text = text.removeprefix("\ufeff")
    parse(text, path)
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(path, 1, "workbench.yaml must be a mapping", "start with 'project: NAME'")
    return text, root


def _replace_or_append(text: str, key: str, value: yaml.Node | None, name: str) -> str:
    if value is not None:
        start, end = value.start_mark.index, value.end_mark.index
        if start == end:  # "key:" with nothing after it
            return text[:start] + f" [{name}]" + text[end:]
        return text[:start] + f"[{name}]" + text[end:]
    sep = "" if text.endswith("\n") or not text else "\n"
    return f"{text}{sep}{key}: [{name}]\n"
