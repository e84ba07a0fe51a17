"""The engine's socket asked for a status: answers, wrong answers, and silence, each bounded."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envctl.docker.socket_api import AnswerTooLargeError, get, get_status, image_path


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, list[bytes], list[bytes]]]:
    """A stand-in engine on a unix socket: answers each connection with the next scripted reply
    (None: says nothing and holds the connection), and keeps what it was asked."""
    path = str(tmp_path / "docker.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    replies: list[bytes] = []
    asked: list[bytes] = []
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)  # closed at the end whatever happens, so none is left open
            try:
                asked.append(conn.recv(4096))
                reply = replies.pop(0)
                if reply:
                    conn.sendall(reply)
                    conn.close()
            except OSError:  # the client gave up first (its deadline passed)
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies, asked
    with contextlib.suppress(OSError):
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept, so the thread ends here
    server.close()
    thread.join(5)
    for conn in held:
        conn.close()


def test_the_status_of_an_answer(engine: tuple[str, list[bytes], list[bytes]]) -> None:
    """200 and 404 come back as numbers; the request names the API version and the path."""
    path, replies, asked = engine
    replies += [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
                b"HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"No such image\"}"]
    assert get_status(path, "/images/x:1/json", timeout=2) == 200
    assert get_status(path, "/images/y/json", timeout=2) == 404
    assert asked[0].startswith(b"GET /images/x:1/json HTTP/1.0\r\n")


def test_a_whole_answer_is_read_up_to_its_cap(engine: tuple[str, list[bytes], list[bytes]]) -> None:
    """get returns the status and the body; an answer past the cap is refused, not kept."""
    path, replies, _asked = engine
    replies += [b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1, 2]",
                b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 5000]
    assert get(path, "/containers/json", timeout=2, cap=1000) == (200, b"[1, 2]")
    with pytest.raises(AnswerTooLargeError, match="passed 1000 bytes"):
        get(path, "/containers/json", timeout=2, cap=1000)


def test_an_answer_on_a_connection_kept_open_ends_at_its_length(tmp_path: Path) -> None:
    """A server that keeps the connection open (a proxy's keep-alive) is read up to its
    Content-Length, not until the deadline; the request asks it to close."""
    path = str(tmp_path / "proxy.sock")
    body = b'[{"Id": "x"}]'
    asked: list[bytes] = []
    done = threading.Event()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                asked.append(conn.recv(4096))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                done.wait(10)  # held open until the client has its answer

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            assert get(path, "/containers/json", timeout=5, cap=1000) == (200, body)
        finally:
            done.set()
            thread.join(5)
    assert b"\r\nConnection: close\r\n" in asked[0]


def test_an_answer_that_is_not_http_is_an_error(engine: tuple[str, list[bytes], list[bytes]]) -> None:
    """Something else on the socket (an SSH banner) is an OSError, not a status."""
    path, replies, _asked = engine
    replies.append(b"SSH-2.0-OpenSSH_9.2\r\n")
    with pytest.raises(OSError, match="not an HTTP answer"):
        get_status(path, "/images/x/json", timeout=2)


def test_a_silent_engine_is_given_up_at_the_deadline(engine: tuple[str, list[bytes], list[bytes]]) -> None:
    """An engine that accepts and never answers: the read ends at the deadline, a TimeoutError."""
    path, replies, _asked = engine
    replies.append(b"")
    with pytest.raises(TimeoutError):
        get_status(path, "/images/x/json", timeout=0.05)


def test_connecting_asking_and_answering_share_one_deadline(
        engine: tuple[str, list[bytes], list[bytes]]) -> None:
    """Time spent connecting is not given again to the answer: once the clock passes the
    deadline, the next step is not begun."""
    path, replies, _asked = engine
    replies.append(b"")  # held: the engine would answer, but the deadline has passed first
    readings = iter([100.0, 100.0, 100.5, 101.0])  # start, connect, send, then past the deadline

    with pytest.raises(TimeoutError, match=r"^the engine did not answer within 1s$"):
        get_status(path, "/images/x/json", timeout=1, clock=lambda: next(readings))


def test_an_engine_that_hangs_up_without_a_word_is_not_http(
        engine: tuple[str, list[bytes], list[bytes]]) -> None:
    """A connection closed before a status line is an OSError, which sends the caller to the CLI."""
    path, replies, _asked = engine
    replies.append(b"\x00")
    with pytest.raises(OSError, match="not an HTTP answer"):
        get_status(path, "/images/x/json", timeout=2)


def test_no_engine_is_an_oserror(tmp_path: Path) -> None:
    """Nothing listening on the socket: the caller falls back to the CLI on OSError."""
    with pytest.raises(OSError):
        get_status(str(tmp_path / "none.sock"), "/images/x/json", timeout=1)


@pytest.mark.parametrize(("name", "path"), [
    ("python:3.11-slim", "/images/python:3.11-slim/json"),
    ("registry:5000/team/app:1", "/images/registry:5000/team/app:1/json"),
    ("app@sha256:abc", "/images/app@sha256:abc/json"),
    ("a b?c#d", "/images/a%20b%3Fc%23d/json"),
])
def test_an_image_reference_is_one_path(name: str, path: str) -> None:
    """A reference keeps its slashes, colons and digest; anything that would end the path is quoted."""
    assert image_path(name) == path
