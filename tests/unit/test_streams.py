"""Streams from the engine: opened within the client's deadline, read without one (against a
stand-in engine on a unix socket: no Docker)."""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import docker
import pytest

from envctl.docker.containers import Containers
from envctl.docker.events import subscribe
from envctl.docker.output import Output
from envctl.errors import EngineUnavailableError

DEADLINE = 1  # the client's socket timeout in these tests, in seconds


class StandIn:
    """An engine on a unix socket: ``answers`` maps a request line's path to the raw bytes sent
    back (headers included), or None to accept the request and never answer."""

    def __init__(self, path: Path, answers: dict[str, bytes | None]) -> None:
        self.answers = answers
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                self.open.append(conn)
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                path = request.split(b" ", 2)[1].decode().split("?")[0]
                answer = next((a for p, a in self.answers.items() if path.endswith(p)), None)
                if answer is None:
                    return  # silent: the connection stays open (the test closes it)
                conn.sendall(answer)

    def close(self) -> None:
        for conn in [self.server, *self.open]:
            with contextlib.suppress(OSError):
                conn.close()


def http(body: bytes, *, status: str = "200 OK", content_type: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


EVENTS_OPENED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
ATTACHED = (b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
INSPECT = http(json.dumps({"Id": "c1", "Config": {"Tty": False},
                           "State": {"Status": "running", "Running": True}}).encode())


StandInEngine = tuple[Path, dict[str, "bytes | None"]]  # its socket, and its answers by path


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[StandInEngine]:
    answers: dict[str, bytes | None] = {}
    path = tmp_path / "engine.sock"
    stand_in = StandIn(path, answers)
    yield path, answers
    stand_in.close()


@contextlib.contextmanager
def api_for(path: Path) -> Iterator[docker.APIClient]:
    api = docker.APIClient(base_url=f"unix://{path}", version="1.41", timeout=DEADLINE)
    try:
        yield api
    finally:
        api.close()


def socket_timeout(api: docker.APIClient, response: object) -> float | None:
    sock = cast("Any", api)._get_raw_response_socket(response)  # what the stream reads from
    return getattr(sock, "_sock", sock).gettimeout()  # type: ignore[no-any-return]


# urllib3 drops a timed-out connection without closing its socket: the garbage collector warns of
# it, here (collected at the test's end) rather than in whichever test runs next.
DROPPED_SOCKET = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning",
                                            "ignore::ResourceWarning")


@DROPPED_SOCKET
def test_an_engine_that_never_answers_a_subscription_fails_it_within_the_deadline(
        engine: StandInEngine) -> None:
    """The SDK's own events() would wait for ever; envctl's subscription has the client's deadline."""
    path, answers = engine
    answers["/events"] = None
    started = time.monotonic()
    with api_for(path) as api, pytest.raises(EngineUnavailableError,
                                             match="subscribing to engine events"):
        subscribe(api, filters={})
    assert time.monotonic() - started < DEADLINE + 2
    gc.collect()


def test_an_opened_subscription_is_read_without_a_deadline(engine: StandInEngine) -> None:
    """Once the engine answered, a quiet stream is not a timeout: the socket has none."""
    path, answers = engine
    answers["/events"] = EVENTS_OPENED
    with api_for(path) as api:
        stream = subscribe(api, filters={"type": ["container"]})
        assert socket_timeout(api, stream.response) is None
        stream.close()


@DROPPED_SOCKET
def test_an_engine_that_never_answers_an_attach_fails_it_within_the_deadline(
        engine: StandInEngine) -> None:
    """The attach (and its inspect) is an engine call like any other: a silent engine is an error."""
    path, answers = engine
    answers["/attach"] = None
    started = time.monotonic()
    with api_for(path) as api, pytest.raises(EngineUnavailableError,
                                             match="reading the test container's output"):
        Output(api, Containers(api, None)).follow("c1", lambda _chunk: None)
    assert time.monotonic() - started < DEADLINE + 2
    gc.collect()


def test_an_opened_attach_is_read_without_a_deadline(engine: StandInEngine) -> None:
    """A test that prints nothing for longer than the deadline does not end its attach."""
    path, answers = engine
    answers["/attach"] = ATTACHED
    answers["/json"] = INSPECT
    with api_for(path) as api:
        output = Output(api, Containers(api, None))
        stream = output._open("c1", follow=True, tail=None, attach=True)  # the opening alone
        response = stream._response  # the CancellableStream's
        assert socket_timeout(api, response) is None
        stream.close()
        response.close()


def test_an_ssh_event_stream_is_closed_by_ending_its_ssh_process() -> None:
    """ssh:// through the `ssh` program: the SDK's own close does not know that transport, and
    closing the response would wait on the read blocked in the pump thread: the `ssh` process
    is ended first (its pipes close, the read ends), then the response is closed."""
    from types import SimpleNamespace  # noqa: PLC0415

    from envctl.docker.streams import EventStream  # noqa: PLC0415

    done: list[str] = []
    proc = SimpleNamespace(terminate=lambda: done.append("ssh ended"))
    reader = SimpleNamespace(channel=SimpleNamespace(proc=proc))  # the SDK tags ssh's stdout so
    response = SimpleNamespace(raw=SimpleNamespace(_fp=SimpleNamespace(fp=reader), closed=False),
                               close=lambda: done.append("response closed"))
    EventStream(iter(()), response).close()
    assert done == ["ssh ended", "response closed"]
