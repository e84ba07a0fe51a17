"""A stand-in for the docker SDK's low-level API (``client.api``), for unit tests of
envctl/docker/ without an engine: answers from per-test dicts, records every call."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator
from typing import Any

import docker.errors
import requests


def response(status: int) -> requests.Response:
    """An HTTP answer with only its status, as the SDK's errors carry it."""
    answer = requests.Response()
    answer.status_code = status
    return answer


def not_found(what: str = "No such container: c") -> docker.errors.NotFound:
    """The SDK's 404, as the engine raises it for a container or image that is not there."""
    return docker.errors.NotFound(what, response=response(404), explanation=what)


def api_error(status: int, what: str = "boom") -> docker.errors.APIError:
    """The SDK's error for another HTTP status."""
    return docker.errors.APIError(what, response=response(status), explanation=what)


def tar_of(name: str, data: bytes) -> bytes:
    """A tar archive holding one regular file, as the engine's archive endpoint sends it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Stream:
    """A streamed answer (logs, attach, events): its chunks, and whether it was closed."""

    def __init__(self, chunks: list[Any], *, error: BaseException | None = None) -> None:
        self.chunks = chunks
        self.error = error
        self.closed = False
        self._response = self  # as the SDK's CancellableStream keeps its HTTP response

    def __iter__(self) -> Iterator[Any]:
        yield from self.chunks
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True


class Archive:
    """The engine's answer to a GET of a container's archive: its chunks as they stream, and
    whether it was closed (and how far it was read)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.closed = False
        self.pulled = 0

    def iter_content(self, chunk_size: int, decode_unicode: bool) -> Iterator[bytes]:
        assert (chunk_size, decode_unicode) == (1 << 20, False)
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk

    def close(self) -> None:
        self.closed = True


class Each:
    """One answer per call, in order; the last repeats."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def next(self) -> Any:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class FakeAPI:
    """Each method answers from ``answers[name]``: a value, an exception to raise, or
    :class:`Each` of them. ``calls`` keeps (name, args, kwargs) of every call."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _answer(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((name, args, kwargs))
        answer = self.answers.get(name)
        if isinstance(answer, Each):
            answer = answer.next()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def called(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The arguments of every call of ``name``, in order."""
        return [(args, kwargs) for called, args, kwargs in self.calls if called == name]

    # The SDK's response helpers envctl's streams use (docker/streams.py): a GET of /events is
    # the "events" answer; a lifted socket timeout is recorded as "disable_socket_timeout". A
    # GET of a container's archive (containers.py's copy out) is the "get_archive" answer.
    def _url(self, path: str, *args: str) -> str:
        return path.format(*args)

    def _get(self, url: str, *, params: dict[str, Any], stream: bool,
             headers: dict[str, str] | None = None) -> Any:
        assert stream, url
        if url.endswith("/archive"):
            return self._answer("get_archive", url, params=params, headers=headers)
        assert url == "/events", url
        return self._answer("events", params=params)

    def _raise_for_status(self, response: Any) -> None:
        pass

    def _stream_helper(self, response: Any, *, decode: bool) -> Iterator[Any]:
        assert decode
        return iter(response)

    def _get_raw_response_socket(self, response: Any) -> Any:
        return response

    def _disable_socket_timeout(self, sock: Any) -> None:
        self._answer("disable_socket_timeout", sock)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._answer(name, *args, **kwargs)
