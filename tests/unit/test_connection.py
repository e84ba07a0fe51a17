"""The SDK client: its socket timeout from the policy, and the API version agreed once and
reused for a few seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import docker
import pytest

from envctl.docker import connection, timeouts
from envctl.errors import DockerError, EngineUnavailableError


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every client made; the engine agrees on API version 1.44."""
    kwargs_seen: list[dict[str, Any]] = []

    class Client:
        def __init__(self, **kwargs: Any) -> None:
            kwargs_seen.append(kwargs)
            self.api = SimpleNamespace(api_version="1.44")

    monkeypatch.setattr(docker, "DockerClient", Client)
    monkeypatch.setattr(connection, "_API_VERSIONS", {})
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    return kwargs_seen


def test_the_socket_timeout_comes_from_the_policy(made: list[dict[str, Any]]) -> None:
    """Whole seconds, for every client: streams lift theirs only once opened."""
    connection.connect(2.4)
    connection.connect(timeouts.CALL)
    assert [kwargs["timeout"] for kwargs in made] == [2, 60]
    assert made[0]["base_url"] == "unix:///nonexistent.sock"


def test_the_api_version_is_agreed_once_then_reused_for_a_while(made: list[dict[str, Any]]) -> None:
    """"auto" (one bounded call) first; the version agreed for 10 s after; then asked again."""
    clock = Clock()
    connection.connect(60, clock=clock)
    clock.now += connection.API_VERSION_REUSE - 1
    connection.connect(60, clock=clock)
    clock.now += 2
    connection.connect(60, clock=clock)
    assert [kwargs["version"] for kwargs in made] == ["auto", "1.44", "auto"]


def test_an_engine_named_by_its_host(made: list[dict[str, Any]]) -> None:
    """``host`` overrides DOCKER_HOST for this client only."""
    connection.connect(60, host="tcp://ci-engine:2375")
    assert made[0]["base_url"] == "tcp://ci-engine:2375"
    assert os.environ["DOCKER_HOST"] == "unix:///nonexistent.sock"


def test_without_docker_host_the_default_socket(made: list[dict[str, Any]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """No DOCKER_HOST: the engine's usual socket."""
    monkeypatch.delenv("DOCKER_HOST")
    connection.connect(60)
    assert made[0]["base_url"] == "unix:///var/run/docker.sock"


def test_an_engine_that_does_not_answer_fails_the_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's failure to agree on a version is the engine unavailable."""
    def refuse(**_kwargs: Any) -> None:
        raise docker.errors.DockerException("Error while fetching server API version: "
                                            "('Connection aborted.', FileNotFoundError(2))")

    monkeypatch.setattr(docker, "DockerClient", refuse)
    monkeypatch.setattr(connection, "_API_VERSIONS", {})
    with pytest.raises(EngineUnavailableError, match=r"^connecting to Docker: the Docker engine at"):
        connection.connect(5)


def test_a_bad_tls_setting_is_a_docker_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_TLS_VERIFY with a certificate folder that is not there: said at the connect."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://ci:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", "/nonexistent/certs")
    with pytest.raises(DockerError, match=r"^connecting to Docker: "):
        connection.connect(5)


def test_the_sdk_is_imported_without_paramiko_until_an_ssh_engine_comes() -> None:
    """A fresh process: the SDK without paramiko (it is installed here: envctl[ssh]); an ssh://
    engine later gets the SDK's ssh adapter, and paramiko imports as usual."""
    script = ("import sys\n"
              "from envctl.docker.connection import import_sdk\n"
              "import_sdk('unix:///nonexistent.sock')\n"
              "print('docker' in sys.modules, 'paramiko' in sys.modules)\n"
              "import docker.api.client as api\n"
              "print(hasattr(api, 'SSHHTTPAdapter'))\n"
              "import_sdk('ssh://user@example.invalid')\n"
              "from envctl.docker import ssh_pipe\n"
              "ssh_pipe.install()\n"
              "print(hasattr(api, 'SSHHTTPAdapter'), 'paramiko' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert done.stdout.split() == ["True", "False", "False", "True", "True"], done.stderr
