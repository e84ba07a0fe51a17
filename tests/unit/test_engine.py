"""The Engine handle: one connection under one deadline, handing each call to its noun."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests.exceptions

from envctl.docker import engine as engine_module
from envctl.docker import timeouts
from envctl.docker.engine import Engine
from envctl.errors import EngineUnavailableError
from tests.unit.fake_api import Archive, FakeAPI, Stream, tar_of


class Client:
    """A stand-in SDK client around a FakeAPI."""

    def __init__(self, api: FakeAPI) -> None:
        self.api = api
        self.closed = False

    def version(self) -> dict[str, Any]:
        return dict(self.api.version())

    def ping(self) -> bool:
        return bool(self.api.ping())

    def close(self) -> None:
        self.closed = True


MADE: list[tuple[object, str | None]] = []  # each connect's timeout and host, in the running test


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeAPI:
    """The API every Engine made in the test talks to; each connect goes to MADE."""
    fake = FakeAPI(version={"Version": "28.1.1", "ApiVersion": "1.49", "Os": "linux", "Arch": "amd64"},
                   ping=True)
    MADE.clear()

    def connect(timeout: object, *, host: str | None = None) -> Client:
        MADE.append((timeout, host))
        return Client(fake)

    monkeypatch.setattr(engine_module, "connect", connect)
    return fake


@pytest.mark.usefixtures("api")
def test_an_engine_connects_under_the_policys_deadline() -> None:
    """One call's deadline by default, or the one given; closed on exit."""
    with Engine() as engine:
        client = engine.client
    assert Engine(timeout=timeouts.PROMPT).timeout == timeouts.PROMPT
    assert MADE == [(timeouts.CALL, None), (timeouts.PROMPT, None)]
    assert client.closed


def test_an_engine_can_be_named_without_touching_the_environment(
        api: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """``host`` picks the engine for this handle only; its containers are reached there."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    api.answers["inspect_container"] = {"NetworkSettings": {"Ports": {"80/tcp": [{"HostPort": "8080"}]}}}
    engine = Engine(host="tcp://ci-engine:2376")
    assert MADE == [(timeouts.CALL, "tcp://ci-engine:2376")]
    assert engine.endpoints("c1", 80) == [("ci-engine", 8080)]


@pytest.mark.usefixtures("api")
def test_an_engine_says_what_it_is() -> None:
    """Its version answer, typed."""
    info = Engine().info()
    assert (info.version, info.api_version, info.os, info.arch) == ("28.1.1", "1.49", "linux", "amd64")


def test_a_ping_that_fails_is_not_ok(api: FakeAPI) -> None:
    """An engine that answers a ping is ok; one that does not, not."""
    engine = Engine()
    engine.ping()
    assert engine.ping_ok() is True
    api.answers["ping"] = requests.exceptions.ConnectionError()
    assert engine.ping_ok() is False
    with pytest.raises(EngineUnavailableError, match=r"^pinging the engine: "):
        engine.ping()


def test_container_calls_go_to_the_containers(api: FakeAPI, tmp_path: Path) -> None:
    """Inspect, list, logs, wait, kill, copy, remove: the same API, the same answers."""
    api.answers.update(inspect_container={"Id": "c1", "State": {"Status": "running"}},
                       containers=[{"Id": "c1"}], logs=b"a\nb\n", wait={"StatusCode": 4},
                       get_archive=Archive([tar_of("f", b"data")]))
    engine = Engine()
    state = engine.container_state("c1")
    assert state is not None and state.status == "running"
    assert [s.id for s in engine.containers({"k": "v"})] == ["c1"]
    assert engine.container_logs_tail("c1", lines=1) == ["b"]
    assert engine.wait_exit("c1", timeout=1) == 4
    assert engine.kill("c1", "SIGTERM") is True
    assert engine.copy_file_out("c1", "/f", tmp_path / "f") is True
    assert engine.endpoints("c1", 80) == []
    engine.remove("c1")
    assert [name for name, _args, _kwargs in api.calls if name not in ("inspect_container",)] == [
        "containers", "logs", "wait", "kill", "get_archive", "remove_container"]


def test_output_images_resources_and_events_go_to_their_modules(api: FakeAPI) -> None:
    """Each of the other nouns answers through the same connection."""
    events = Stream([{"Type": "container"}])
    api.answers.update(logs=Stream([b"out"]), attach=Stream([b"x"]),
                       inspect_container={"Id": "c1", "State": {"Status": "running"}},
                       wait={"StatusCode": 0}, inspect_image={}, containers=[], networks=[],
                       volumes={"Volumes": []}, events=events, create_container={"Id": "p"},
                       create_host_config={})
    engine = Engine()
    assert list(engine.output_stream("c1", follow=False)) == [b"out"]
    assert engine.follow_output("c1", lambda _chunk: None) == (0, True)
    assert engine.image_exists("app:1") is True
    assert engine.isolated_projects("i", "p") == {}
    assert engine.remove_labelled("a=b") == {"containers": 0, "networks": 0, "volumes": 0}
    assert list(engine.events(filters={})) == [{"Type": "container"}]
    assert engine.probe_in_network("img", "c1", ["true"], labels={}, seconds=1) == (
        True, "the probe exited 0")


def test_the_names_callers_import_from_engine_are_still_there() -> None:
    """Callers written before the split import these from envctl.docker.engine."""
    for name in engine_module.__all__:
        assert getattr(engine_module, name) is not None, name
