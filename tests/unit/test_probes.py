"""Readiness probes for services with no health check: ports, HTTP paths, log lines."""

from __future__ import annotations

import contextlib
import http.server
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from envctl.docker.engine import container_endpoints
from envctl.env.health import Phase, ReadinessWatch
from envctl.env.probes import (
    LINE_SEARCHED,
    NETWORK_SLICE,
    POLL,
    first_match,
    http_error,
    http_status,
    may_probe_from_network,
    probe_service,
    run_probe,
    tcp_error,
)
from envctl.setting_values import waits as _waits
from envctl.settings import ServiceWait
from tests.unit.fake_engine import FakeClock, state


@pytest.fixture
def web() -> Iterator[tuple[str, int]]:
    """A local HTTP server: /ok answers 200, anything else 404."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 404)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the loop to look, up to 0.5 s by default.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tcp_and_http_answers(web: tuple[str, int]) -> None:
    """A listening port is ready; a closed one says why; HTTP needs 2xx/3xx on the path."""
    assert tcp_error([web]) is None
    assert "127.0.0.1" in (tcp_error([("127.0.0.1", closed_port())]) or "")
    assert tcp_error([]) == "no address reaches it (publish the port, or run envctl on the engine's machine)"
    assert http_error([web], "/ok") is None
    assert http_error([web], "/missing") == f"GET /missing on {web[0]}:{web[1]} answered 404"


def test_a_log_line_matches_across_chunks_and_at_the_end() -> None:
    """Lines split over chunks are joined; a last line with no newline counts; stop ends it."""
    stop = threading.Event()
    assert first_match([b"starting\nread", b"y to accept connections\n"], re.compile("ready to accept"), stop)
    assert first_match([b"x\n", b"done"], re.compile("^done$"), stop)
    assert not first_match([b"nothing here\n"], re.compile("ready"), stop)


class Searched:
    """A pattern that records the length of each text it is tried on."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        self.lengths: list[int] = []

    def search(self, text: str) -> re.Match[str] | None:
        self.lengths.append(len(text))
        return self.pattern.search(text)


def test_a_log_pattern_is_tried_on_a_lines_head_only() -> None:
    """A pattern whose cost is the square of the line's (`.*ready`) on a 1 MiB line stays cheap:
    only the line's first 4 KiB are searched, however the line arrives."""
    stop = threading.Event()
    costly = Searched(r".*ready to accept")
    assert not first_match([b"x" * (1 << 20) + b"\n"], cast("re.Pattern[str]", costly), stop)
    assert costly.lengths == [LINE_SEARCHED]
    endless = Searched("ready")
    assert not first_match([b"x" * 3000] * 400 + [b" ready"], cast("re.Pattern[str]", endless), stop)
    assert endless.lengths == [LINE_SEARCHED]
    assert not first_match([b"x" * 5000 + b" ready\n"], re.compile("ready"), stop)


def test_a_log_that_cannot_be_read_is_a_failed_wait_saying_why() -> None:
    """The engine's stream breaks: the wait fails with the reason, not a thread's traceback."""
    def broken() -> Iterator[bytes]:
        raise RuntimeError("engine stream broke")

    result = run_probe(ServiceWait("worker", log="ready"), "c1", deadline=time.monotonic() + 5,
                       stop=threading.Event(), endpoints=lambda _p: [], output=broken)
    assert (result.ok, result.detail) == (False, "its output could not be read: engine stream broke")


