"""A small GitLab REST API v4 client: make sure a group and its projects exist.

``workbench new PROJECT --gitlab URL --group G`` uses it before the first push: the group G
(created if missing, parents included for nested paths such as ``team/services``) and one
private, empty project per repo::

    gl = GitLab("https://gitlab.example.com", token_from_env())
    group = gl.ensure_group("acme")                # GET /groups/acme, else POST /groups
    repo = gl.ensure_project(group, "billing")     # GET /projects/acme%2Fbilling, else POST
    repo.ssh_url_to_repo                           # the remote to push to

Stdlib only (``urllib.request``, ``json``). Calls block: from async code, run them in a thread
(``asyncio.to_thread``). The token goes in the ``PRIVATE-TOKEN`` header and never into a
message. Redirects are not followed, so the token never reaches another host.

Every failure is one of workbench's errors, with a one-line message::

    BadInput        2  no GITLAB_TOKEN, a bad URL or name, GitLab refused the input (400/422),
                       or the URL redirects elsewhere
    Unreachable     3  connection refused, DNS, TLS, timeout; the token was rejected (401)
                       or lacks permission (403)
    OperationFailed 1  any other status (404 on create, 429, 5xx) or a reply that is not GitLab's
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from . import __version__
from .errors import BadInput, OperationFailed, Unreachable, WorkbenchError

__all__ = ["TOKEN_ENV", "GitLab", "Group", "Project", "token_from_env"]

TOKEN_ENV = "GITLAB_TOKEN"
USER_AGENT = f"workbench/{__version__} (+gitlab.py)"

# GitLab's rule for a group or project path: letters, digits, '_', '-' and '.', not starting
# with '-' or '.', not ending with '.', '.git' or '.atom'. The server has the final word
# (reserved names...); this catches typos before any request.
_PATH_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,253}[A-Za-z0-9_-])?")
_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: what an HTTP header can carry
_MESSAGE_MAX = 240


@dataclass(frozen=True, slots=True)
class Group:
    """A GitLab group (``full_path`` is ``parent/child`` for a subgroup)."""

    id: int
    full_path: str
    web_url: str
    created: bool = field(default=False, compare=False)
    """True when this client created it just now."""


@dataclass(frozen=True, slots=True)
class Project:
    """A GitLab project: one git repo."""

    id: int
    path_with_namespace: str
    ssh_url_to_repo: str
    http_url_to_repo: str
    web_url: str
    created: bool = field(default=False, compare=False)
    """True when this client created it just now."""


def token_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """The token in ``GITLAB_TOKEN``, stripped; BadInput when it is missing or empty."""
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise BadInput(
            f"{TOKEN_ENV} is not set",
            f"export {TOKEN_ENV}=<a personal access token with api scope>",
        )
    return token


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an HTTPError: never send the token to another URL."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class GitLab:
    """A client for one GitLab server, authenticated by a personal access token."""

    def __init__(self, base_url: str, token: str, timeout: float = 15.0) -> None:
        self.base_url = check_base_url(base_url)
        if not token:
            raise BadInput(
                f"{TOKEN_ENV} is not set",
                f"export {TOKEN_ENV}=<a personal access token with api scope>",
            )
        if not _TOKEN.fullmatch(token):
            raise BadInput(
                f"the GitLab token in {TOKEN_ENV} has spaces or characters a token cannot have",
                f"export {TOKEN_ENV}=<the token exactly as GitLab showed it>",
            )
        if not timeout > 0:
            raise BadInput(f"the GitLab timeout must be positive, not {timeout}")
        self._token = token
        self.timeout = timeout
        self._api = f"{self.base_url}/api/v4"
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return f"GitLab({self.base_url!r})"

    # -- groups ---------------------------------------------------------------------------

    def find_group(self, path: str) -> Group | None:
        """The group at ``path`` (``a`` or ``a/b``), or None if this token cannot see one."""
        path = _check_path(path, "group")
        data = self._request(
            "GET",
            f"/groups/{quote(path, safe='')}?with_projects=false",
            action=f"look up group '{path}'",
            missing_ok=True,
        )
        return None if data is None else self._group(data, "GET /groups")

    def ensure_group(self, path: str) -> Group:
        """The group at ``path``; create it (and missing parents), private, if it is missing."""
        path = _check_path(path, "group")
        found = self.find_group(path)
        if found is not None:
            return found
        parent, _, leaf = path.rpartition("/")
        body: dict[str, Any] = {"name": leaf, "path": leaf, "visibility": "private"}
        if parent:
            body["parent_id"] = self.ensure_group(parent).id
        data = self._request("POST", "/groups", body, action=f"create group '{path}'")
        assert data is not None
        return self._group(data, "POST /groups", created=True)

    # -- projects -------------------------------------------------------------------------

    def find_project(self, path_with_namespace: str) -> Project | None:
        """The project at ``group/name``, or None if this token cannot see one."""
        path = _check_path(path_with_namespace, "project")
        data = self._request(
            "GET",
            f"/projects/{quote(path, safe='')}",
            action=f"look up project '{path}'",
            missing_ok=True,
        )
        return None if data is None else self._project(data, "GET /projects")

    def ensure_project(self, group: Group, name: str, description: str = "") -> Project:
        """The project ``name`` in ``group``; create it private and empty if it is missing."""
        name = _check_path(name, "project", nested=False)
        full = f"{group.full_path}/{name}"
        found = self.find_project(full)
        if found is not None:
            return found
        body: dict[str, Any] = {
            "name": name,
            "path": name,
            "namespace_id": group.id,
            "visibility": "private",
            "initialize_with_readme": False,
        }
        if description:
            body["description"] = description
        data = self._request("POST", "/projects", body, action=f"create project '{full}'")
        assert data is not None
        return self._project(data, "POST /projects", created=True)

    # -- plumbing -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        action: str,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """Send one request; its JSON object, None on a GitLab 404 if ``missing_ok``."""
        headers = {
            "PRIVATE-TOKEN": self._token,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self._api + path, data, headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raw = _read_quietly(err)
            if missing_ok and err.code == 404 and isinstance(_json(raw), dict):
                return None
            raise self._http_error(err, raw, action) from None
        except urllib.error.URLError as err:
            raise self._unreachable(err.reason) from None
        except (OSError, http.client.HTTPException) as err:
            raise self._unreachable(err) from None
        except ValueError as err:  # http.client.InvalidURL, a host IDNA cannot encode
            raise self._fail(
                BadInput,
                f"GitLab URL {self.base_url} cannot be used: {_reason(err)}",
                "pass --gitlab https://HOST (the address of your GitLab server)",
            ) from None
        reply = _json(raw)
        if not isinstance(reply, dict):
            raise self._fail(
                OperationFailed,
                f"GitLab at {self.base_url} did not answer {method} /api/v4{path.split('?')[0]} "
                f"with a JSON object",
                "check that the URL is a GitLab server (API v4)",
            )
        return reply

    def _http_error(self, err: urllib.error.HTTPError, raw: bytes, action: str) -> WorkbenchError:
        status = f"{err.code} {err.reason}".strip()
        said = _gitlab_message(_json(raw))
        where = f"GitLab at {self.base_url}"
        detail = status if not said or said in status else f"{status}: {said}"
        if err.code == 401:
            return self._fail(
                Unreachable,
                f"{where} rejected the token in {TOKEN_ENV} ({detail})",
                f"export {TOKEN_ENV}=<a valid, unexpired personal access token with api scope>",
            )
        if err.code == 403:
            return self._fail(
                Unreachable,
                f"{where} refused to {action}: the token lacks permission ({detail})",
                "use a token with api scope whose user may do this "
                "(Maintainer or Owner of the group)",
            )
        if err.code in (400, 422):
            taken = "has already been taken" in said
            return self._fail(
                BadInput,
                f"GitLab refused to {action}: {said or status}",
                "it exists but this token cannot see it: choose another name or get access to it"
                if taken
                else "check the group and project names",
            )
        if 300 <= err.code < 400:
            location = err.headers.get("Location", "") if err.headers else ""
            return self._fail(
                BadInput,
                f"{where} redirects ({status}) to {_shorten(location) or 'another URL'}",
                "pass the URL of the GitLab server itself, with https:// if it uses it",
            )
        fix = (
            "wait a minute and try again"
            if err.code == 429
            else "check that the URL is a GitLab server (API v4)"
            if err.code in (404, 405)
            else "try again later; if it persists, check the GitLab server"
        )
        return self._fail(
            OperationFailed,
            f"{where} answered {detail} when asked to {action}",
            fix,
        )

    def _unreachable(self, reason: object) -> WorkbenchError:
        return self._fail(
            Unreachable,
            f"GitLab at {self.base_url} cannot be reached: {_reason(reason)}",
            "check the URL and your network",
        )

    def _fail(self, cls: type[WorkbenchError], problem: str, fix: str) -> WorkbenchError:
        """Build the error, with the token masked should the server have echoed it."""
        if len(self._token) >= 8:
            problem, fix = problem.replace(self._token, "***"), fix.replace(self._token, "***")
        return cls(problem, fix)

    def _group(self, data: dict[str, Any], what: str, *, created: bool = False) -> Group:
        try:
            return Group(
                id=int(data["id"]),
                full_path=str(data["full_path"]),
                web_url=str(data["web_url"]),
                created=created,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise self._odd_reply(what, err) from None

    def _project(self, data: dict[str, Any], what: str, *, created: bool = False) -> Project:
        try:
            return Project(
                id=int(data["id"]),
                path_with_namespace=str(data["path_with_namespace"]),
                ssh_url_to_repo=str(data["ssh_url_to_repo"]),
                http_url_to_repo=str(data["http_url_to_repo"]),
                web_url=str(data["web_url"]),
                created=created,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise self._odd_reply(what, err) from None

    def _odd_reply(self, what: str, err: Exception) -> WorkbenchError:
        missing = f"no {err.args[0]!r}" if isinstance(err, KeyError) else "a bad 'id'"
        return self._fail(
            OperationFailed,
            f"GitLab at {self.base_url} answered {what} with {missing}",
            "check that the URL is a GitLab server (API v4)",
        )


def check_base_url(base_url: str) -> str:
    """The GitLab URL as ``https://host[:port][/prefix]`` (no trailing ``/`` or ``/api/v4``);
    BadInput when it is not one."""
    text = base_url.strip()
    fix = "pass --gitlab https://HOST (the address of your GitLab server)"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadInput(f"'{base_url}' is not a valid GitLab URL", fix) from None
    if parts.scheme not in ("http", "https"):
        raise BadInput(f"GitLab URL '{base_url}' must start with http:// or https://", fix)
    if not parts.hostname or re.search(r"[\s/\\@]", parts.hostname):
        raise BadInput(f"GitLab URL '{base_url}' has no valid host", fix)
    if parts.username is not None or parts.password is not None:
        raise BadInput(
            "the GitLab URL must not hold a user or password",
            f"pass --gitlab without them and export {TOKEN_ENV}=<token>",
        )
    if parts.query or parts.fragment:
        raise BadInput(f"GitLab URL '{base_url}' must not have a query or fragment", fix)
    path = parts.path.rstrip("/")
    path = path.removesuffix("/api/v4").rstrip("/")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{path}"


def _check_path(path: str, kind: str, *, nested: bool = True) -> str:
    parts = path.strip().strip("/").split("/") if nested else [path.strip()]
    for part in parts:
        if not _PATH_PART.fullmatch(part) or part.endswith((".git", ".atom")):
            raise BadInput(
                f"'{path}' is not a valid GitLab {kind} path",
                "use letters, digits, '_', '-' and '.'"
                + (", with '/' between nested groups" if nested else ""),
            )
    return "/".join(parts)


def _read_quietly(err: urllib.error.HTTPError) -> bytes:
    """The body of an error reply, or nothing if it cannot be read."""
    try:
        return err.read()
    except Exception:
        return b""
    finally:
        err.close()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _gitlab_message(reply: Any) -> str:
    """GitLab's ``message`` (or ``error``) made one short line.

    ``{"message": {"path": ["has already been taken"]}}`` -> ``path has already been taken``.
    """
    if not isinstance(reply, dict):
        return ""
    said = reply.get("message") or reply.get("error_description") or reply.get("error")
    return _shorten(_flatten(said))


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{key} {_flatten(item)}".strip() for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_flatten(item) for item in value)
    return "" if value is None else str(value)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return re.sub(r"\s*\(_ssl\.c:\d+\)", "", reason.strerror)
    if isinstance(reason, http.client.HTTPException):
        return f"no valid HTTP reply ({type(reason).__name__})"
    return _shorten(str(reason)) or type(reason).__name__
