"""Readiness probes for services with no health check (the `wait` setting): a TCP port that
accepts connections, an HTTP path that answers 2xx or 3xx, a line of output that matches.

They run on this machine, not in the service's container, so they work for images with no shell
or tools inside: the port is reached through its published binding (on a remote engine's host
too) or, with a local engine, the container's own address. The log is the engine's stream of the
container's output, read as it comes (event-driven); ports have no events, so they are tried
every POLL seconds, each try bounded."""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.settings import ServiceWait

if TYPE_CHECKING:
    from envctl.docker.engine import Engine

POLL = 0.02  # seconds between two tries of a port: the gap to "ready" stays under ~25 ms
TRY_TIMEOUT = 1.0  # seconds one connection or request may take
# After a connection is accepted, how long to watch it being closed at once: Docker's port proxy
# (docker-proxy, Docker Desktop) accepts on a published port before the service listens, then
# closes the connection when it cannot reach the service. A service that listens keeps it open.
PEEK = 0.05
NETWORK_SLICE = 10.0  # seconds one probe container tries before a fresh one takes over
REINSPECT = 1.0  # seconds between two looks at the container's addresses while they answer nothing
CLOSE_GRACE = 1.0  # seconds a closed log read has to end its thread


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
            with socket.create_connection((host, port), timeout=TRY_TIMEOUT) as connection:
                if _stays_open(connection):
                    return None
                error = (f"{host}:{port}: accepted and closed at once "
                         "(a port proxy, the service not listening yet)")
        except OSError as exc:
            error = f"{host}:{port}: {exc.strerror or exc}"
    return error


def _stays_open(connection: socket.socket) -> bool:
    """Whether an accepted connection is a service's: it stays open (or the service speaks
    first), where a proxy with nothing behind it closes or resets it at once."""
    connection.settimeout(PEEK)
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except TimeoutError:
        return True  # silent and open: a server waiting for its client to speak
    except OSError:
        return False  # reset


def http_error(endpoints: Iterable[tuple[str, int]], path: str) -> str | None:
    """None when GET ``path`` answers 2xx or 3xx on one endpoint; else why not."""
    error = "no address reaches it (publish the port, or run envctl on the engine's machine)"
    for host, port in endpoints:
        try:
            status = http_status(host, port, path)
            if 200 <= status < 400:
                return None
            error = f"GET {path} on {host}:{port} answered {status}"
        except (OSError, ValueError) as exc:
            error = f"GET {path} on {host}:{port}: {getattr(exc, 'strerror', None) or exc}"
    return error


def http_status(host: str, port: int, path: str, seconds: float = TRY_TIMEOUT,
                clock: Callable[[], float] = time.monotonic) -> int:
    """The status of GET ``path``, read from the answer's first line within ``seconds`` in all
    (a server that trickles its answer cannot hold a try longer); ValueError when the answer is
    not HTTP, or does not come."""
    deadline = clock() + seconds
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = (f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: envctl-wait\r\n"
               "Connection: close\r\n\r\n")
    with socket.create_connection((host, port), timeout=seconds) as connection:
        connection.sendall(request.encode("ascii"))
        answer = b""
        while b"\r\n" not in answer and len(answer) < 4096:
            left = deadline - clock()
            if left <= 0:
                raise ValueError(f"no answer within {seconds:g}s")
            connection.settimeout(left)
            try:
                chunk = connection.recv(4096)
            except TimeoutError:
                raise ValueError(f"no answer within {seconds:g}s") from None
            if not chunk:
                break
            answer += chunk
    first = answer.split(b"\r\n", 1)[0].split()
    if len(first) < 2 or not first[0].startswith(b"HTTP/") or not first[1].isdigit():
        raise ValueError("no HTTP answer" if not answer else f"not an HTTP answer: {answer[:40]!r}")
    return int(first[1])


# Bytes of one line a log pattern is tried on: `.*ready` costs the square of a line's length, so
# an endless line must not be searched whole.
LINE_SEARCHED = 4096


