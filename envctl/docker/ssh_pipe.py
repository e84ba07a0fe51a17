"""docker-py's ssh:// transport through the `ssh` program, with reads and writes that keep the
client's deadline. docker-py reads the program's stdout and writes its stdin with no timeout, so
an engine that stops answering behind a live SSH link (a frozen daemon, a link that drops
without a reset) would hold a call, or a shipment's upload, forever; here each read and write
waits at most the socket's timeout, as a TCP socket's would (None, which the SDK sets for a
followed stream, still waits as long as it takes)."""

from __future__ import annotations

import contextlib
import io
import os
import select
import socket
import subprocess
from typing import Any

from docker.transport import sshconn

CLOSE_WAIT = 2.0  # seconds the `ssh` program gets to end after SIGTERM, before SIGKILL


def _wait_for(fd: int, event: int, timeout: float | None) -> None:
    """Until ``fd`` is ready for ``event`` (poll: any fd number, unlike select's 1024), at most
    ``timeout`` seconds (None: as long as it takes); TimeoutError, as a socket raises, past it."""
    poller = select.poll()
    poller.register(fd, event | select.POLLERR | select.POLLHUP)
    if not poller.poll(None if timeout is None else max(0, int(timeout * 1000))):
        raise TimeoutError("timed out")  # requests makes it a ReadTimeout / ConnectionError


class _BoundedPipe(io.RawIOBase):
    """The `ssh` program's stdout, each read bounded by its socket's timeout at that moment."""

    def __init__(self, owner: BoundedSSHSocket, fd: int) -> None:
        super().__init__()
        self._owner = owner
        self._fd = fd

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: Any) -> int:
        _wait_for(self._fd, select.POLLIN, self._owner.gettimeout())
        data = os.read(self._fd, len(buffer))
        buffer[:len(data)] = data
        return len(data)


class BoundedSSHSocket(sshconn.SSHSocket):
    """docker-py's SSHSocket with one bounded reader for the HTTP response and stream reads
    alike, bounded writes, and a close that frees what it holds."""

    _reader: io.BufferedReader | None = None

    def connect(self, *_args: Any, **_kwargs: Any) -> None:
        """Start `ssh ... docker system dial-stdio` as docker-py does, but with its stderr not
        ours: with `ControlMaster auto` and `ControlPersist`, the master it may fork lives on
        holding the stderr it was given, and whoever reads envctl's output (a CI step, a
        `subprocess.run`) would wait for that master to end. Its complaints are not lost: the
        call fails as the engine not answering, and `docker -H ssh://... version` shows them."""
        argv = ["ssh", *(["-l", self.user] if self.user else []), *(["-p", self.port] if self.port else []),
                "--", self.host, "docker system dial-stdio"]
        env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "SSL_CERT_FILE")}
        # A session of its own: Ctrl-C is envctl's to handle (docker-py ignores SIGINT in the
        # child by a preexec_fn, not safe in a process with threads). So no terminal to prompt
        # on either: keys come from an agent or files (docs: BatchMode yes).
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)

    def _process(self) -> subprocess.Popen[bytes]:
        if not self.proc:
            self.connect()
        assert self.proc is not None  # noqa: S101  # connect() made it (for the type checker)
        return self.proc

    def _bounded_reader(self) -> io.BufferedReader:
        if self._reader is None:
            stdout = self._process().stdout
            assert stdout is not None  # noqa: S101  # docker-py starts it with stdout=PIPE
            self._reader = io.BufferedReader(_BoundedPipe(self, stdout.fileno()))
            # What docker-py's stream helpers (and envctl's EventStream.close) look for.
            self._reader.channel = self  # type: ignore[attr-defined]
        return self._reader

    def makefile(self, *_args: Any, **_kwargs: Any) -> Any:  # read-only whatever the mode, as docker-py's
        return self._bounded_reader()

    def recv(self, n: int, _flags: int = 0, /) -> bytes:
        return self._bounded_reader().read1(n)

    def sendall(self, data: Any, _flags: int = 0, /) -> None:
        stdin = self._process().stdin
        if stdin is None or stdin.closed:
            raise OSError("the ssh program's input is closed")
        fd = stdin.fileno()
        view = memoryview(data).cast("B")
        while view:
            _wait_for(fd, select.POLLOUT, self.gettimeout())
            # Writable means PIPE_BUF bytes fit; a larger write could block on a nearly full pipe.
            view = view[os.write(fd, view[:select.PIPE_BUF]):]

    def send(self, data: Any, _flags: int = 0, /) -> int:
        self.sendall(data)
        return len(data)

    def close(self) -> None:
        """End the `ssh` program (SIGTERM, then SIGKILL), close its pipes and the socket
        object's own descriptor: docker-py's close writes a courtesy newline first, which blocks
        on the full pipe of a frozen engine, and leaves the rest to the garbage collector."""
        process, self.proc = self.proc, None
        if process is not None:
            process.terminate()
            try:
                process.wait(CLOSE_WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self._reader is not None:
            with contextlib.suppress(OSError, ValueError):
                self._reader.close()
        socket.socket.close(self)


def install() -> None:
    """Make docker-py's ssh:// connections through the `ssh` program use BoundedSSHSocket (it
    looks the class up in its module each time it connects); idempotent."""
    sshconn.SSHSocket = BoundedSSHSocket  # type: ignore[misc]  # a class in its module, replaced
    # The SDK's client takes its ssh adapter from its transport, which left it out when the SDK
    # was imported with paramiko hidden (connection.import_sdk: an engine that is not ssh://).
    import docker.api.client as api_client  # noqa: PLC0415

    if not hasattr(api_client, "SSHHTTPAdapter"):
        api_client.SSHHTTPAdapter = sshconn.SSHHTTPAdapter  # type: ignore[attr-defined]  # see above