def serve_once(respond: bytes | None) -> tuple[str, int]:
    """A listener that accepts one connection, then closes it at once (None: a port proxy with
    nothing behind it) or sends ``respond`` and keeps it open until the client closes it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                if respond is not None:
                    connection.sendall(respond)
                    connection.settimeout(30)  # a bound for a client that never closes
                    with contextlib.suppress(OSError):
                        while connection.recv(4096):
                            pass

    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1", int(listener.getsockname()[1])


def test_an_http_try_is_bounded_whatever_the_server_does() -> None:
    """A server that accepts and says nothing, or trickles bytes, holds one try no longer than
    its time; a closed connection or a non-HTTP answer is not ready either."""
    assert http_error_within(serve_once(b""), 0.3) == "no answer within 0.3s"
    # A trickle: part of a status line, then nothing before the (fake) clock passes the deadline.
    times = iter([0.0, 0.5, 1.5])
    with pytest.raises(ValueError, match=r"^no answer within 1s$"):
        http_status(*serve_once(b"HTTP/1.1 2"), "/", 1.0, clock=lambda: next(times))
    # Closed at once: an end of stream, or a reset when our request was still unread (timing).
    assert http_error_within(serve_once(None), 1) in (
        "no HTTP answer", "[Errno 104] Connection reset by peer", "[Errno 32] Broken pipe")
    assert http_error_within(serve_once(b"SSH-2.0-OpenSSH\r\n"), 1) == \
        "not an HTTP answer: b'SSH-2.0-OpenSSH\\r\\n'"


def http_error_within(address: tuple[str, int], seconds: float) -> str | None:
    try:
        http_status(*address, "/", seconds)
    except (OSError, ValueError) as exc:
        return str(exc)
    return None


def test_a_port_a_proxy_accepts_and_closes_is_not_ready() -> None:
    """docker-proxy accepts on a published port before the service listens, then closes: not
    ready; a service that speaks first (a database's greeting) is."""
    host, port = serve_once(None)
    assert tcp_error([(host, port)]) == (f"{host}:{port}: accepted and closed at once "
                                         "(a port proxy, the service not listening yet)")
    assert tcp_error([serve_once(b"220 hello\r\n")]) is None


def test_run_probe_passes_once_the_port_opens(web: tuple[str, int]) -> None:
    """No address for a few looks (the container not yet on its network), then one that answers:
    the probe passes at once, well before its deadline."""
    tries = [0]

    def endpoints(_port: int) -> list[tuple[str, int]]:
        tries[0] += 1
        return [web] if tries[0] >= 3 else []

    clock = FakeClock()
    result = run_probe(ServiceWait("api", port=80, http="/ok"), "c1", deadline=10.0,
                       stop=threading.Event(), endpoints=endpoints, output=lambda: iter(()),
                       clock=clock.monotonic, sleep=clock.sleep)
    assert (result.ok, result.detail, tries[0]) == (True, "GET /ok answered", 3)
    assert clock.sleeps == [POLL]


def test_addresses_that_answer_nothing_are_looked_at_again_once_a_second() -> None:
    """An inspect is an engine call: a port tried every 20 ms does not inspect every 20 ms."""
    looks = [0]

    def endpoints(_port: int) -> list[tuple[str, int]]:
        looks[0] += 1
        return [("127.0.0.1", closed_port())]

    clock = FakeClock()
    result = run_probe(ServiceWait("db", port=5432), "c1", deadline=1.5, stop=threading.Event(),
                       endpoints=endpoints, output=lambda: iter(()), clock=clock.monotonic,
                       sleep=clock.sleep)
    assert result.ok is False
    assert looks[0] == 2  # at the start, and a second later
    assert set(clock.sleeps) == {POLL}
    assert clock.now >= 1.5


@pytest.mark.parametrize(("where", "addresses", "from_network"), [
    ("network", [("127.0.0.1", 1)], True), ("auto", [], True), ("auto", [("10.0.0.1", 80)], False)])
def test_where_a_port_is_tried_from(where: str, addresses: list[tuple[str, int]], from_network: bool,
                                    web: tuple[str, int]) -> None:
    """network: always from the service's network; auto: from there only when this machine has no
    address for the port (Docker Desktop, a remote engine without a published port)."""
    asked: list[tuple[int, str | None]] = []

    def in_network(port: int, path: str | None, _seconds: float) -> tuple[bool, str]:
        asked.append((port, path))
        return True, "ready"

    host = [web] if addresses else []
    result = run_probe(ServiceWait("api", port=web[1], http="/ok"), "c1", deadline=time.monotonic() + 5,
                       stop=threading.Event(), endpoints=lambda _p: host, output=lambda: iter(()),
                       in_network=in_network, where=where)
    assert result.ok is True
    assert asked == ([(web[1], "/ok")] if from_network else [])
    assert result.detail.endswith("(from the service's network)") is from_network


def test_probes_from_the_network_go_in_slices() -> None:
    """Each probe container tries for a slice, then a fresh one joins the service's (perhaps
    new, after a restart) network namespace; the last slice ends at the deadline."""
    clock = FakeClock()
    slices: list[float] = []

    def in_network(_port: int, _path: str | None, seconds: float) -> tuple[bool, str]:
        slices.append(seconds)
        clock.sleep(seconds)  # it tried for its whole slice
        return False, "Connection refused"

    result = run_probe(ServiceWait("api", port=80), "c1", deadline=2.5 * NETWORK_SLICE,
                       stop=threading.Event(), endpoints=lambda _p: [], output=lambda: iter(()),
                       in_network=in_network, clock=clock.monotonic)
    assert slices == [NETWORK_SLICE, NETWORK_SLICE, NETWORK_SLICE / 2]
    assert (result.ok, result.detail) == (
        False, "port 80: not by the deadline; from the service's network: Connection refused")


def test_a_probe_from_the_network_passes_on_the_slice_that_answers() -> None:
    """The first slice that answers ends the probe."""
    clock = FakeClock()
    slices: list[float] = []

    def in_network(_port: int, _path: str | None, seconds: float) -> tuple[bool, str]:
        slices.append(seconds)
        clock.sleep(seconds)
        return len(slices) == 2, "ready"

    result = run_probe(ServiceWait("api", port=80), "c1", deadline=100.0, stop=threading.Event(),
                       endpoints=lambda _p: [], output=lambda: iter(()), in_network=in_network,
                       clock=clock.monotonic)
    assert (result.ok, result.detail, slices) == (
        True, "port 80 answered (from the service's network)", [NETWORK_SLICE, NETWORK_SLICE])


def test_the_in_network_probe_answers_like_the_host_one(web: tuple[str, int]) -> None:
    """The script a probe container runs: exit 0 once GET answers 2xx/3xx; else 1 at its deadline
    with the last error."""
    from envctl.env import wait_probe  # noqa: PLC0415

    assert wait_probe.main([str(web[1]), "/ok", "2"]) == 0
    clock = FakeClock()
    assert wait_probe.main([str(web[1]), "/missing", "0.3"], clock.monotonic, clock.sleep) == 1
    assert set(clock.sleeps) == {wait_probe.POLL}
    assert clock.now >= 0.3
    assert wait_probe.main([str(closed_port()), "", "0.2"], clock.monotonic, clock.sleep) == 1


def test_run_probe_fails_at_its_deadline_saying_why() -> None:
    """Never open: not ready, with the last error, once the deadline passes."""
    port = closed_port()
    clock = FakeClock()
    result = run_probe(ServiceWait("cache", port=port, timeout=0.2), "c1", deadline=0.2,
                       stop=threading.Event(), endpoints=lambda p: [("127.0.0.1", p)],
                       output=lambda: iter(()), clock=clock.monotonic, sleep=clock.sleep)
    assert not result.ok
    assert clock.now >= 0.2
    assert result.detail.startswith(f"port {port}: not by the deadline; last try: 127.0.0.1:{port}: ")


def test_run_probe_on_a_log_line() -> None:
    """A log-only wait passes on the matching line."""
    result = run_probe(ServiceWait("q", log="ready$"), "c1", deadline=time.monotonic() + 5,
                       stop=threading.Event(), endpoints=lambda _p: [],
                       output=lambda: iter([b"booting\n", b"ready\n"]))
    assert (result.ok, result.detail) == (True, "its output matched 'ready$'")


def test_a_gated_service_is_ready_only_once_its_probe_passed() -> None:
    """Running without a health check is not ready while the wait is pending; a failed probe
    fails the service with its reason."""
    watch = ReadinessWatch(["cache"], settle=0.0, gates={"cache": "port 6379"})
    running = state("c1")
    running = type(running)(**{**running.__dict__, "service": "cache"})
    watch.update(running)
    assert watch.verdicts["cache"].phase is Phase.STARTING
    assert watch.verdicts["cache"].detail == "running; waiting for port 6379"
    assert watch.gate("cache", True, "port 6379 answered") == ("cache", watch.verdicts["cache"])
    assert (watch.verdicts["cache"].phase, watch.all_done) == (Phase.READY, True)
    failing = ReadinessWatch(["cache"], settle=0.0, gates={"cache": "port 6379"})
    failing.update(running)
    failing.gate("cache", False, "port 6379: not by the deadline")
    assert failing.failed == ["cache"]


def test_a_probe_passed_by_a_container_compose_replaced_does_not_count() -> None:
    """`up` recreates a container after its probe passed: the new one waits for its own probe."""
    watch = ReadinessWatch(["cache"], settle=0.0, gates={"cache": "port 6379"})
    old = type(state("c1"))(**{**state("c1").__dict__, "service": "cache"})
    watch.update(old)
    watch.gate("cache", True, "port 6379 answered", "c1")
    assert watch.verdicts["cache"].phase is Phase.READY
    watch.forget("cache", "c1")
    watch.update(type(old)(**{**old.__dict__, "id": "c2"}))
    assert watch.verdicts["cache"].detail == "running; waiting for port 6379"
    watch.gate("cache", False, "an old container's failure", "c1")
    assert watch.failed == []
    watch.gate("cache", True, "port 6379 answered", "c2")
    assert watch.verdicts["cache"].phase is Phase.READY


def test_endpoints_published_then_the_containers_own_address() -> None:
    """Published on all interfaces: localhost (or the remote engine's host); a local Linux engine
    adds the container's address on each network; a remote one does not."""
    data = {"NetworkSettings": {"Ports": {"6379/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"},  # noqa: S104  # an answer, not a bind
                                                       {"HostIp": "::", "HostPort": "49153"}]},
                                "Networks": {"p_default": {"IPAddress": "172.18.0.3"}}}}
    assert container_endpoints(data, 6379, "", "linux") == [("127.0.0.1", 49153), ("::1", 49153),
                                                            ("172.18.0.3", 6379)]
    assert container_endpoints(data, 6379, "tcp://ci-engine:2376", "linux") == [("ci-engine", 49153)]
    assert container_endpoints({"NetworkSettings": {}}, 6379, "", "darwin") == []