def first_match(chunks: Iterable[bytes], pattern: re.Pattern[str], stop: threading.Event) -> bool:
    """Whether a line of ``chunks`` (its first LINE_SEARCHED bytes) matches ``pattern`` before
    they end or ``stop``."""
    def matches(line: bytes) -> bool:
        return pattern.search(line[:LINE_SEARCHED].decode("utf-8", errors="replace")) is not None

    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if stop.is_set():
                return False
            if matches(line):
                return True
        pending = pending[:LINE_SEARCHED]  # one endless line must not grow memory
    return bool(pending) and not stop.is_set() and matches(pending)


def _watch_log(chunks: Iterator[bytes], pattern: re.Pattern[str], stop: threading.Event,
               outcome: list[object]) -> None:
    """The log watcher's thread: whether a line matched, or why it could not read the log."""
    try:
        outcome[0] = first_match(chunks, pattern, stop)
    except Exception as exc:  # a thread's error would print a traceback and say nothing useful
        outcome[0] = f"its output could not be read: {exc}"


def _close(chunks: Iterator[bytes], thread: threading.Thread) -> None:
    """End a log read the probe no longer needs: closing its stream wakes the thread's blocked
    read (else it would wait for the container's next line, for ever if it prints no more)."""
    close = getattr(chunks, "close", None)
    if callable(close):
        close()
    thread.join(CLOSE_GRACE)


def _log_failure(spec: ServiceWait, pattern: str, output: Callable[[], Iterator[bytes]],
                 stop: threading.Event, seconds: float) -> str | None:
    """Why no line of the service's output matched ``pattern`` within ``seconds`` (None: one
    did). The read runs in a thread, closed when the wait is over."""
    outcome: list[object] = [False]
    try:
        chunks = output()
    except Exception as exc:  # told as the wait's failure, like a read's error
        return f"its output could not be read: {exc}"
    watcher = threading.Thread(target=_watch_log, args=(chunks, re.compile(pattern), stop, outcome),
                               daemon=True, name=f"envctl-wait-log-{spec.service}")
    watcher.start()
    watcher.join(seconds)
    _close(chunks, watcher)
    if isinstance(outcome[0], str):
        return outcome[0]
    if outcome[0] is not True:
        return f"no line of its output matched {pattern!r}" + (
            f" within {spec.timeout:g}s" if spec.timeout else " by the deadline")
    return None


InNetwork = Callable[[int, "str | None", float], tuple[bool, str]]


def _from_network(port: int, path: str | None, in_network: InNetwork, deadline: float,  # noqa: PLR0917  # one call site
                  stop: threading.Event, clock: Callable[[], float]) -> tuple[bool, str]:
    """Probe containers in turn, each for a slice: a probe stays in the network namespace it
    joined, and a service container that restarts (crashing until its database is up) gets a
    new one."""
    while True:
        ok, said = in_network(port, path, max(0.0, min(NETWORK_SLICE, deadline - clock())))
        if ok or clock() >= deadline or stop.is_set():
            return ok, said


