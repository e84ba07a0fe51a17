"""A port or HTTP wait tried from inside the service's own network namespace (stdlib only).

Run as ``python3 -c "<this file>" PORT PATH SECONDS`` in a short-lived container of the test
service's image that shares the service's network (``network_mode: container:<id>``): so it
reaches a port that is not published, on an engine whose containers this machine cannot reach
(Docker Desktop, a remote engine), whatever the service's image holds. It tries every 20 ms until
the port accepts a connection (with PATH: GET PATH answers 2xx or 3xx) and exits 0, or exits 1
at SECONDS with the last error on stderr.
"""

from __future__ import annotations

import http.client
import socket
import sys
import time
from collections.abc import Callable

POLL = 0.02
TRY_TIMEOUT = 1.0
HOSTS = ("127.0.0.1", "::1")  # the service's loopback, in its namespace


def _try(host: str, port: int, path: str) -> str | None:
    """None when ready; else why not."""
    if not path:
        with socket.create_connection((host, port), timeout=TRY_TIMEOUT):
            return None
    connection = http.client.HTTPConnection(host, port, timeout=TRY_TIMEOUT)
    try:
        connection.request("GET", path, headers={"User-Agent": "envctl-wait"})
        status = connection.getresponse().status
    finally:
        connection.close()
    return None if 200 <= status < 400 else f"GET {path} answered {status}"


def main(argv: list[str], clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> int:
    port, path, seconds = int(argv[0]), argv[1], float(argv[2])
    deadline = clock() + seconds
    error = "not tried"
    while True:
        errors = []
        for host in HOSTS:
            try:
                said = _try(host, port, path)
            except (OSError, http.client.HTTPException) as exc:
                said = f"{getattr(exc, 'strerror', None) or exc}"
            if said is None:
                print("ready", flush=True)
                return 0
            errors.append(said)
        error = errors[0]  # IPv4's: a namespace without IPv6 says nothing useful about ::1
        if clock() >= deadline:
            print(f"port {port}{' ' + path if path else ''}: {error}", file=sys.stderr, flush=True)
            return 1
        sleep(POLL)


if __name__ == "__main__":
    # As a file: argv[0] is the script. With -c: argv[0] is "-c".
    sys.exit(main(sys.argv[1:]))