def test_wait_settings_round_trip_through_json() -> None:
    """What a background process gets back (to_json's list) parses to the same waits."""
    waits = _waits({"api": {"port": 8080, "http": "/health", "timeout": "20s"}})
    again = _waits([{"service": w.service, "port": w.port, "http": w.http, "log": w.log, "timeout": w.timeout}
                    for w in waits])
    assert again == waits == (ServiceWait("api", 8080, "/health", None, 20.0),)


class ProbingEngine:
    """The engine a service's probe uses: no published address; a probe container answers."""

    def __init__(self, timeout: float | None = 60.0, *, host: str | None = None) -> None:
        self.host = host
        self.timeout = timeout
        self.asked: list[tuple[str, str, list[str], dict[str, Any]]] = []

    def __enter__(self) -> ProbingEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def endpoints(self, _container: str, _port: int) -> list[tuple[str, int]]:
        return []

    def output_stream(self, _container: str, *, follow: bool) -> Iterator[bytes]:
        return iter([b"ready\n"])

    def probe_in_network(self, image: str, target: str, argv: list[str], **kwargs: Any) -> tuple[bool, str]:
        ProbingEngine.last = (image, target, argv, kwargs)
        kwargs["on_created"]("probe-1")
        return True, "ready"

    last: tuple[str, str, list[str], dict[str, Any]] | None = None


