"""A small container registry for tests: the parts of the registry v2 API that ``docker push``
and ``docker pull`` use, on 127.0.0.1, everything kept in one folder (nothing in memory).

Two processes serving the same folder serve the same content: the CI Swarm's nodes each run
one in their own network namespace on the same port (``127.0.0.1:PORT`` in each), so the
manager pushes to its own loopback and the worker pulls from its own.

- In this process: ``with serving(root) as (port, store): ...``.
- As a process of its own: ``python3 tests/registry.py ROOT PORT`` serves until it is killed
  (it prints ``serving 127.0.0.1:PORT`` once it listens; it exits 1 when the port is taken).

The folder::

    ROOT/blobs/sha256:<hex>                 a blob or a manifest's body, by its digest
    ROOT/manifests/<name>/<tag or digest>   {"digest": ..., "type": ...}: what a reference names
    ROOT/uploads/<id>                       uploads under way (and files being written)

Every blob's digest is checked before it is stored, and a manifest pushed by digest must have
it. Each file is written under uploads/ and renamed into place, so a reader (another process)
never sees half a blob or manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[0-9a-f]{64}")
COPY = 1 << 20


class Store:
    """The registry's folder (see the module's doc)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs, self.refs, self.uploads = root / "blobs", root / "manifests", root / "uploads"
        for folder in (self.blobs, self.refs, self.uploads):
            folder.mkdir(parents=True, exist_ok=True)

    def blob(self, digest: str) -> Path:
        """Where the blob ``digest`` is (it may not be there)."""
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.blobs / digest

    def new_upload(self) -> str:
        ident = uuid.uuid4().hex
        (self.uploads / ident).write_bytes(b"")
        return ident

    def upload(self, ident: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", ident):
            raise ValueError(f"not an upload id: {ident!r}")
        return self.uploads / ident

    def finish(self, part: Path, digest: str) -> bool:
        """Store the uploaded ``part`` as the blob ``digest`` if it has that digest (else it
        is dropped): False when it does not."""
        if _digest_of(part) != digest:
            part.unlink(missing_ok=True)
            return False
        part.replace(self.blob(digest))
        return True

    def put_manifest(self, name: str, ref: str, body: bytes, kind: str) -> str | None:
        """Store a manifest under ``name:ref`` and under its digest; its digest (None when
        ``ref`` is a digest the body does not have)."""
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if DIGEST.fullmatch(ref) and ref != digest:
            return None
        self._write(self.blob(digest), body)
        record = json.dumps({"digest": digest, "type": kind}).encode()
        for each in dict.fromkeys((digest, ref)):
            self._write(self._ref(name, each), record)
        return digest

    def manifest(self, name: str, ref: str) -> tuple[bytes, str, str] | None:
        """(body, media type, digest) of the manifest ``name:ref``, or None."""
        try:
            record = json.loads(self._ref(name, ref).read_text())
            body = self.blob(record["digest"]).read_bytes()
        except FileNotFoundError:
            return None
        return body, str(record["type"]), str(record["digest"])

    def _ref(self, name: str, ref: str) -> Path:
        if not NAME.fullmatch(name) or not REF.fullmatch(ref):
            raise ValueError(f"not a repository and reference: {name!r} {ref!r}")
        return self.refs / name / ref

    def _write(self, path: Path, data: bytes) -> None:
        """``data`` into ``path`` at once: written aside, then renamed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        part = self.uploads / f"write-{uuid.uuid4().hex}"
        part.write_bytes(data)
        part.replace(path)


def _digest_of(path: Path) -> str:
    hashed = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(COPY), b""):
            hashed.update(chunk)
    return "sha256:" + hashed.hexdigest()


class Handler(BaseHTTPRequestHandler):
    """One request to the registry in :attr:`store`."""

    protocol_version = "HTTP/1.1"
    store: Store

    def log_message(self, *_args: Any) -> None:
        pass

    def _reply(self, status: int, headers: dict[str, str] | None = None,
               body: bytes = b"", head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _error(self, status: int, code: str) -> None:
        self._reply(status, {"Content-Type": "application/json"},
                    json.dumps({"errors": [{"code": code, "message": code.lower()}]}).encode(),
                    head=self.command == "HEAD")

    def _chunks(self) -> Iterator[bytes]:
        """The request's body, as it comes."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return
                while size:
                    chunk = self.rfile.read(min(size, COPY))
                    if not chunk:
                        raise ConnectionError("the body ended early")
                    size -= len(chunk)
                    yield chunk
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left:
            chunk = self.rfile.read(min(left, COPY))
            if not chunk:
                raise ConnectionError("the body ended early")
            left -= len(chunk)
            yield chunk

    def _append(self, path: Path) -> None:
        with path.open("ab") as out:
            for chunk in self._chunks():
                out.write(chunk)

    def _path(self) -> tuple[str, dict[str, str]]:
        path, _, query = self.path.partition("?")
        return unquote(path), {k: v[0] for k, v in parse_qs(query).items()}

    def do_GET(self, head: bool = False) -> None:
        path, _ = self._path()
        if path == "/v2/":
            return self._reply(200, {"Content-Type": "application/json"}, b"{}", head)
        found = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
        if found:
            try:
                manifest = self.store.manifest(found[1], found[2])
            except ValueError:
                return self._error(400, "NAME_INVALID")
            if manifest is None:
                return self._error(404, "MANIFEST_UNKNOWN")
            body, kind, digest = manifest
            return self._reply(200, {"Content-Type": kind, "Docker-Content-Digest": digest,
                                     "Content-Length": str(len(body))}, body, head)
        found = re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]{64})", path)
        if found:
            try:
                source = self.store.blob(found[2]).open("rb")
            except FileNotFoundError:
                return self._error(404, "BLOB_UNKNOWN")
            with source:
                size = Path(source.name).stat().st_size
                self._reply(200, {"Docker-Content-Digest": found[2], "Content-Length": str(size),
                                  "Content-Type": "application/octet-stream"}, head=True)
                if not head:
                    shutil.copyfileobj(source, self.wfile, COPY)
            return None
        return self._error(404, "NAME_UNKNOWN")

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_POST(self) -> None:
        path, query = self._path()
        found = re.fullmatch(r"/v2/(.+)/blobs/uploads/", path)
        if not found:
            return self._error(404, "UNSUPPORTED")
        ident = self.store.new_upload()
        part = self.store.upload(ident)
        self._append(part)
        if "digest" in query:  # a monolithic upload: the whole blob in this request
            if not self.store.finish(part, query["digest"]):
                return self._error(400, "DIGEST_INVALID")
            return self._reply(201, {"Location": f"/v2/{found[1]}/blobs/{query['digest']}",
                                     "Docker-Content-Digest": query["digest"]})
        return self._reply(202, {"Location": f"/v2/{found[1]}/blobs/uploads/{ident}",
                                 "Docker-Upload-UUID": ident, "Range": "0-0"})

    def do_PATCH(self) -> None:
        path, _ = self._path()
        found = re.fullmatch(r"/v2/(.+)/blobs/uploads/([0-9a-f]{32})", path)
        if not found or not self.store.upload(found[2]).is_file():
            return self._error(404, "BLOB_UPLOAD_UNKNOWN")
        part = self.store.upload(found[2])
        self._append(part)
        size = part.stat().st_size
        return self._reply(202, {"Location": path, "Docker-Upload-UUID": found[2],
                                 "Range": f"0-{max(size - 1, 0)}"})

    def do_PUT(self) -> None:
        path, query = self._path()
        found = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
        if found:
            body = b"".join(self._chunks())
            try:
                digest = self.store.put_manifest(found[1], found[2], body,
                                                 self.headers.get("Content-Type", ""))
            except ValueError:
                return self._error(400, "NAME_INVALID")
            if digest is None:
                return self._error(400, "DIGEST_INVALID")
            return self._reply(201, {"Location": f"/v2/{found[1]}/manifests/{digest}",
                                     "Docker-Content-Digest": digest})
        found = re.fullmatch(r"/v2/(.+)/blobs/uploads/([0-9a-f]{32})", path)
        if not found or not self.store.upload(found[2]).is_file():
            return self._error(404, "BLOB_UPLOAD_UNKNOWN")
        part = self.store.upload(found[2])
        self._append(part)
        digest = query.get("digest", "")
        if not DIGEST.fullmatch(digest) or not self.store.finish(part, digest):
            return self._error(400, "DIGEST_INVALID")
        return self._reply(201, {"Location": f"/v2/{found[1]}/blobs/{digest}",
                                 "Docker-Content-Digest": digest})


def server(root: Path, port: int = 0) -> ThreadingHTTPServer:
    """A registry serving ``root`` on 127.0.0.1:``port`` (0: any free port), not started."""
    handler = type("FolderRegistry", (Handler,), {"store": Store(root)})
    made = ThreadingHTTPServer(("127.0.0.1", port), handler)
    made.daemon_threads = True
    return made


@contextmanager
def serving(root: Path) -> Iterator[tuple[int, Store]]:
    """A registry on ``root`` in this process, on a free port: (its port, its store)."""
    made = server(root)
    thread = threading.Thread(target=made.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(made.server_port), made.RequestHandlerClass.store  # type: ignore[attr-defined]
    finally:
        made.shutdown()
        made.server_close()
        thread.join()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python3 tests/registry.py ROOT PORT", file=sys.stderr)
        return 2
    try:
        made = server(Path(argv[0]), int(argv[1]))
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{argv[1]}: {exc}", file=sys.stderr)
        return 1
    print(f"serving 127.0.0.1:{made.server_port}", flush=True)
    try:
        made.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        made.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
