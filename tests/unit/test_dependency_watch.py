"""The environment under the tests: deaths and OOM kills of the other services, a signal to the
test container, and the sweep of a collector that took over (fake engine and event stream)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from envctl.docker import engine as engine_module
from envctl.docker import labels
from envctl.errors import EnvctlError
from envctl.runs import exchange
from envctl.runs.dependency_watch import DependencyWatch
from envctl.runs.state import DependencyEvent
from tests.unit.fake_engine import FakeEngine, ended

if TYPE_CHECKING:
    from envctl.docker.engine import Engine


class _Replay:
    """An event stream that hands out ``events``, then ends."""

    def __init__(self, events: list[dict[str, object]]) -> None:
        self.events = events
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, object]]:
        return iter(self.events)

    def close(self) -> None:
        self.closed = True


def _event(action: str, name: str, service: str, at: float, **attributes: str) -> dict[str, object]:
    return {"Type": "container", "Action": action, "timeNano": int(at * 1e9),
            "Actor": {"ID": name, "Attributes": {"name": name, "com.docker.compose.service": service,
                                                 **attributes}}}


def _run_dir(tmp_path: Path) -> Path:
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    exchange.create_dirs(run_dir)
    return run_dir


def _watch(run_dir: Path, monkeypatch: pytest.MonkeyPatch, events: list[dict[str, object]],
           since: float | None = None) -> tuple[DependencyWatch, _Replay]:
    stream = _Replay(events)
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    monkeypatch.setattr(FakeEngine, "events", lambda _self, **_kwargs: stream)
    watch = DependencyWatch("p", "c", run_dir)
    watch.start(since=since)
    return watch, stream


def test_an_oom_kill_is_told_once_with_its_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine says oom then die for one kill: one event, the die's exit code on it, and the
    test running then (from the plugin's snapshot)."""
    run_dir = _run_dir(tmp_path)
    (exchange.box(run_dir) / "progress.json").write_text(json.dumps({"current": "t.py::uses_db"}))
    now = time.time()
    watch, stream = _watch(run_dir, monkeypatch, [
        _event("oom", "p-db-1", "db", now), _event("die", "p-db-1", "db", now, exitCode="137")])
    events = watch.stop()
    assert events == [DependencyEvent(service="db", container="p-db-1", action="oom", at=events[0].at,
                                      exit_code=137, running_test="t.py::uses_db")]
    assert events[0].at == pytest.approx(now, abs=1e-6)
    assert stream.closed is True


def test_one_offs_the_test_container_and_old_events_are_not_dependencies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `compose run` one-off, another run's test container, and a replayed event name no test;
    a kill of the test container is remembered as the signal it got."""
    now = time.time()
    watch, _stream = _watch(_run_dir(tmp_path), monkeypatch, [
        _event("die", "p-run-1", "tool", now, **{labels.COMPOSE_ONEOFF: "True"}),
        _event("die", "p-test-run-x", "test", now, **{labels.ROLE: labels.TEST_RUN_ROLE}),
        _event("kill", "c", "test", now, signal="SIGTERM"),
        _event("kill", "c", "test", now, signal="SIGKILL"),
        _event("die", "p-cache-1", "cache", now - 60, exitCode="x")], since=now - 120)
    events = watch.stop()
    assert watch.killed_with == "SIGTERM"
    assert [(e.service, e.exit_code, e.running_test) for e in events] == [("cache", None, None)]


def test_a_watch_that_cannot_start_says_so_and_sees_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """No event stream: a line in collector.log, and the run goes on without the watch."""
    def no_stream(_self: FakeEngine, **_kwargs: Any) -> None:
        raise EnvctlError("no events")

    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    monkeypatch.setattr(FakeEngine, "events", no_stream)
    watch = DependencyWatch("p", "c", tmp_path)
    watch.start()
    assert watch.stop() == []
    assert capsys.readouterr().err == "collector: not watching the environment: no events\n"


class _Project(FakeEngine):
    """The project's containers as a list would show them."""

    listed: list[Any] = []  # noqa: RUF012

    def containers(self, _labels: object, *, all_: bool = True) -> list[Any]:
        return self.listed


def test_the_sweep_finds_deaths_the_stream_did_not_see(tmp_path: Path) -> None:
    """A dependency that exited while the tests ran and is not back; not one seen already, not one
    that exited outside the run, not the test container, not one still running."""
    watch = DependencyWatch("p", "c", tmp_path)
    watch.events.append(DependencyEvent(service="db", container="p-db-1", action="die", at=15.0))
    base = ended("x", exit_code=1)
    _Project.listed = [
        replace(base, name="p-cache-1", service="cache", finished_at=20.0, oom_killed=True, exit_code=137),
        replace(base, name="p-db-1", service="db", finished_at=15.0),
        replace(base, name="p-old-1", service="old", finished_at=5.0),
        replace(base, name="c", service="test", finished_at=20.0),
        replace(base, name="p-web-1", service="web", status="running", finished_at=20.0)]
    found = watch.sweep(cast("Engine", _Project()), since=10.0, until=30.0)
    assert found == [DependencyEvent(service="cache", container="p-cache-1", action="oom", at=20.0,
                                     exit_code=137)]


def test_a_sweep_without_the_engine_finds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The list fails: no events rather than an error while recording the end."""
    def broken(_self: FakeEngine, _labels: object, *, all_: bool = True) -> list[Any]:
        raise EnvctlError("engine gone")

    monkeypatch.setattr(FakeEngine, "containers", broken)
    watch = DependencyWatch("p", "c", tmp_path)
    assert watch.sweep(cast("Engine", FakeEngine()), since=0.0, until=1.0) == []