def test_a_service_probe_on_the_engine_tries_from_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No address on this machine: a probe container of the test image, in the service's
    network, runs the stdlib probe script with the port, path and seconds."""
    from envctl.env import wait_probe  # noqa: PLC0415

    monkeypatch.setattr("envctl.docker.engine.Engine", ProbingEngine)
    created: list[str] = []
    result = probe_service(ServiceWait("api", port=80, http="/health", log="up|ready"), "c1",
                           deadline=time.monotonic() + 30, stop=threading.Event(), docker_timeout=5.0,
                           where="auto", image=lambda: "shop-test", labels={"k": "v"},
                           on_created=created.append)
    assert (result.ok, result.detail) == (True, "GET /health answered (from the service's network)")
    assert ProbingEngine.last is not None
    image, target, argv, kwargs = ProbingEngine.last
    source = Path(wait_probe.__file__).read_text(encoding="utf-8")
    assert (image, target, argv[:3], argv[4:6]) == ("shop-test", "c1", ["python3", "-c", source],
                                                    ["/health", f"{NETWORK_SLICE:.3f}"])
    assert argv[3] == "80"
    assert (kwargs["labels"], kwargs["seconds"], created) == ({"k": "v"}, NETWORK_SLICE, ["probe-1"])


@pytest.mark.parametrize(("where", "environ", "platform", "expected"), [
    ("host", {}, "darwin", False),
    ("auto", {}, "linux", False),
    ("auto", {}, "darwin", True),
    ("auto", {"DOCKER_HOST": "tcp://ci:2376"}, "linux", True),
    ("auto", {"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "linux", False),
    ("network", {}, "linux", True),
])
def test_when_a_port_wait_may_need_the_test_image(where: str, environ: dict[str, str], platform: str,
                                                  expected: bool) -> None:
    """From the network when asked, on a remote engine, or where containers live in a VM."""
    waits = [ServiceWait("api", port=80), ServiceWait("q", log="ready")]
    assert may_probe_from_network(where, waits, ["api"], environ, platform=platform) is expected


def test_no_port_wait_needs_no_test_image() -> None:
    """Log waits, or port waits of services not being started, never probe from the network."""
    waits = [ServiceWait("api", port=80), ServiceWait("q", log="ready")]
    assert may_probe_from_network("network", waits, ["q"], {}, platform="darwin") is False
