"""Docker contexts: the engine a context names, read through the docker CLI."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from envctl.docker.context import context_host, engine_address, use_context
from envctl.errors import ConfigError, EngineUnavailableError


def docker_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """A `docker` on PATH that runs ``script``."""
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", str(tmp_path))


def test_a_context_names_its_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The context's docker endpoint, asked by name; the environment is left alone."""
    docker_cli(tmp_path, monkeypatch, 'test "$3" = ci && echo "tcp://ci-engine:2376"\n')
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    assert context_host("ci") == "tcp://ci-engine:2376"
    assert os.environ["DOCKER_HOST"] == "unix:///nonexistent.sock"


def test_using_a_context_points_this_process_at_its_engine(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_HOST becomes its endpoint and DOCKER_CONTEXT goes, for processes started later too."""
    docker_cli(tmp_path, monkeypatch, 'echo "tcp://ci-engine:2376"\n')
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "other")
    assert use_context("ci") == "tcp://ci-engine:2376"
    assert os.environ["DOCKER_HOST"] == "tcp://ci-engine:2376"
    assert "DOCKER_CONTEXT" not in os.environ


def test_an_unknown_context_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's words, and where to see the contexts there are."""
    docker_cli(tmp_path, monkeypatch, "echo 'context \"nope\" does not exist' >&2\nexit 1\n")
    with pytest.raises(ConfigError,
                       match=r"^docker context 'nope': context \"nope\" does not exist$") as caught:
        context_host("nope")
    assert caught.value.hint == "`docker context ls` lists the contexts"


def test_a_context_without_a_docker_endpoint_is_a_config_error(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 0 and nothing printed: no docker endpoint."""
    docker_cli(tmp_path, monkeypatch, "exit 0\n")
    with pytest.raises(ConfigError, match=r"^docker context 'x': no docker endpoint$"):
        context_host("x")


def test_no_docker_cli_cannot_read_a_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No `docker` on PATH: the engine cannot be found."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailableError, match=r"^cannot read docker context 'ci': "):
        context_host("ci")


def test_an_engine_is_an_address_or_a_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An address is taken as it is (no docker call); a bare name is a context's endpoint."""
    docker_cli(tmp_path, monkeypatch, 'test "$3" = e2 && echo "unix:///run/e2/docker.sock"\n')
    assert engine_address("ssh://ci@box") == "ssh://ci@box"
    assert engine_address("unix:///run/e3/docker.sock") == "unix:///run/e3/docker.sock"
    assert engine_address("e2") == "unix:///run/e2/docker.sock"


def test_an_address_envctl_cannot_reach_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only unix, tcp and ssh: an http:// or npipe:// address is named in a config error."""
    docker_cli(tmp_path, monkeypatch, "exit 1\n")
    with pytest.raises(ConfigError, match=re.escape("engine 'npipe:////./pipe/docker'")):
        engine_address("npipe:////./pipe/docker")
