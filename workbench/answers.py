"""The answers file ``.workbench-answers.yaml``: the template, its version and the inputs a
folder was made from (copier's answers file), so that a later template version can be applied.

workbench writes it and a checksum of its fields; ``update`` refuses a file that is missing or
that was edited by hand (its fields do not check out), because rendering the old template
from wrong answers would make a wrong merge base. Files written before the checksum existed
are accepted when their fields are consistent with the folder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .errors import BadInput

ANSWERS_FILE = ".workbench-answers.yaml"
HEADER = ("# Written by workbench: the template and inputs this folder was made from.\n"
          "# Do not edit: 'workbench --batch update' renders the template again from it.\n")
_KINDS = ("project", "endpoint", "model", "utility")
_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Answers:
    """What made a folder: ``template`` of ``kind`` at ``template_version``, with ``inputs``."""

    template: str
    kind: str
    template_version: int
    workbench_version: str
    inputs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def fields(self) -> dict[str, Any]:
        return {"template": self.template, "kind": self.kind,
                "template_version": self.template_version,
                "workbench_version": self.workbench_version, "inputs": dict(self.inputs)}


def checksum(answers: Answers) -> str:
    """``sha256:`` of the fields as canonical JSON."""
    import hashlib  # here: loading OpenSSL costs `list` (which only peeks) 5-10 ms
    import json

    body = json.dumps(answers.fields(), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def dump(answers: Answers) -> str:
    """The file's text: a header, the fields and their checksum."""
    body: str = yaml.safe_dump({**answers.fields(), "checksum": checksum(answers)},
                               sort_keys=True)
    return HEADER + body


def write(folder: Path, answers: Answers) -> None:
    (folder / ANSWERS_FILE).write_text(dump(answers), encoding="utf-8")


def peek(folder: Path) -> tuple[str | None, int | None]:
    """The template name and version, leniently (for listings): None where unreadable."""
    try:
        text = (folder / ANSWERS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None, None
    template = re.search(r"^template:\s*(\S+)\s*$", text, re.M)
    version = re.search(r"^template_version:\s*([0-9]{1,6})\s*$", text, re.M)
    return (template.group(1) if template else None,
            int(version.group(1)) if version else None)


def read(folder: Path, kind: str, name: str) -> Answers:
    """The answers of ``folder`` (a ``kind`` named ``name``); BadInput when missing or edited."""
    path = folder / ANSWERS_FILE
    shown = f"{kind} {name}"
    restore = (f"restore it from git (git -C {folder} log -p -- {ANSWERS_FILE} shows its "
               "history); workbench only writes it")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{shown} has no {ANSWERS_FILE}, so its template is unknown",
                       f"if it was deleted, restore it with 'git -C {folder} checkout HEAD -- "
                       f"{ANSWERS_FILE}'; a folder not made by 'workbench new' cannot be "
                       "updated") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {path} ({exc})", restore) from None

    def edited(why: str) -> BadInput:
        return BadInput(f"{path} was edited by hand: {why}", restore)

    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} " if mark is not None else ""
        raise edited(f"{where}is not valid YAML") from None
    if not isinstance(data, dict):
        raise edited("it is not a mapping")
    wanted = {"template": str, "kind": str, "template_version": int, "inputs": dict}
    for key, kind_of in wanted.items():
        value = data.get(key)
        if not isinstance(value, kind_of) or isinstance(value, bool):
            raise edited(f"'{key}' is missing or not a {kind_of.__name__}")
    inputs = data["inputs"]
    bad = [k for k, v in inputs.items() if not isinstance(k, str)
           or not (v is None or isinstance(v, str | int | bool))]
    if bad:
        raise edited(f"input {bad[0]!r} is not a plain value")
    answers = Answers(template=data["template"], kind=data["kind"],
                      template_version=data["template_version"],
                      workbench_version=str(data.get("workbench_version", "")),
                      inputs=MappingProxyType(dict(inputs)))
    unknown = sorted(set(data) - {*wanted, "workbench_version", "checksum"})
    if unknown:
        raise edited(f"it has the unknown key '{unknown[0]}'")
    stored = data.get("checksum")
    if stored is not None and stored != checksum(answers):
        raise edited("its fields do not match their checksum")
    if answers.kind != kind or answers.kind not in _KINDS:
        raise edited(f"it says kind '{answers.kind}', but this is a {kind}")
    if answers.template_version < 1:
        raise edited(f"template_version {answers.template_version} is below 1")
    if inputs.get("name") != name:
        raise edited(f"it says name {inputs.get('name')!r}, but this is {kind} '{name}'")
    return answers
