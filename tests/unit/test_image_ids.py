"""Image ids for a run's fingerprint: on the engine's socket (a stand-in), else through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.docker import cli_config
from envctl.docker.image_ids import image_ids
from envctl.errors import DockerError
from tests.unit.test_images import docker_cli
from tests.unit.test_socket_api import engine

__all__ = ["engine"]  # the stand-in engine fixture, shared with the socket's own tests

ID1, ID2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_ids_are_read_on_the_local_socket(engine: tuple[str, list[bytes], list[bytes]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """One GET per image: a 200's Id, a 404's None; an image named twice is asked once."""
    path, replies, asked = engine
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    monkeypatch.setenv("PATH", "/nonexistent")  # a CLI call would fail loudly
    replies += [b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"Id": "' + ID1.encode() + b'"}',
                b"HTTP/1.0 404 Not Found\r\n\r\n{}"]
    assert image_ids(["app:1", "db:2", "app:1"]) == {"app:1": ID1, "db:2": None}
    assert len(asked) == 2


def test_an_answer_not_to_trust_goes_to_the_cli(engine: tuple[str, list[bytes], list[bytes]],
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 500, or a 200 whose Id is no image id: the CLI is asked, and answers."""
    path, replies, _asked = engine
    docker_cli(tmp_path, monkeypatch, f"echo {ID2}\n")
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    replies += [b"HTTP/1.0 500 Oops\r\n\r\n", b'HTTP/1.0 200 OK\r\n\r\n{"Id": "../x"}']
    assert image_ids(["a:1", "b:1"]) == {"a:1": ID2, "b:1": ID2}


def test_a_silent_engine_is_an_error_not_a_second_wait(engine: tuple[str, list[bytes], list[bytes]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked and never answered: a DockerError at the deadline."""
    path, replies, _asked = engine
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    monkeypatch.setenv("PATH", "/nonexistent")
    replies.append(b"")
    with pytest.raises(DockerError, match=r"did not answer within 0\.5s"):
        image_ids(["app:1"], timeout=0.5)


def test_the_cli_says_which_are_missing_and_what_failed(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket: the CLI's id, its 'No such image' as None, any other failure a DockerError."""
    docker_cli(tmp_path, monkeypatch, f'case "$5" in app:1) echo {ID1};; '
               'db:2) echo "Error: No such image: db:2" >&2; exit 1;; '
               "*) echo 'permission denied' >&2; exit 1;; esac\n")
    assert image_ids(["app:1", "db:2"]) == {"app:1": ID1, "db:2": None}
    with pytest.raises(DockerError, match=r"^inspecting image x:3: permission denied$"):
        image_ids(["x:3"])
