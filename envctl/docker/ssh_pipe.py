"""docker-py's ssh:// transport through the `ssh` program, with reads that keep the client's
deadline. docker-py reads the program's stdout with no timeout, so an engine that stops
answering behind a live SSH link (a frozen daemon, a link that drops without a reset) would hold
the call forever; here each read waits at most the socket's timeout, as a TCP socket's would
(None, which the SDK sets for a followed stream, still waits as long as it takes)."""

from __future__ import annotations

import contextlib
import io
import os
import select
import socket
from typing import Any

from docker.transport import sshconn


class _BoundedPipe(io.RawIOBase):
    """The `ssh` program's stdout, each read bounded by its socket's timeout at that moment."""

    def __init__(self, owner: BoundedSSHSocket, pipe: Any) -> None:
        super().__init__()
        self._owner = owner
        self._pipe = pipe

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return int(self._pipe.fileno())

    def readinto(self, buffer: Any) -> int:
        timeout = self._owner.gettimeout()
        if timeout is not None and not select.select([self._pipe], [], [], timeout)[0]:
            raise TimeoutError("timed out")  # what a socket raises: requests makes it a ReadTimeout
        data = os.read(self.fileno(), len(buffer))
        buffer[:len(data)] = data
        return len(data)


class BoundedSSHSocket(sshconn.SSHSocket):
    """docker-py's SSHSocket with one reader for the HTTP response and stream reads alike."""

    _reader: io.BufferedReader | None = None

    def _bounded_reader(self) -> io.BufferedReader:
        if self._reader is None:
            if not self.proc:
                self.connect()
            assert self.proc is not None  # noqa: S101  # connect() made it (for the type checker)
            self._reader = io.BufferedReader(_BoundedPipe(self, self.proc.stdout))
            # What docker-py's stream helpers (and envctl's EventStream.close) look for.
            self._reader.channel = self  # type: ignore[attr-defined]
        return self._reader

    def makefile(self, *_args: Any, **_kwargs: Any) -> Any:  # read-only whatever the mode, as docker-py's
        return self._bounded_reader()

    def recv(self, n: int, _flags: int = 0, /) -> bytes:
        return self._bounded_reader().read1(n)

    def close(self) -> None:
        """End the `ssh` program (docker-py's close), and free the socket object's own file
        descriptor, which docker-py's leaves open until it is collected."""
        with contextlib.suppress(OSError):  # the program is gone already (its stdin closed)
            super().close()
        socket.socket.close(self)


def install() -> None:
    """Make docker-py's ssh:// connections through the `ssh` program use BoundedSSHSocket (it
    looks the class up in its module each time it connects); idempotent."""
    sshconn.SSHSocket = BoundedSSHSocket  # type: ignore[misc]  # a class in its module, replaced
