"""Readiness probes for services with no health check: ports, HTTP paths, log lines."""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from envctl.docker.engine import container_endpoints
from envctl.env.health import Phase, ReadinessWatch
from envctl.env.probes import first_match, http_error, http_status, run_probe, tcp_error
from envctl.settings import ServiceWait, _waits
from tests.unit.fake_engine import state


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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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


def test_a_log_pattern_is_tried_on_a_lines_head_only() -> None:
    """A pattern whose cost is the square of the line's (`.*ready`) on a 1 MiB line stays cheap:
    only the line's first 4 KiB are searched."""
    stop = threading.Event()
    began = time.monotonic()
    assert not first_match([b"x" * (1 << 20) + b"\n"], re.compile(r".*ready to accept"), stop)
    assert time.monotonic() - began < 5  # searched whole, it would take hours
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
    nothing behind it) or sends ``respond`` and keeps it open a moment."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                if respond is not None:
                    connection.sendall(respond)
                    time.sleep(0.5)

    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1", int(listener.getsockname()[1])


def test_an_http_try_is_bounded_whatever_the_server_does() -> None:
    """A server that accepts and says nothing, or trickles bytes, holds one try no longer than
    its time; a closed connection or a non-HTTP answer is not ready either."""
    silent = serve_once(b"")
    began = time.monotonic()
    assert "no answer within 0.3s" in (http_error_within(silent, 0.3) or "")
    assert time.monotonic() - began < 1.5
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

    result = run_probe(ServiceWait("api", port=80, http="/ok"), "c1", deadline=time.monotonic() + 10,
                       stop=threading.Event(), endpoints=endpoints, output=lambda: iter(()))
    assert (result.ok, result.detail, tries[0]) == (True, "GET /ok answered", 3)


def test_addresses_that_answer_nothing_are_looked_at_again_once_a_second() -> None:
    """An inspect is an engine call: a port tried every 20 ms does not inspect every 20 ms."""
    looks = [0]

    def endpoints(_port: int) -> list[tuple[str, int]]:
        looks[0] += 1
        return [("127.0.0.1", closed_port())]

    began = time.monotonic()
    result = run_probe(ServiceWait("db", port=5432), "c1", deadline=time.monotonic() + 1.5,
                       stop=threading.Event(), endpoints=endpoints, output=lambda: iter(()))
    assert result.ok is False
    assert looks[0] == 2  # at the start, and a second later
    assert time.monotonic() - began < 3


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


def test_probes_from_the_network_go_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each probe container tries for a slice, then a fresh one joins the service's (perhaps
    new, after a restart) network namespace, until the deadline."""
    from envctl.env import probes  # noqa: PLC0415

    monkeypatch.setattr(probes, "NETWORK_SLICE", 0.05)
    slices: list[float] = []

    def in_network(_port: int, _path: str | None, seconds: float) -> tuple[bool, str]:
        slices.append(seconds)
        time.sleep(seconds)
        return len(slices) == 3, "Connection refused"

    result = run_probe(ServiceWait("api", port=80), "c1", deadline=time.monotonic() + 5,
                       stop=threading.Event(), endpoints=lambda _p: [], output=lambda: iter(()),
                       in_network=in_network)
    assert (result.ok, len(slices), max(slices)) == (True, 3, 0.05)


def test_the_in_network_probe_answers_like_the_host_one(web: tuple[str, int]) -> None:
    """The script a probe container runs: exit 0 once GET answers 2xx/3xx; else 1 at its deadline
    with the last error."""
    from envctl.env import wait_probe  # noqa: PLC0415

    assert wait_probe.main([str(web[1]), "/ok", "2"]) == 0
    began = time.monotonic()
    assert wait_probe.main([str(web[1]), "/missing", "0.3"]) == 1
    assert wait_probe.main([str(closed_port()), "", "0.2"]) == 1
    assert time.monotonic() - began < 3


def test_run_probe_fails_at_its_deadline_saying_why() -> None:
    """Never open: not ready, with the last error, once the deadline passes."""
    port = closed_port()
    result = run_probe(ServiceWait("cache", port=port, timeout=0.2), "c1",
                       deadline=time.monotonic() + 0.2, stop=threading.Event(),
                       endpoints=lambda p: [("127.0.0.1", p)], output=lambda: iter(()))
    assert not result.ok
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
