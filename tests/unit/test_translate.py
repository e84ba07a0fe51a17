"""The SDK's and the transport's exceptions as envctl errors, each saying what failed."""

from __future__ import annotations

import docker.errors
import pytest
import requests.exceptions

from envctl.docker.translate import ENGINE_HINT, describe_host, translate_errors
from envctl.errors import ContainerGoneError, DockerError, EngineUnavailableError
from tests.unit.fake_api import api_error, not_found


def test_where_the_engine_is_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_HOST when set, else the default socket."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://ci:2376")
    assert describe_host() == "tcp://ci:2376"
    monkeypatch.delenv("DOCKER_HOST")
    assert describe_host() == "the default socket (unix:///var/run/docker.sock)"


@pytest.mark.parametrize("error", [requests.exceptions.ConnectionError(), requests.exceptions.ReadTimeout()])
def test_no_answer_is_the_engine_unavailable(error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused or timed-out request names the engine's address and the fix."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    with pytest.raises(EngineUnavailableError) as caught, translate_errors("listing containers"):
        raise error
    assert str(caught.value) == (f"listing containers: the Docker engine at unix:///nonexistent.sock "
                                 f"does not answer ({type(error).__name__})")
    assert caught.value.hint == ENGINE_HINT


def test_a_404_is_a_container_gone() -> None:
    """NotFound carries the engine's explanation."""
    with pytest.raises(ContainerGoneError, match=r"^inspecting: No such container: c$"), \
            translate_errors("inspecting"):
        raise not_found()


@pytest.mark.parametrize(("status", "transient"), [(500, True), (503, True), (409, False)])
def test_server_errors_are_transient(status: int, transient: bool) -> None:
    """A 5xx may pass on a retry; a 4xx will not."""
    with pytest.raises(DockerError) as caught, translate_errors("killing"):
        raise api_error(status, "conflict")
    assert str(caught.value) == "killing: conflict"
    assert caught.value.transient is transient


def test_a_client_that_cannot_connect_is_the_engine_unavailable() -> None:
    """The SDK's own words for a missing socket are an unavailable engine."""
    with pytest.raises(EngineUnavailableError, match=r"^connecting to Docker: the Docker engine at"), \
            translate_errors("connecting to Docker"):
        raise docker.errors.DockerException("Error while fetching server API version: FileNotFoundError")


def test_another_sdk_error_is_a_docker_error() -> None:
    """Anything else (a bad TLS setting) keeps the SDK's words."""
    with pytest.raises(DockerError, match=r"^connecting to Docker: bad certificate path$") as caught, \
            translate_errors("connecting to Docker"):
        raise docker.errors.DockerException("bad certificate path")
    assert not isinstance(caught.value, EngineUnavailableError)
