"""What the docker CLI would use: its context and the engine's local socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.docker.cli_config import (
    DEFAULT_SOCKET,
    engine_environment,
    engine_prefix,
    local_socket,
    plain_default_context,
)


@pytest.mark.parametrize(("docker_host", "expected"), [
    (None, DEFAULT_SOCKET),
    ("unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"),
    ("tcp://10.0.0.5:2376", None),
    ("ssh://ci@builder", None),
    ("unix://", None),
])
def test_the_local_socket_follows_docker_host(tmp_path: Path, docker_host: str | None,
                                              expected: str | None) -> None:
    """No DOCKER_HOST: the default socket; a unix:// one: its path; anything remote: none."""
    env = {"HOME": str(tmp_path)} | ({"DOCKER_HOST": docker_host} if docker_host else {})
    assert local_socket(env) == expected


def test_a_context_leaves_the_socket_to_the_cli(tmp_path: Path) -> None:
    """The config's currentContext may point anywhere: no socket of ours."""
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    assert local_socket({"DOCKER_CONFIG": str(tmp_path)}) is None
    assert plain_default_context({"DOCKER_CONFIG": str(tmp_path)}) is None


def test_an_empty_or_missing_config_is_the_default_context(tmp_path: Path) -> None:
    """No config.json, or an empty one, is what a fresh machine has."""
    assert plain_default_context({"DOCKER_CONFIG": str(tmp_path)}) == {}
    (tmp_path / "config.json").write_text("")
    assert plain_default_context({"DOCKER_CONFIG": str(tmp_path)}) == {}


def test_a_config_that_is_a_folder_is_not_read_as_default(tmp_path: Path) -> None:
    """config.json that cannot be read (here a folder) leaves every decision to the CLI."""
    (tmp_path / "config.json").mkdir()
    assert plain_default_context({"DOCKER_CONFIG": str(tmp_path)}) is None


def test_without_home_the_cli_decides(tmp_path: Path) -> None:
    """No HOME and no DOCKER_CONFIG: the CLI would find the home in the password database; we
    cannot tell its context, so nothing skips the CLI."""
    assert plain_default_context({}) is None
    assert local_socket({}) is None


def test_another_engine_is_named_for_the_docker_process_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A docker process for another engine gets DOCKER_HOST (and no DOCKER_CONTEXT, which would
    win) by env(1), or in the environment it is handed; None leaves ours as it is."""
    monkeypatch.setenv("DOCKER_CONTEXT", "colima")
    monkeypatch.setenv("HOME", "/home/u")
    assert engine_prefix("ssh://ci@box") == ["env", "-u", "DOCKER_CONTEXT", "DOCKER_HOST=ssh://ci@box"]
    assert engine_prefix(None) == []
    env = engine_environment("unix:///run/e2/docker.sock")
    assert env is not None
    assert (env["DOCKER_HOST"], "DOCKER_CONTEXT" in env, env["HOME"]) == \
        ("unix:///run/e2/docker.sock", False, "/home/u")
    assert local_socket(env) == "/run/e2/docker.sock"
    assert engine_environment(None) is None
