"""Reads from an ssh:// engine through the `ssh` program keep the socket's timeout: a silent peer
is given up after it, data is read as it comes, no timeout waits as long as it takes (a local
`cat` stands in for `ssh ... docker system dial-stdio`)."""

from __future__ import annotations

import subprocess
import sys
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
    made.proc = process = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        yield made
    finally:
        made.close()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


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
