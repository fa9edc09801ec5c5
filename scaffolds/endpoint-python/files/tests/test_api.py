"""Tests of the running service over HTTP; set BASE_URL (for example http://127.0.0.1:8000)."""

from __future__ import annotations

import json
import os
import unittest
import urllib.error
import urllib.request
from typing import Any

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/")


def call(method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """Send one request; return the status and the decoded JSON body (None when empty)."""
    request = urllib.request.Request(BASE_URL + path, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw) if raw else None


class ApiTest(unittest.TestCase):
    def test_health(self) -> None:
        self.assertEqual(call("GET", "/health"), (200, {"status": "ok"}))

    def test_item_lifecycle(self) -> None:
        status, item = call("POST", "/items", json.dumps({"name": "widget", "qty": 2}).encode())
        self.assertEqual(status, 201)
        self.assertEqual((item["name"], item["qty"]), ("widget", 2))
        item_id = item["id"]
        self.assertEqual(call("GET", f"/items/{item_id}"), (200, item))
        status, items = call("GET", "/items")
        self.assertEqual(status, 200)
        self.assertIn(item, items)
        self.assertEqual(call("DELETE", f"/items/{item_id}"), (204, None))
        self.assertEqual(call("GET", f"/items/{item_id}")[0], 404)
        self.assertEqual(call("DELETE", f"/items/{item_id}")[0], 404)

    def test_unknown_item_and_path(self) -> None:
        status, body = call("GET", "/items/does-not-exist")
        self.assertEqual(status, 404)
        self.assertIn("error", body)
        self.assertEqual(call("GET", "/no/such/path")[0], 404)

    def test_bad_json(self) -> None:
        status, body = call("POST", "/items", b"{not json")
        self.assertEqual(status, 400)
        self.assertIn("error", body)
        self.assertEqual(call("POST", "/items", b"[1, 2]")[0], 400)


if __name__ == "__main__":
    unittest.main()
