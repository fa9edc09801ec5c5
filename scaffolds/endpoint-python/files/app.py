"""A small JSON service using only the standard library.

Routes (the proxy strips the endpoint's route prefix, so ``/<name>/items`` arrives as ``/items``):

    GET    /health       200 {"status": "ok"}
    GET    /items        200 [item, ...]
    POST   /items        201 item      (body: a JSON object; an "id" and "created" are added)
    GET    /items/<id>   200 item, or 404
    DELETE /items/<id>   204, or 404

Items are JSON files under ``$DATA_DIR/items`` (default ``/data``), written atomically, so they
survive the container being replaced. Every request is logged to stdout as one JSON line.
SIGTERM and SIGINT stop the server gracefully: no new connections, in-flight requests finish.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

MAX_BODY = 1024 * 1024  # bytes accepted in a request body
GRACE_SECONDS = 5.0  # how long in-flight requests may take to finish on shutdown
ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_log_lock = threading.RLock()  # re-entrant: a signal handler may log mid-line


def log(msg: str, level: str = "info", **fields: Any) -> None:
    """Write one structured log line (a JSON object) to stdout."""
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    line = json.dumps({"ts": ts, "level": level, "msg": msg, **fields}, default=str)
    with _log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Store:
    """Items kept as one JSON file each, replaced atomically (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root / "items"
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, item_id: str) -> Path | None:
        return self.root / f"{item_id}.json" if ITEM_ID.match(item_id) else None

    def list(self) -> list[dict[str, Any]]:
        items = []
        for path in self.root.glob("*.json"):
            try:
                item = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # removed meanwhile, or not ours
                continue
            if isinstance(item, dict):
                items.append(item)
        return sorted(items, key=lambda item: (str(item.get("created")), str(item.get("id"))))

    def get(self, item_id: str) -> dict[str, Any] | None:
        path = self._path(item_id)
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path else None
        except FileNotFoundError:
            return None

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        created = datetime.now(UTC).isoformat(timespec="microseconds")
        item = {**fields, "id": uuid.uuid4().hex, "created": created}
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(item, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.root / f"{item['id']}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return item

    def delete(self, item_id: str) -> bool:
        path = self._path(item_id)
        try:
            if path:
                path.unlink()
                return True
        except FileNotFoundError:
            pass
        return False


class Server(ThreadingHTTPServer):
    """A threading HTTP server that counts the requests in flight, for a graceful stop."""

    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not delay the stop

    def __init__(self, address: tuple[str, int], store: Store) -> None:
        super().__init__(address, Handler)
        self.store = store
        self.in_flight = 0
        self.idle = threading.Condition()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled; False if ``timeout`` ran out first."""
        with self.idle:
            return self.idle.wait_for(lambda: self.in_flight == 0, timeout)


class HTTPError(Exception):
    """An error answered to the client as a JSON body."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the /health and /items handlers."""

    server: Server
    server_version = "app/1"
    sys_version = ""  # no Python version in the Server header
    timeout = 10  # seconds a client may take to send its request
    status = 0  # the status answered, for the log line
    allowed = ""  # the Allow header of a 405 answer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.monotonic()
        path = urlsplit(self.path).path.rstrip("/") or "/"
        with self.server.idle:
            self.server.in_flight += 1
        try:
            self._route(path)
        except HTTPError as exc:
            self._send(exc.status, {"error": str(exc)})
        except Exception as exc:  # answer 500 and keep serving
            log("request failed", "error", error=repr(exc), method=self.command, path=path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
        finally:
            with self.server.idle:
                self.server.in_flight -= 1
                self.server.idle.notify_all()
            level = "error" if self.status >= 500 else "info"
            duration_ms = round((time.monotonic() - started) * 1000, 2)
            log(
                "request",
                level,
                method=self.command,
                path=path,
                status=self.status,
                duration_ms=duration_ms,
            )

    def _route(self, path: str) -> None:
        store = self.server.store
        if path == "/health":
            self._allow("GET")
            self._send(HTTPStatus.OK, {"status": "ok"})
        elif path == "/items":
            self._allow("GET", "POST")
            if self.command == "GET":
                self._send(HTTPStatus.OK, store.list())
            else:
                self._send(HTTPStatus.CREATED, store.create(self._json_body()))
        elif path.startswith("/items/") and path.count("/") == 2:
            self._allow("GET", "DELETE")
            item_id = path.removeprefix("/items/")
            if self.command == "GET":
                item = store.get(item_id)
                if item is None:
                    raise HTTPError(HTTPStatus.NOT_FOUND, f"no item {item_id!r}")
                self._send(HTTPStatus.OK, item)
            elif store.delete(item_id):
                self._send(HTTPStatus.NO_CONTENT, None)
            else:
                raise HTTPError(HTTPStatus.NOT_FOUND, f"no item {item_id!r}")
        else:
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no route for {path}")

    def _allow(self, *methods: str) -> None:
        if self.command not in methods:
            self.allowed = ", ".join(methods)
            raise HTTPError(HTTPStatus.METHOD_NOT_ALLOWED, f"use {self.allowed}")

    def _json_body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if length > MAX_BODY:
            raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:  # includes UnicodeDecodeError and an empty body
            raise HTTPError(HTTPStatus.BAD_REQUEST, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body

    def _send(self, status: HTTPStatus, payload: Any) -> None:
        self.status = int(status)
        body = b"" if payload is None else json.dumps(payload).encode() + b"\n"
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", self.allowed)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are logged once, as JSON, by ``_dispatch``."""

    def log_message(self, format: str, *args: Any) -> None:
        """Errors found by the base class (bad request lines, timeouts) as JSON lines."""
        log(format % args, "warning", client=self.client_address[0])


def main() -> int:
    """Serve until SIGTERM or SIGINT, then stop gracefully and return 0."""
    port = int(os.environ.get("PORT", "8000"))
    data_dir = Path(os.environ.get("DATA_DIR", "/data"))
    server = Server(("0.0.0.0", port), Store(data_dir))

    def stop(signum: int, frame: FrameType | None) -> None:
        log("stopping", signal=signal.Signals(signum).name)
        # shutdown() waits for serve_forever() to return, so it must not run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("started", port=port, data_dir=str(data_dir), pid=os.getpid())
    server.serve_forever(poll_interval=0.2)
    server.socket.close()  # refuse new connections while in-flight requests finish
    finished = server.wait_idle(GRACE_SECONDS)
    server.server_close()
    log("stopped", in_flight_abandoned=not finished)
    return 0


if __name__ == "__main__":
    sys.exit(main())
