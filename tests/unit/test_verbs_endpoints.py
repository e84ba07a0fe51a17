"""`envctl env` as a value: each service from its first running container, its ports, a URL
for the ports that answer HTTP (tried all at once, each bounded), and the format rule."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import envctl.docker.context
import envctl.docker.engine
import envctl.docker.published
from envctl.addresses import Address
from envctl.docker.published import ProjectContainer, Published
from envctl.env import endpoints as env_endpoints
from envctl.env.endpoints import Endpoints, Port, ServiceEndpoints, gather, speaks_http
from envctl.errors import UsageError
from envctl.settings import load_settings
from envctl.verbs import endpoints
from envctl.verbs.endpoints import check_format
from tests.unit.fake_engine import state


def container(name: str, service: str, *ports: Published, status: str = "running",
              health: str | None = None) -> ProjectContainer:
    return ProjectContainer(replace(state(name, status=status), service=service, health=health), ports)


WEB = Published(80, "tcp", "127.0.0.1", 8080)
WEB6 = Published(80, "tcp", "::1", 8080)
DNS = Published(53, "udp", "127.0.0.1", 5353)
DB = Published(5432, "tcp", "127.0.0.1", 15432)


def test_each_service_with_its_ports_and_a_url_where_http_answered() -> None:
    """web answers HTTP on 8080 (IPv4 and IPv6); db does not; UDP is never tried."""
    tried: list[tuple[str, int]] = []

    def answers(host: str, port: int) -> bool:
        tried.append((host, port))
        return port == 8080

    found = gather("p", [container("p-web-1", "web", WEB, WEB6, DNS),
                         container("p-db-1", "db", DB, health="healthy")], answers)
    assert sorted(tried) == [("127.0.0.1", 8080), ("127.0.0.1", 15432), ("::1", 8080)]
    assert found == Endpoints("p", (
        ServiceEndpoints("db", "p-db-1", "running", "healthy", "ready",
                         (Port(5432, "tcp", "127.0.0.1", 15432),)),
        ServiceEndpoints("web", "p-web-1", "running", None, "ready", (
            Port(80, "tcp", "127.0.0.1", 8080, "http://127.0.0.1:8080"), Port(80, "tcp", "::1", 8080, "http://[::1]:8080"),
            Port(53, "udp", "127.0.0.1", 5353))),
    ))
    assert found.services[1].url == "http://127.0.0.1:8080"
    assert found.services[1].address() == Address("web", "127.0.0.1", 8080, {80: 8080, 53: 5353},
                                                   "http://127.0.0.1:8080")


def test_a_scaled_service_is_its_first_running_container() -> None:
    """Replica 1 exited: replica 2 speaks for the service; an exited service has no ports; a
    container without a service label is none of the project's services."""
    found = gather("p", [container("p-web-2", "web", Published(80, "tcp", "127.0.0.1", 2)),
                         container("p-web-1", "web", WEB, status="exited"),
                         container("p-init-1", "init", WEB, status="exited"),
                         container("stray", "", WEB)], lambda _h, _p: True)
    assert [(s.service, s.container, s.phase, [p.host_port for p in s.ports]) for s in found.services] == [
        ("init", "p-init-1", "completed", []), ("web", "p-web-2", "ready", [2])]


def test_without_a_probe_there_is_no_url() -> None:
    """--no-probe: nothing is tried, no port has a URL."""
    found = gather("p", [container("p-web-1", "web", WEB)], env_endpoints._never)
    assert found.services[0].url is None


