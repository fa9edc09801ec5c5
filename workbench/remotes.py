"""Git remote URL templates such as ``git@gitlab.example.com:{group}/{name}.git``.

A template has the placeholders ``{name}`` (required) and ``{group}``, and is one of:
``file:///abs/path``, ``ssh://[user@]host[:port]/path``, ``https://...``, ``http://...``,
``git://...`` or scp-like ``user@host:path``.
"""

from __future__ import annotations

import re
import string
from urllib.parse import unquote, urlsplit

from .errors import BadInput

PLACEHOLDERS = frozenset({"group", "name"})
_SCP = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9.-]+:(?!//)\S+$")
_SCHEMES = ("file", "ssh", "https", "http", "git")
_EXAMPLE = "git@gitlab.example.com:{group}/{name}.git or file:///srv/git/{group}/{name}.git"


def check_template(template: str) -> str:
    """Return ``template`` if it is a usable remote template, else raise BadInput."""
    fix = f"write it like {_EXAMPLE}"
    if not template or any(c.isspace() or ord(c) < 32 for c in template):
        raise BadInput(f"git remote template {template!r} is empty or has spaces", fix)
    if any(c in template for c in "\"'`;|&$<>\\"):
        raise BadInput(f"git remote template {template!r} contains shell characters", fix)
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
        specs = [(spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f]
    except ValueError as exc:
        problem = f"git remote template {template!r} has unbalanced braces ({exc})"
        raise BadInput(problem, fix) from None
    unknown = sorted(set(fields) - PLACEHOLDERS)
    if unknown or any(spec or conv for spec, conv in specs):
        shown = ", ".join("{" + f + "}" for f in unknown) or "a format spec"
        raise BadInput(f"git remote template {template!r} uses {shown}",
                       "only {group} and {name} are allowed")
    if "name" not in fields:
        raise BadInput(f"git remote template {template!r} has no {{name}}",
                       "add {name} where each repo's name goes, e.g. .../{group}/{name}.git")
    sample = render(template, group="g", name="n")
    if _SCP.match(sample):
        return template
    parts = urlsplit(sample)
    if parts.scheme not in _SCHEMES:
        raise BadInput(f"git remote template {template!r} is not a git URL", fix)
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise BadInput(f"file remote {template!r} needs an absolute path",
                           "write it as file:///abs/path/{group}/{name}.git")
    elif not parts.hostname:
        raise BadInput(f"git remote template {template!r} has no host", fix)
    return template


def render(template: str, *, group: str, name: str) -> str:
    """The remote URL of one repo."""
    return template.format(group=group, name=name)


def local_path(url: str) -> str | None:
    """The folder of a ``file://`` remote, or None for a network remote."""
    if url.startswith("file://"):
        return unquote(urlsplit(url).path)
    return None
