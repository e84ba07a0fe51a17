"""Standard output and error whose reader may leave: `envctl test | head`, or `2>&1 | tee log`
ended by the same Ctrl-C. For a command whose exit code is a run's result (`test`, `wait`), a
write to a closed pipe must neither end it (the boundary would answer 0, click 1: never the
run's) nor cut short what a signal asks (the stop is requested after a message is printed). So
a stream whose reader left is sent to /dev/null and the command goes on; its answer is the run's.

`logs` and `status` keep the plain streams: `logs -f | head` ends when head does."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any


def silence(stream: Any) -> None:
    """``stream``'s descriptor to /dev/null from now on, for whoever holds it (a logger that kept
    the stream, the text and binary layers of one file): what is still buffered for it, and
    anything written later, goes nowhere instead of failing again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no descriptor: dropped above it
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)


class Outliving:
    """A stream (text, or its binary ``buffer``) that outlives its reader: a write or flush that
    meets a closed pipe silences the stream and is dropped, never raised."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._gone = False

    def write(self, data: Any) -> int:
        if self._gone:
            return len(data)
        try:
            return int(self._stream.write(data))
        except BrokenPipeError:
            self._leave()
            return len(data)

    def flush(self) -> None:
        if self._gone:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._leave()

    @property
    def buffer(self) -> Outliving:
        return Outliving(self._stream.buffer)

    def _leave(self) -> None:
        self._gone = True
        silence(self._stream)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()  # what the failed write left in the buffer, to /dev/null

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...: the stream's own
        return getattr(self._stream, name)


def outlive_readers() -> None:
    """From now on sys.stdout and sys.stderr survive their readers leaving (see the module)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, Outliving):
            setattr(sys, name, Outliving(stream))
