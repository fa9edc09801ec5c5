"""Git remote URL templates such as ``git@gitlab.example.com:{group}/{name}.git``.

A template has the placeholders ``{name}`` (required) and ``{group}``, and is one of:
``file:///abs/path``, ``ssh://[user@]host[:port]/path``, ``https://...``, ``http://...``,
``git://...`` or scp-like ``user@host:path``.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
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


def check_url(url: str) -> str:
    """Return ``url`` if it names one git repo (a URL, scp-like, or a local folder), else
    raise BadInput. A local folder is returned as an absolute path."""
    fix = ("give the project repo's URL, e.g. git@gitlab.example.com:team/shop.git, "
           "ssh://host/srv/git/team/shop.git or file:///srv/git/team/shop.git")
    if not url or any(c.isspace() or ord(c) < 32 for c in url) or url.startswith("-"):
        raise BadInput(f"{url!r} is not a git URL", fix)
    if "{" in url or "}" in url:
        raise BadInput(f"{url!r} is a URL template", "give the URL of the project's own repo")
    if _scp_like(url) and not Path(url).expanduser().exists():
        return url
    parts = urlsplit(url)
    if parts.scheme in _SCHEMES:
        if parts.scheme == "file" and (parts.netloc or not parts.path.startswith("/")):
            raise BadInput(f"file URL {url!r} needs an absolute path",
                           "write it as file:///abs/path/shop.git")
        if parts.scheme != "file" and not parts.hostname:
            raise BadInput(f"{url!r} has no host", fix)
        return url
    if "://" not in url:
        folder = Path(url).expanduser()
        if folder.is_dir():
            return str(folder.resolve())
        raise BadInput(f"{url!r} is neither a git URL nor a folder", fix)
    raise BadInput(f"{url!r} is not a git URL", fix)


def repo_name(url: str) -> str:
    """The repo's name in ``url``: its last path part without ``.git``."""
    path = url.split(":", 1)[1] if _scp_like(url) else (urlsplit(url).path or url)
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last.removesuffix(".git")


_HOST_PATH = re.compile(r"^(?:[A-Za-z0-9_.-]+@)?[A-Za-z0-9.-]+:(?!//)\S+$")


def _scp_like(url: str) -> bool:
    """``[user@]host:path``, as ssh and git write it."""
    return bool(_HOST_PATH.match(url)) and "://" not in url


def sibling(url: str, name: str) -> str:
    """The URL of the repo ``name`` beside the repo of ``url`` (same host and group)."""
    trimmed = url.rstrip("/")
    cut = max(trimmed.rfind("/"), trimmed.rfind(":") if _scp_like(trimmed) else -1)
    head, last = trimmed[: cut + 1], trimmed[cut + 1 :]
    return f"{head}{name}{'.git' if last.endswith('.git') else ''}"


def same_repo(a: str, b: str) -> bool:
    """Whether two remote URLs name the same repo (ignoring a trailing ``/`` and ``.git``)."""
    def norm(url: str) -> str:
        return url.rstrip("/").removesuffix(".git").removeprefix("file://")
    return norm(a) == norm(b)
