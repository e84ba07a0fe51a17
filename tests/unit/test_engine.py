"""Engine calls that need no engine to test: which images are missing, asked on the socket or the CLI."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from envctl.docker import cli_config
from envctl.docker.engine import missing_images
from envctl.errors import DockerError
from tests.unit.test_socket_api import engine

__all__ = ["engine"]  # the stand-in engine fixture, shared with the socket's own tests


def test_missing_images_are_asked_on_the_local_socket(
        engine: tuple[str, list[bytes], list[bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    """One GET per image on the socket: 200 is there, 404 is missing; the CLI is not run."""
    path, replies, asked = engine
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    monkeypatch.setenv("PATH", "/nonexistent")  # a CLI call would fail loudly
    replies += [b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.1 404 Not Found\r\n\r\n"]
    assert missing_images(["app:1", "db:2"]) == ["db:2"]
    assert [line.split(b" ")[1] for line in asked] == [b"/images/app:1/json",
                                                       b"/images/db:2/json"]


def test_an_answer_the_socket_cannot_give_goes_to_the_cli(
        engine: tuple[str, list[bytes], list[bytes]], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """A 500 (or no socket) is asked again through `docker image inspect`, whose words decide."""
    path, replies, _asked = engine
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Error response from daemon: No such image: app:1' >&2\nexit 1\n")
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", str(tmp_path))
    replies.append(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    assert missing_images(["app:1"]) == ["app:1"]


def test_a_silent_engine_is_an_error_not_a_second_wait(
        engine: tuple[str, list[bytes], list[bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that takes the request and never answers: a DockerError at the deadline, not
    a fall back to the CLI that would wait as long again."""
    path, replies, _asked = engine
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    monkeypatch.setenv("PATH", "/nonexistent")
    replies.append(b"")
    with pytest.raises(DockerError, match="did not answer within"):
        missing_images(["app:1"], timeout=0.5)
