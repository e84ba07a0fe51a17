"""HTTP API: /health, /items/<key> (GET, PUT, DELETE), /items (GET), /counters/<name> (POST).

Items live in PostgreSQL; reads go through a Redis cache (the X-Cache header says hit or miss).
"""

from __future__ import annotations

import json
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import redis
from psycopg.types.json import Jsonb

KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_local = threading.local()
cache = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)


def db() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, connect_timeout=5)
        _local.conn = conn
    return conn


_NO_BODY = object()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response and no Nagle: otherwise every response waits on a delayed ACK.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, *_args: object) -> None:  # quiet: tests make thousands of calls
        pass

    def _send(self, status: int, body: object = _NO_BODY, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is _NO_BODY else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _key(self) -> str | None:
        parts = self.path.split("/")
        if len(parts) == 3 and parts[1] == "items" and KEY.match(parts[2]):
            return parts[2]
        return None

    def do_GET(self) -> None:
        if self.path == "/health":
            db().execute("SELECT 1")
            cache.ping()
            self._send(HTTPStatus.OK, {"db": "ok", "cache": "ok"})
        elif self.path == "/items":
            rows = db().execute("SELECT key FROM items ORDER BY key").fetchall()
            self._send(HTTPStatus.OK, {"keys": [r[0] for r in rows]})
        elif (key := self._key()) is not None:
            cached = cache.get(f"item:{key}")
            if cached is not None:
                self._send(HTTPStatus.OK, json.loads(cached), {"X-Cache": "hit"})
                return
            row = db().execute("SELECT value FROM items WHERE key = %s", (key,)).fetchone()
            if row is None:
                self._send(HTTPStatus.NOT_FOUND, {"error": "no such item"})
                return
            cache.set(f"item:{key}", json.dumps(row[0]), ex=60)
            self._send(HTTPStatus.OK, row[0], {"X-Cache": "miss"})
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": "no such path"})

    def do_PUT(self) -> None:
        key = self._key()
        if key is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": "no such path"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            value = json.loads(self.rfile.read(length) or b"null")
        except json.JSONDecodeError:
            self._send(HTTPStatus.BAD_REQUEST, {"error": "body is not JSON"})
            return
        existed = db().execute(
            "INSERT INTO items (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
            "SET value = EXCLUDED.value, updated_at = now() RETURNING (xmax <> 0)",
            (key, Jsonb(value)),
        ).fetchone()
        cache.delete(f"item:{key}")
        self._send(HTTPStatus.OK if existed and existed[0] else HTTPStatus.CREATED, value)

    def do_DELETE(self) -> None:
        key = self._key()
        if key is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": "no such path"})
            return
        deleted = db().execute("DELETE FROM items WHERE key = %s", (key,)).rowcount
        cache.delete(f"item:{key}")
        self._send(HTTPStatus.NO_CONTENT if deleted else HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        parts = self.path.split("/")
        if len(parts) == 3 and parts[1] == "counters" and KEY.match(parts[2]):
            self._send(HTTPStatus.OK, {"value": int(cache.incr(f"counter:{parts[2]}"))})
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": "no such path"})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)  # noqa: S104  # inside its container
    server.daemon_threads = True
    print("api: listening on :8000", flush=True)
    server.serve_forever()
