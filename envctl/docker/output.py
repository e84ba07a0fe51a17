"""A container's output: the engine's stored log, or an attach copied byte for byte."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from envctl.docker import streams, timeouts
from envctl.docker.containers import Containers
from envctl.docker.translate import translate_errors
from envctl.errors import ContainerGoneError

if TYPE_CHECKING:
    from docker import APIClient

ATTACH_GRACE = 2.0  # seconds an attach may stay open after its container exited
WHAT = "reading the test container's output"


class Output:
    """The output of one engine's containers (``api``: its SDK client's low-level API)."""

    def __init__(self, api: APIClient, containers: Containers) -> None:
        self.api = api
        self.containers = containers

    def stored(self, container_id: str, *, follow: bool, tail: int | None = None) -> Iterator[bytes]:
        """The container's stdout and stderr from the engine's stored log, from its first byte
        (or the last ``tail`` lines).

        ``follow``: go on until the container exits. Unlike an attach, the stored log has no
        gap however late it is read; but it re-encodes invalid UTF-8.
        """
        try:
            stream = self._open(container_id, follow=follow, tail=tail, attach=False)
        except ContainerGoneError:
            return Closable(iter(()), None)
        return Closable(guarded(stream), stream)

    def follow(self, container_id: str, sink: Callable[[bytes], None], *,
               grace: float = ATTACH_GRACE,
               on_attached: Callable[[], None] | None = None) -> tuple[int | None, bool]:
        """Attach and copy the output to ``sink`` until the container exits.

        Whole only if attached before the container wrote anything (the runner waits for the
        collector's gate): what is written while the engine replays its log is lost.

        Returns (exit code or None if the container vanished, complete). The attach is the only
        byte-exact copy (the engine's stored log re-encodes invalid UTF-8), but attaching to a
        container that has already stopped returns nothing, or hangs. So: attach first, then
        inspect; a container not running by then is reported incomplete at once, and the caller
        reads the stored log. Otherwise the exit is awaited alongside, and an attach that stops
        delivering bytes for ``grace`` seconds after the exit is closed and reported incomplete.
        """
        try:
            stream = self._open(container_id, follow=True, tail=None, attach=True)
        except ContainerGoneError:
            return None, False
        if on_attached is not None:
            try:
                on_attached()
            except BaseException:
                with contextlib.suppress(Exception):
                    stream.close()
                raise
        state = self.containers.state(container_id)
        if state is None or state.status not in ("running", "paused", "restarting"):
            with contextlib.suppress(Exception):
                stream.close()
            return (None if state is None else state.exit_code), False
        finished = threading.Event()
        received = [0]

        def pump() -> None:
            try:
                for chunk in guarded(stream):
                    received[0] += len(chunk)
                    sink(chunk)
            except Exception:  # noqa: S110  # closing the stream ends the read with an error
                pass
            finally:
                finished.set()

        thread = threading.Thread(target=pump, daemon=True, name="envctl-attach")
        thread.start()
        try:
            code = self.containers.wait_exit(container_id)
        except ContainerGoneError:
            code = None
        seen = -1
        while seen != received[0]:  # after the exit, wait as long as bytes keep arriving
            seen = received[0]
            if finished.wait(grace):
                # An attach whose container exits while the engine replays its log can end
                # without a byte; the stored log is the better source then.
                return code, received[0] > 0
        with contextlib.suppress(Exception):
            stream.close()
        thread.join(grace)
        return code, False

    def _open(self, container_id: str, *, follow: bool, tail: int | None, attach: bool) -> Any:
        with translate_errors(WHAT):
            if attach:
                # The engine replays the stored log, then joins the live stream: bytes written
                # in between are lost, so only an attach made before any output is whole.
                # Opened within the client's deadline; read until the container ends.
                stream = self.api.attach(container_id, stdout=True, stderr=True, stream=True, logs=True)
                response = cast("Any", stream)._response  # the CancellableStream's HTTP response
                streams.read_without_deadline(self.api, response, timeouts.UNTIL_EXIT)
                return stream
            # The SDK lifts a followed log's socket timeout itself once its headers arrived.
            return self.api.logs(container_id, stdout=True, stderr=True, stream=True,
                                 follow=follow, tail="all" if tail is None else tail)


class Closable(Iterator[bytes]):
    """A log's chunks that another thread can end: ``close`` shuts the stream's socket, which
    wakes a read blocked on a container that prints nothing (a generator cannot be closed
    while another thread runs it)."""

    def __init__(self, chunks: Iterator[bytes], stream: Any) -> None:
        self.chunks = chunks
        self.stream = stream

    def __next__(self) -> bytes:
        return next(self.chunks)

    def close(self) -> None:
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.close()


def guarded(stream: Any) -> Iterator[bytes]:
    """``stream``'s chunks, its errors translated; a container removed meanwhile ends it."""
    try:
        with translate_errors(WHAT):
            yield from stream
    except ContainerGoneError:
        return