def run_probe(spec: ServiceWait, container_id: str, *, deadline: float, stop: threading.Event,
              endpoints: Callable[[int], list[tuple[str, int]]],
              output: Callable[[], Iterator[bytes]],
              in_network: InNetwork | None = None, where: str = "auto",
              clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> ProbeResult:
    """Wait until the container meets ``spec`` (its log line first, then its port or path), or
    ``deadline``/``stop``; the result says which, and why.

    ``where`` (the wait_probe setting): "host" tries the port from this machine; "network" from
    a container in the service's network namespace (``in_network(port, path, seconds)``);
    "auto" from this machine when it has an address for the port, else from the network."""
    def result(ok: bool, detail: str) -> ProbeResult:
        return ProbeResult(spec.service, container_id, ok, detail)

    if spec.log is not None:
        failed = _log_failure(spec, spec.log, output, stop, max(0.0, deadline - clock()))
        if failed is not None:
            return result(False, failed)
    if spec.port is None:
        return result(True, f"its output matched {spec.log!r}")
    what = f"{'GET ' + spec.http if spec.http else 'port ' + str(spec.port)}"
    error: str | None = "not tried"
    addresses: list[tuple[str, int]] = [] if where == "network" else endpoints(spec.port)
    looked_at = clock()
    if in_network is not None and not addresses and where in ("network", "auto"):
        ok, said = _from_network(spec.port, spec.http, in_network, deadline, stop, clock)
        return result(ok, f"{what} answered (from the service's network)" if ok else
                      f"{spec.describe()}: not by the deadline; from the service's network: {said}")
    while not stop.is_set():
        if not addresses or clock() - looked_at >= REINSPECT:  # an inspect is an engine call
            addresses, looked_at = endpoints(spec.port), clock()
        error = http_error(addresses, spec.http) if spec.http else tcp_error(addresses)
        if error is None:
            return result(True, f"{what} answered")
        if clock() >= deadline:
            break
        sleep(POLL)
    return result(False, f"{spec.describe()}: not by the deadline; last try: {error}")


def probe_in_network(engine: Engine, image: str, container_id: str, *, labels: dict[str, str],
                     port: int, path: str | None, seconds: float,
                     on_created: Callable[[str], None] = lambda _id: None) -> tuple[bool, str]:
    """A port or http wait tried from a container of ``image`` (the test service's: it has
    Python) in ``container_id``'s network namespace: for engines whose containers this machine
    cannot reach, and ports that are not published. ``labels``: envctl's only (with compose's,
    `up` would take it for one of the service's containers); `down` removes any left by a
    process that died while it ran."""
    from envctl.env import wait_probe  # noqa: PLC0415

    source = Path(wait_probe.__file__).read_text(encoding="utf-8")
    return engine.probe_in_network(image, container_id,
                                   ["python3", "-c", source, str(port), path or "", f"{seconds:.3f}"],
                                   labels=labels, seconds=seconds, on_created=on_created)


def probe_service(spec: ServiceWait, container_id: str, *, deadline: float, stop: threading.Event,
                  docker_timeout: float, where: str, image: Callable[[], str], labels: dict[str, str],
                  on_created: Callable[[str], None], host: str | None = None) -> ProbeResult:
    """``run_probe`` on the engine (``host``: a DOCKER_HOST value; None: this process's): its
    ports from the container's inspect, its log from the
    engine's stream, and (``where`` allowing) from a probe container of ``image()`` in the
    service's network."""
    from envctl.docker.engine import Engine  # noqa: PLC0415

    # Engines of its own: it runs in a thread, and the docker SDK's client is not shared across threads.
    with Engine(timeout=docker_timeout, host=host) as inspecting, \
            Engine(timeout=docker_timeout, host=host) as streaming:
        return run_probe(
            spec, container_id, deadline=deadline, stop=stop,
            endpoints=lambda port: inspecting.endpoints(container_id, port),
            output=lambda: streaming.output_stream(container_id, follow=True),
            in_network=lambda port, path, seconds: probe_in_network(
                inspecting, image(), container_id, labels=labels, port=port, path=path,
                seconds=seconds, on_created=on_created),
            where=where)


def may_probe_from_network(where: str, waits: Iterable[ServiceWait], targets: Iterable[str],
                           environ: Mapping[str, str] | None = None, *, platform: str = sys.platform,
                           host: str | None = None) -> bool:
    """Whether a port or http wait of ``targets`` may be tried from the service's network (see
    probe_in_network), which takes the test service's image: ``where`` (the wait_probe setting)
    says so, or the engine is remote, or its containers are in a VM (not Linux)."""
    if where == "host":
        return False
    wanted = set(targets)
    if not any(w.port is not None and w.service in wanted for w in waits):
        return False
    env = os.environ if environ is None else environ
    scheme = urllib.parse.urlsplit(env.get("DOCKER_HOST", "") if host is None else host).scheme
    remote = scheme in ("tcp", "ssh", "http", "https")  # not a local (rootless) unix socket
    return where == "network" or remote or not platform.startswith("linux")