def test_the_ports_are_tried_all_at_once() -> None:
    """Three ports, each waiting for the other two: only tries in parallel all get through."""
    barrier = threading.Barrier(3)

    def answers(_host: str, port: int) -> bool:
        barrier.wait(timeout=10)
        return port != 2

    assert speaks_http({("h", 1), ("h", 2), ("h", 3)}, answers) == {("h", 1), ("h", 3)}
    assert speaks_http(set(), answers) == set()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP socket on loopback that accepts, for the test to answer as it likes."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def _answer_once(server: socket.socket, reply: bytes) -> threading.Thread:
    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_any_http_status_is_http(listener: socket.socket) -> None:
    """A 404 at / is still a server that speaks HTTP: it gets a URL."""
    thread = _answer_once(listener, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert env_endpoints.answers_http("127.0.0.1", listener.getsockname()[1])
    thread.join(10)


def test_a_port_that_speaks_something_else_is_not_http(listener: socket.socket) -> None:
    """A database's greeting, or a refused connection, is no URL."""
    thread = _answer_once(listener, b"\x00\x00\x00\x08greeting")
    assert not env_endpoints.answers_http("127.0.0.1", listener.getsockname()[1])
    thread.join(10)
    port = listener.getsockname()[1]
    listener.close()
    assert not env_endpoints.answers_http("127.0.0.1", port)


def test_a_silent_port_is_given_up_on_within_its_try(listener: socket.socket,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts and says nothing costs HTTP_TRY, not the wait's default."""
    import envctl.env.probes  # noqa: PLC0415

    asked: list[float] = []
    real = envctl.env.probes.http_status

    def http_status(host: str, port: int, path: str, seconds: float) -> int:
        asked.append(seconds)
        return real(host, port, path, seconds=0.01)

    monkeypatch.setattr(envctl.env.probes, "http_status", http_status)
    assert not env_endpoints.answers_http("127.0.0.1", listener.getsockname()[1])
    assert asked == [0.5]


@pytest.mark.parametrize(("fmt", "as_json", "chosen"), [
    ("text", False, "text"), ("text", True, "json"), ("json", True, "json"), ("sh", False, "sh"),
    ("dotenv", False, "dotenv"),
])
def test_the_format_asked_for(fmt: str, as_json: bool, chosen: str) -> None:
    """--json is --format json."""
    assert check_format(fmt, as_json) == chosen


@pytest.mark.parametrize(("fmt", "as_json", "error"), [
    ("yaml", False, "--format yaml: expected one of text, json, dotenv, sh"),
    ("sh", True, "--json and --format sh ask for two formats"),
])
def test_two_formats_or_an_unknown_one_is_a_usage_error(fmt: str, as_json: bool, error: str) -> None:
    """The rule lives in the verb: the CLI and MCP share it."""
    with pytest.raises(UsageError, match=error):
        check_format(fmt, as_json)


def test_the_verb_asks_the_engine_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """endpoints(): the project's containers on an Engine for ``host``, nothing tried without probe."""
    import envctl.verbs.env  # noqa: PLC0415
    from tests.unit.test_verbs_misc import FakeEnvironment  # noqa: PLC0415

    made: list[Any] = []

    class Engine:
        def __init__(self, timeout: float, *, host: str | None = None) -> None:
            made.append((timeout, host))

        def __enter__(self) -> Engine:
            return self

        def __exit__(self, *_exc: object) -> None:
            pass

    monkeypatch.setattr(envctl.verbs.env, "environment", FakeEnvironment)
    monkeypatch.setattr(envctl.docker.engine, "Engine", Engine)
    monkeypatch.setattr(envctl.docker.published, "project_containers",
                        lambda engine, project: [container(f"{project}-web-1", "web", WEB)])
    found = endpoints.endpoints(load_settings(tmp_path, environ={}), probe=False, host="ssh://box")
    assert made == [(60.0, "ssh://box")]
    assert found.variables() == {"ENVCTL_SERVICES": "web", "ENVCTL_WEB_HOST": "127.0.0.1",
                                 "ENVCTL_WEB_PORT": "8080", "ENVCTL_WEB_PORT_80": "8080"}


def test_the_engine_of_an_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_CONTEXT names the engine as --context does; none, or default, leaves DOCKER_HOST's."""
    monkeypatch.setattr(envctl.docker.context, "context_host", lambda name: f"ssh://{name}-host")
    assert endpoints.engine_of({"DOCKER_CONTEXT": "remote", "DOCKER_HOST": "tcp://x:1"}) == "ssh://remote-host"
    assert endpoints.engine_of({"DOCKER_CONTEXT": "default"}) is None
    assert endpoints.engine_of({}) is None
