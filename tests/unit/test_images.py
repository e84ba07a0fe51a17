"""Images: whether the engine has them, through the SDK, on its socket or through the CLI."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from envctl.docker import cli_config
from envctl.docker.images import image_exists, missing_images
from envctl.errors import DockerError, EngineUnavailableError
from tests.unit.fake_api import FakeAPI, api_error, not_found
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


def test_an_image_the_engine_has_exists() -> None:
    """A 200 to the SDK's inspect is there."""
    api = FakeAPI(inspect_image={"Id": "sha256:1"})
    assert image_exists(cast("Any", api), "app:1") is True
    assert api.called("inspect_image") == [(("app:1",), {})]


@pytest.mark.parametrize("error", [not_found("No such image: app:1"), api_error(500)])
def test_an_image_the_engine_cannot_show_does_not_exist(error: Exception) -> None:
    """A 404, or any other engine error, says no."""
    assert image_exists(cast("Any", FakeAPI(inspect_image=error)), "app:1") is False


def docker_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """A `docker` on PATH that runs ``script``, and no local socket to ask first."""
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: None)
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", str(tmp_path))


def test_without_a_local_socket_the_cli_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's exit 0 is there; its 'No such image' is missing."""
    docker_cli(tmp_path, monkeypatch, 'case "$5" in app:1) echo sha256:1;; *) '
               "echo 'Error: No such image: '$5 >&2; exit 1;; esac\n")
    assert missing_images(["app:1", "db:2"]) == ["db:2"]


def test_a_cli_that_cannot_reach_the_engine_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'Cannot connect' is the engine unavailable, with the CLI's first line."""
    docker_cli(tmp_path, monkeypatch, "echo 'Cannot connect to the Docker daemon at unix:///x.sock.' >&2\n"
               "echo 'second line' >&2\nexit 1\n")
    with pytest.raises(EngineUnavailableError, match=r"app:1: Cannot connect to the Docker daemon at unix:///x\.sock\.$"):
        missing_images(["app:1"])


def test_another_cli_failure_is_a_docker_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any other failure names the image and the CLI's words; silence names its exit code."""
    docker_cli(tmp_path, monkeypatch, "exit 7\n")
    with pytest.raises(DockerError, match=r"^checking for image app:1: exit 7$"):
        missing_images(["app:1"])


def test_no_docker_cli_is_the_engine_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No `docker` on PATH: it cannot be asked at all."""
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailableError, match="cannot run docker"):
        missing_images(["app:1"])


def test_a_socket_nobody_listens_on_sends_the_question_to_the_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The socket cannot be reached: the CLI asks, and says what is wrong in its own words."""
    docker_cli(tmp_path, monkeypatch, "echo sha256:1\n")
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: str(tmp_path / "none.sock"))
    assert missing_images(["app:1"]) == []


def test_a_cli_that_does_not_answer_in_time_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker image inspect` past the deadline: a DockerError with the deadline, not a hang."""
    def hung(argv: list[str], **kwargs: Any) -> None:
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: None)
    monkeypatch.setattr(subprocess, "run", hung)
    with pytest.raises(DockerError, match=r"^checking for image app:1: docker did not answer within 7s$"):
        missing_images(["app:1"], timeout=7)
