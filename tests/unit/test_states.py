"""Containers by label on the engine's socket (a stand-in): listed, inspected, else the SDK asks."""

from __future__ import annotations

import json
import urllib.parse
from types import TracebackType
from typing import ClassVar

import pytest

from envctl.docker import cli_config, states
from envctl.docker.models import ContainerState
from envctl.errors import EngineUnavailableError
from tests.unit.test_socket_api import engine

__all__ = ["engine"]  # the stand-in engine fixture, shared with the socket's own tests

ID1, ID2 = "1" * 64, "2" * 64
Engine = tuple[str, list[bytes], list[bytes]]


def ok(body: object) -> bytes:
    return b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + json.dumps(body).encode()


def inspect(container_id: str, service: str, health: str | None) -> dict[str, object]:
    state: dict[str, object] = {"Status": "running", "StartedAt": "2026-12-07T10:00:00.5Z"}
    if health:
        state["Health"] = {"Status": health}
    return {"Id": container_id, "Name": f"/p-{service}-1", "State": state,
            "Config": {"Labels": {"com.docker.compose.service": service}}}


class SdkEngine:
    """The SDK's Engine, standing in: says it was asked, and answers one container."""

    asked: ClassVar[list[dict[str, str]]] = []

    def __init__(self, timeout: float, *, host: str | None = None) -> None:
        self.host = host
        self.timeout = timeout

    def __enter__(self) -> SdkEngine:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def containers(self, labels: dict[str, str]) -> list[ContainerState]:
        SdkEngine.asked.append(labels)
        return [ContainerState.from_inspect(inspect(ID1, "sdk", None))]


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    from envctl.docker import engine as engine_module  # noqa: PLC0415

    monkeypatch.setattr(engine_module, "Engine", SdkEngine)
    SdkEngine.asked = []
    return SdkEngine.asked


def test_listed_then_inspected_on_the_socket(engine: Engine, sdk: list[dict[str, str]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One list filtered by the labels, one inspect each; one removed in between is skipped."""
    path, replies, asked = engine
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    replies += [ok([{"Id": ID1}, {"Id": ID2}]), ok(inspect(ID1, "db", "healthy")),
                b"HTTP/1.0 404 Not Found\r\n\r\n{}"]
    found = states.labelled({"com.docker.compose.project": "p"}, timeout=2)
    assert [(s.id, s.service, s.health, s.status) for s in found] == [(ID1, "db", "healthy", "running")]
    request = urllib.parse.unquote(asked[0].split(b" ")[1].decode())
    assert request == '/containers/json?all=1&filters={"label": ["com.docker.compose.project=p"]}'
    assert [a.split(b" ")[1] for a in asked[1:]] == [f"/containers/{i}/json".encode() for i in (ID1, ID2)]
    assert sdk == []


@pytest.mark.parametrize("replies", [
    [b"HTTP/1.0 500 Oops\r\n\r\n{}"],
    [ok({"not": "a list"})],
    [ok([{"Id": "../../images"}])],
    [ok([{"Id": ID1}]), b"HTTP/1.0 200 OK\r\n\r\nnot json"],
    [ok([{"Id": ID1}]), ok({"Id": ID1, "RestartCount": "many"})],
])
def test_an_answer_not_to_trust_goes_to_the_sdk(engine: Engine, sdk: list[dict[str, str]],
                                                monkeypatch: pytest.MonkeyPatch,
                                                replies: list[bytes]) -> None:
    """A status, a shape or a field not the engine's: the SDK is asked instead, and answers."""
    path, scripted, _asked = engine
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    scripted += replies
    assert [s.service for s in states.labelled({"a": "b"}, timeout=2)] == ["sdk"]
    assert sdk == [{"a": "b"}]


def test_no_local_socket_goes_to_the_sdk(sdk: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A remote engine (the CLI would not use a local socket): the SDK, at once."""
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: None)
    assert [s.service for s in states.labelled({"a": "b"}, timeout=2)] == ["sdk"]


def test_a_silent_engine_is_an_error_not_a_second_wait(engine: Engine, sdk: list[dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked and never answered: a DockerError at the deadline, the SDK not asked to wait again."""
    path, replies, _asked = engine
    monkeypatch.setattr(cli_config, "local_socket", lambda env=None: path)
    replies.append(b"")
    with pytest.raises(EngineUnavailableError,
                       match=r"listing containers: the Docker engine did not answer within 0\.5s"):
        states.labelled({"a": "b"}, timeout=0.5)
    assert sdk == []
