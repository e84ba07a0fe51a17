"""Reads from an ssh:// engine through the `ssh` program keep the socket's timeout: a silent peer
is given up after it, data is read as it comes, no timeout waits as long as it takes (a local
`cat` stands in for `ssh ... docker system dial-stdio`)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import docker.transport
import pytest
from docker.transport import sshconn

import envctl.docker
from envctl.docker import ssh_pipe
from envctl.docker.connection import connect
from envctl.docker.ssh_pipe import BoundedSSHSocket
from envctl.errors import EngineUnavailableError


@pytest.fixture
def sock() -> Iterator[BoundedSSHSocket]:
    """A socket whose `ssh` process is `cat`: silent until written to, and then an echo."""
    made = BoundedSSHSocket("ci@build-1:22")
    made.proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        yield made
    finally:
        made.close()


def test_a_silent_engine_is_given_up_after_the_timeout(sock: BoundedSSHSocket) -> None:
    """Nothing comes: the read raises TimeoutError (a socket's) once the timeout has passed."""
    sock.settimeout(0.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        sock.makefile("rb").readline()
    assert time.monotonic() - started >= 0.3


def test_what_comes_is_read_by_the_response_and_the_stream_alike(sock: BoundedSSHSocket) -> None:
    """One reader for both: a line through makefile, the rest through recv, nothing lost; a
    reader that docker-py's stream helpers know by its channel."""
    sock.settimeout(5)
    sock.sendall(b"HTTP/1.1 200 OK\r\nrest")
    reader = sock.makefile("rb")
    assert reader.readline() == b"HTTP/1.1 200 OK\r\n"
    assert sock.recv(100) == b"rest"
    assert reader.channel is sock


def test_no_timeout_waits_for_the_data(sock: BoundedSSHSocket) -> None:
    """settimeout(None), as the SDK sets for a followed stream: the read waits and gets it."""
    sock.settimeout(None)
    sock.sendall(b"event\n")
    assert sock.recv(6) == b"event\n"


def test_install_replaces_the_sdks_socket_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-py connects with whatever its module names SSHSocket: ours, once installed."""
    monkeypatch.setattr(sshconn, "SSHSocket", sshconn.SSHSocket)
    ssh_pipe.install()
    ssh_pipe.install()
    assert sshconn.SSHSocket is BoundedSSHSocket


def test_without_paramiko_an_ssh_engine_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's ssh module imports paramiko even to run `ssh`: without it, an ssh:// engine is
    an engine error naming the extra to install, not a crash."""
    monkeypatch.setitem(sys.modules, "paramiko", None)  # as if never installed
    monkeypatch.delitem(sys.modules, "docker.transport.sshconn")
    monkeypatch.delattr(docker.transport, "sshconn")
    monkeypatch.delitem(sys.modules, "envctl.docker.ssh_pipe")
    monkeypatch.delattr(envctl.docker, "ssh_pipe")
    with pytest.raises(EngineUnavailableError) as caught:
        connect(5, host="ssh://ci@build-1")
    assert (caught.value.message, caught.value.hint) == (
        "reaching ssh://ci@build-1 needs paramiko", "pip install 'envctl[ssh]'")


def test_a_write_to_an_engine_that_takes_nothing_is_given_up() -> None:
    """A peer that never reads (its pipe fills): the write raises TimeoutError after the
    timeout, and close ends the program at once instead of blocking on a courtesy write."""
    made = BoundedSSHSocket("ci@build-1")
    made.proc = process = subprocess.Popen(["sleep", "600"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    made.settimeout(0.3)
    with pytest.raises(TimeoutError):
        made.sendall(b"x" * (4 << 20))  # far more than a pipe holds
    made.close()
    assert process.returncode == -signal.SIGTERM
    assert made.proc is None


def test_what_is_written_arrives_whole(sock: BoundedSSHSocket) -> None:
    """A megabyte written in pipe-sized slices comes back whole through the echo."""
    sock.settimeout(5)
    payload = bytes(range(256)) * 4096
    received = bytearray()
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    while len(received) < len(payload):
        received += sock.recv(65536)
    sender.join()
    assert bytes(received) == payload


def test_the_ssh_program_gets_no_stderr_and_a_session_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-py's argv, but stderr not envctl's (a ControlPersist master would hold it open
    for whoever reads envctl's output) and its own session (Ctrl-C is envctl's)."""
    started: list[tuple[list[str], dict[str, object]]] = []

    def popen(argv: list[str], **kwargs: object) -> object:
        started.append((argv, kwargs))
        return object()

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/lib")
    made = BoundedSSHSocket("ci@build-1:2222")
    made.connect()
    made.proc = None  # a stand-in: nothing to end
    made.close()
    argv, kwargs = started[0]
    assert argv == ["ssh", "-l", "ci", "-p", "2222", "--", "build-1", "docker system dial-stdio"]
    assert (kwargs["stderr"], kwargs["start_new_session"]) == (subprocess.DEVNULL, True)
    assert "LD_LIBRARY_PATH" not in kwargs["env"]  # type: ignore[operator]
