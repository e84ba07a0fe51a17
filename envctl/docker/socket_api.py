"""One bounded HTTP GET to the engine's local unix socket, with no SDK and no CLI: ~1 ms where
`docker image inspect` takes ~25 ms, importing the SDK ~150 ms and even `http.client` ~25 ms.
For the few lookups on the way to the test container's start (an image's presence and id, the
project's containers on a warm environment); anything else goes through the SDK or the CLI."""

from __future__ import annotations

import re
import socket
import time
import urllib.parse
from collections.abc import Callable

STATUS_LINE_LIMIT = 1024  # bytes: an answer whose status line is longer is not the engine's
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})[ \r]")


def get_status(socket_path: str, path: str, *, timeout: float,
               clock: Callable[[], float] = time.monotonic) -> int:
    """The HTTP status of ``GET path``, the rest of the answer unread; TimeoutError when the
    engine does not answer within ``timeout`` (connecting, asking and answering together),
    another OSError when it cannot be reached or does not answer in HTTP.

    The path carries no API version: the engine answers at its own (engines drop old versions:
    Docker 29 refuses anything before 1.44), and an image inspect has not changed in years.
    ``clock`` measures the deadline (each socket step waits at most what is left of it)."""
    head = _exchange(socket_path, path, timeout=timeout, clock=clock, until_status=True)
    return _status(head)


def get(socket_path: str, path: str, *, timeout: float, cap: int,
        clock: Callable[[], float] = time.monotonic) -> tuple[int, bytes]:
    """The HTTP status and body of ``GET path``, read whole; errors as `get_status` says, and
    AnswerTooLargeError (an OSError) when the answer passes ``cap`` bytes."""
    answer = _exchange(socket_path, path, timeout=timeout, clock=clock, cap=cap)
    return _status(answer), answer.partition(b"\r\n\r\n")[2]


class AnswerTooLargeError(OSError):
    """The engine's answer ran past what the caller would read."""


def _status(head: bytes) -> int:
    match = _STATUS.match(head)
    if match is None:
        raise OSError(f"not an HTTP answer from the engine: {head[:80]!r}")
    return int(match[1])


def _exchange(socket_path: str, path: str, *, timeout: float, clock: Callable[[], float],
              until_status: bool = False, cap: int = STATUS_LINE_LIMIT) -> bytes:
    """The answer to one HTTP/1.0 GET (the engine closes the connection at its end, unchunked):
    up to its status line, or whole and at most ``cap`` bytes."""
    deadline = clock() + timeout

    def left() -> float:
        remaining = deadline - clock()
        if remaining <= 0:
            raise TimeoutError(f"the engine did not answer within {timeout:g}s")
        return remaining

    answer = bytearray()
    end: int | None = None  # the whole answer's size, once its head names a Content-Length
    searched = 0  # how far the head's end was looked for (each byte is looked at once)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(left())
        sock.connect(socket_path)
        sock.settimeout(left())
        # HTTP/1.0 and `Connection: close`: the engine answers unchunked and hangs up at the end;
        # something else that keeps the connection open is read up to its Content-Length.
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\nConnection: close\r\n\r\n".encode("ascii"))
        while end is None or len(answer) < end:
            sock.settimeout(left())
            chunk = sock.recv(STATUS_LINE_LIMIT if until_status else 1 << 16)
            if not chunk:
                break
            answer += chunk
            if until_status:
                if b"\r\n" in answer or len(answer) >= STATUS_LINE_LIMIT:
                    break
                continue
            if len(answer) > cap:
                raise AnswerTooLargeError(f"the engine's answer to {path} passed {cap} bytes")
            if searched >= 0:
                head_end = answer.find(b"\r\n\r\n", max(0, searched - 3))
                searched = len(answer)
                if head_end >= 0:
                    searched = -1  # found: not looked for again
                    match = _CONTENT_LENGTH.search(answer, 0, head_end + 2)
                    end = head_end + 4 + int(match[1]) if match else None
    return bytes(answer)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r\n", re.IGNORECASE)


def image_path(name: str) -> str:
    """The inspect path of image ``name`` (a reference: registry:port/path:tag@digest)."""
    return f"/images/{urllib.parse.quote(name, safe='/:@')}/json"
