"""Readiness probes for services with no health check (the `wait` setting): a TCP port that
accepts connections, an HTTP path that answers 2xx or 3xx, a line of output that matches.

They run on this machine, not in the service's container, so they work for images with no shell
or tools inside: the port is reached through its published binding (on a remote engine's host
too) or, with a local engine, the container's own address. The log is the engine's stream of the
container's output, read as it comes (event-driven); ports have no events, so they are tried
every POLL seconds, each try bounded."""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from envctl.settings import ServiceWait

POLL = 0.02  # seconds between two tries of a port: the gap to "ready" stays under ~25 ms
TRY_TIMEOUT = 1.0  # seconds one connection or request may take


@dataclass(frozen=True)
class ProbeResult:
    service: str
    container_id: str
    ok: bool
    detail: str


def tcp_error(endpoints: Iterable[tuple[str, int]]) -> str | None:
    """None when one endpoint accepts a connection; else the last error."""
    error = "no address reaches it (publish the port, or run envctl on the engine's machine)"
    for host, port in endpoints:
        try:
            with socket.create_connection((host, port), timeout=TRY_TIMEOUT):
                return None
        except OSError as exc:
            error = f"{host}:{port}: {exc.strerror or exc}"
    return error


def http_error(endpoints: Iterable[tuple[str, int]], path: str) -> str | None:
    """None when GET ``path`` answers 2xx or 3xx on one endpoint; else why not."""
    error = "no address reaches it (publish the port, or run envctl on the engine's machine)"
    for host, port in endpoints:
        connection = http.client.HTTPConnection(host, port, timeout=TRY_TIMEOUT)
        try:
            connection.request("GET", path, headers={"User-Agent": "envctl-wait"})
            status = connection.getresponse().status
            if 200 <= status < 400:
                return None
            error = f"GET {path} on {host}:{port} answered {status}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"GET {path} on {host}:{port}: {getattr(exc, 'strerror', None) or exc}"
        finally:
            connection.close()
    return error


def first_match(chunks: Iterable[bytes], pattern: re.Pattern[str], stop: threading.Event) -> bool:
    """Whether a whole line of ``chunks`` matches ``pattern`` before they end or ``stop``."""
    pending = b""
    for chunk in chunks:
        if stop.is_set():
            return False
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if any(pattern.search(line.decode("utf-8", errors="replace")) for line in lines):
            return True
        pending = pending[-65536:]  # one endless line must not grow memory
    return bool(pending) and pattern.search(pending.decode("utf-8", errors="replace")) is not None


def run_probe(spec: ServiceWait, container_id: str, *, deadline: float, stop: threading.Event,
              endpoints: Callable[[int], list[tuple[str, int]]],
              output: Callable[[], Iterator[bytes]],
              clock: Callable[[], float] = time.monotonic) -> ProbeResult:
    """Wait until the container meets ``spec`` (its log line first, then its port or path), or
    ``deadline``/``stop``; the result says which, and why."""
    def result(ok: bool, detail: str) -> ProbeResult:
        return ProbeResult(spec.service, container_id, ok, detail)

    if spec.log is not None:
        found = [False]
        watcher = threading.Thread(
            target=lambda: found.__setitem__(0, first_match(output(), re.compile(spec.log or ""), stop)),
            daemon=True, name=f"envctl-wait-log-{spec.service}")
        watcher.start()
        watcher.join(max(0.0, deadline - clock()))
        if not found[0]:
            return result(False, f"no line of its output matched {spec.log!r}"
                          + (f" within {spec.timeout:g}s" if spec.timeout else " by the deadline"))
    if spec.port is None:
        return result(True, f"its output matched {spec.log!r}")
    error: str | None = "not tried"
    while not stop.is_set():
        addresses = endpoints(spec.port)
        error = http_error(addresses, spec.http) if spec.http else tcp_error(addresses)
        if error is None:
            return result(True, f"{'GET ' + spec.http if spec.http else 'port ' + str(spec.port)} "
                                "answered")
        if clock() >= deadline:
            break
        time.sleep(POLL)
    return result(False, f"{spec.describe()}: not by the deadline; last try: {error}")
