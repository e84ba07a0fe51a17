"""The collector's sampler: figures and peaks from the engine's streams, the services found and
named, the files written, the plugin's peak folded in, a failing engine said and survived
(a fake engine, a fake clock, no Docker)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envctl.docker import labels
from envctl.docker.models import ContainerState
from envctl.docker.stats import ContainerStats
from envctl.errors import ContainerGoneError
from envctl.report.usage import Resources, Usage
from envctl.runs import exchange
from envctl.runs.resource_files import read_resources, read_series
from envctl.runs.resource_watch import (
    BENCH_SWITCH,
    DEFAULT_INTERVAL,
    ResourceWatch,
    Sampler,
    sampling_interval,
    services_of,
)
from envctl.runs.store import START_FILE

MIB = 1 << 20
NEVER = 3600.0  # an interval the test never waits out: it ticks by hand


def sample(memory: int, *, peak: int | None = None, cpu: float | None = 50.0) -> ContainerStats:
    return ContainerStats(memory=memory, working_set=memory - MIB, peak=peak, limit=1 << 30, cpu=cpu, pids=4)


def container(name: str, service: str, *, status: str = "running",
              extra: dict[str, str] | None = None) -> ContainerState:
    return ContainerState(id=name, name=name, service=service, status=status, exit_code=0, oom_killed=False,
                          health=None, restart_count=0, error="", labels=extra or {}, started=True)


class FakeStream:
    """A container's samples; ``done`` is set once they are all read."""

    def __init__(self, samples: list[ContainerStats]) -> None:
        self.samples = samples
        self.done = threading.Event()
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[ContainerStats]:
        yield from self.samples
        self.done.set()

    def close(self) -> None:
        self.closed.set()


class FakeEngine:
    def __init__(self, streams: dict[str, FakeStream], states: list[ContainerState] = ()) -> None:  # type: ignore[assignment]
        self.streams = streams
        self.states = list(states)
        self.closed = 0

    def stats(self, container_id: str) -> Iterator[ContainerStats]:
        if container_id not in self.streams:
            raise ContainerGoneError(f"asking for a container's resource use: No such container: "
                                     f"{container_id}")
        return self.streams[container_id]  # type: ignore[return-value]

    def containers(self, _labels: object, *, all_: bool = True) -> list[ContainerState]:
        assert all_ is False  # running ones only
        return self.states

    def close(self) -> None:
        self.closed += 1


def run_dir_at(tmp_path: Path) -> Path:
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    exchange.create_dirs(run_dir)
    return run_dir


def test_the_peak_is_the_highest_of_every_sample_and_v1s_own() -> None:
    """Each sample replaces the last figures; the peak only rises, cgroup v1's own counted."""
    sampler = Sampler()
    sampler.seen(None, sample(100 * MIB))
    sampler.seen(None, sample(300 * MIB))
    sampler.seen(None, sample(200 * MIB))
    sampler.seen("db", sample(10 * MIB, peak=40 * MIB))
    figures = sampler.figures(5.0)
    assert figures == Resources(at=5.0, test=Usage(200 * MIB, 199 * MIB, 300 * MIB, 1 << 30, 50.0, 4),
                                services=(("db", Usage(10 * MIB, 9 * MIB, 40 * MIB, 1 << 30, 50.0, 4)),),
                                samples=3)


def test_a_collector_that_takes_over_keeps_the_peaks_so_far() -> None:
    """The figures written before seed the new sampler: a lower sample keeps the old peak."""
    sampler = Sampler(Resources(at=1.0, test=Usage(memory=5, peak=900 * MIB),
                                services=(("db", Usage(peak=7)),), samples=10))
    sampler.seen(None, sample(100 * MIB))
    figures = sampler.figures(2.0)
    assert (figures.test.peak if figures.test else None, figures.samples, figures.services[0][1].peak) == \
        (900 * MIB, 11, 7)


def test_a_peak_from_elsewhere_only_ever_raises_it() -> None:
    """The plugin's peak raises a lower one, never lowers a higher one, never makes one up."""
    sampler = Sampler()
    sampler.raise_peak(None, 5)
    assert sampler.figures(1.0).test is None
    sampler.seen(None, sample(100 * MIB))
    sampler.raise_peak(None, 50 * MIB)
    assert sampler.usage[None].peak == 100 * MIB
    sampler.raise_peak(None, 150 * MIB)
    assert sampler.usage[None].peak == 150 * MIB


def test_the_interval_comes_from_the_runs_settings(tmp_path: Path) -> None:
    """The setting when there is one (0: off), the default otherwise, off for the bench."""
    assert sampling_interval(tmp_path, {}) == DEFAULT_INTERVAL  # no start.json (a parent)
    (tmp_path / START_FILE).write_text(json.dumps({"settings": {"resource_interval": 5}}))
    assert sampling_interval(tmp_path, {}) == 5.0
    assert sampling_interval(tmp_path, {BENCH_SWITCH: "off"}) == 0.0
    for odd in (-1, True, "2", 10**9):
        (tmp_path / START_FILE).write_text(json.dumps({"settings": {"resource_interval": odd}}))
        assert sampling_interval(tmp_path, {}) == DEFAULT_INTERVAL
    (tmp_path / START_FILE).write_text(json.dumps({"settings": {}}))
    assert sampling_interval(tmp_path, {}) == DEFAULT_INTERVAL


def test_the_services_are_the_projects_running_ones_but_the_tests() -> None:
    """Not the tests' container, a one-off, another run's or a stopped one; a second container
    of a service shows its own name, and a known container keeps its name."""
    states = [container("p-db-1", "db"), container("p-db-2", "db"), container("p-cache-1", "cache"),
              container("p-test-run-1", "test"), container("p-old-1", "old", status="exited"),
              container("p-one-1", "tool", extra={labels.COMPOSE_ONEOFF: "True"}),
              container("p-run-1", "test", extra={labels.ROLE: labels.TEST_RUN_ROLE}), container("p-x", "")]
    known: dict[str, str] = {}
    assert services_of(states, "p-test-run-1", known) == [("cache", "p-cache-1"), ("db", "p-db-1"),
                                                          ("p-db-2", "p-db-2")]
    assert services_of(states[:2], "p-test-run-1", known) == [("db", "p-db-1"), ("p-db-2", "p-db-2")]


def test_a_watch_samples_the_tests_and_the_services_and_writes_them(tmp_path: Path) -> None:
    """Both streams read, the figures and a series point written at each tick, the streams'
    engines closed at the end; the last write is what stop returns."""
    run_dir = run_dir_at(tmp_path)
    tests = FakeStream([sample(100 * MIB), sample(400 * MIB), sample(300 * MIB)])
    db = FakeStream([sample(20 * MIB)])
    engine = FakeEngine({"run-1": tests, "p-db-1": db}, [container("p-db-1", "db")])
    clock = iter([10.0, 12.0, 14.0, 16.0])
    watch = ResourceWatch(run_dir, "p", "run-1", interval=NEVER, open_engine=lambda: engine,
                          clock=lambda: next(clock))
    watch.start()
    assert tests.done.wait(10) and db.done.wait(10)
    ticked = watch.tick()
    assert ticked.test == Usage(300 * MIB, 299 * MIB, 400 * MIB, 1 << 30, 50.0, 4)
    assert read_resources(run_dir) == ticked
    final = watch.stop()
    assert final == Resources(at=14.0, test=ticked.test, services=(("db", Usage(20 * MIB, 19 * MIB, 20 * MIB,
                                                                             1 << 30, 50.0, 4)),), samples=3)
    assert [(p.at, p.memory) for p in read_series(run_dir)] == [(10.0, 300 * MIB), (14.0, 300 * MIB)]
    assert engine.closed == 3  # the two readers' and the listing's


def test_the_plugins_peak_raises_the_last_figures_up_to_the_limit(tmp_path: Path) -> None:
    """A spike between two samples (read by the plugin in the container's cgroup) is the peak,
    but never above the limit the engine applies."""
    run_dir = run_dir_at(tmp_path)
    (exchange.box(run_dir) / exchange.EVENTS_FILE).write_text(json.dumps(
        {"kind": "memory", "nodeid": "t.py::spike", "before": 0, "after": MIB, "peak": 5 << 30}) + "\n")
    tests = FakeStream([sample(100 * MIB)])
    engine = FakeEngine({"run-1": tests})
    watch = ResourceWatch(run_dir, "p", "run-1", interval=NEVER, open_engine=lambda: engine,
                          clock=lambda: 1.0)
    watch.start()
    assert tests.done.wait(10)
    final = watch.stop()
    assert final is not None and final.test is not None
    assert final.test.peak == 1 << 30
    assert final.warnings() == ["the test container's memory peaked at 1 GiB, 100% of its 1 GiB limit"]


def test_an_engine_that_refuses_is_said_once_and_the_run_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No stream for the container: a line in collector.log, and no figures written."""
    run_dir = run_dir_at(tmp_path)
    engine = FakeEngine({})
    watch = ResourceWatch(run_dir, "p", "run-1", interval=NEVER, open_engine=lambda: engine,
                          clock=lambda: 1.0)
    watch.start()
    final = watch.stop()
    assert final == Resources(at=1.0)
    assert read_resources(run_dir) is None
    said = capsys.readouterr().err
    assert said.count("no resource figures for run-1: ContainerGoneError: asking for a container's resource "
                      "use: No such container: run-1") == 1


def test_a_watch_with_no_interval_does_nothing(tmp_path: Path) -> None:
    """Sampling off: no thread, no engine, no file, no figures."""
    def refuse() -> FakeEngine:
        raise AssertionError("no engine is opened")

    watch = ResourceWatch(run_dir_at(tmp_path), "p", "run-1", interval=0, open_engine=refuse)
    watch.start()
    assert watch.stop() is None


def test_a_service_is_looked_at_two_samples_at_a_time(tmp_path: Path) -> None:
    """A service's stream gives two samples (the second has its CPU figure) and is closed until
    the next look, so the engine collects its figures a fraction as often as the tests'."""
    run_dir = run_dir_at(tmp_path)
    db = FakeStream([sample(10 * MIB, cpu=None), sample(20 * MIB), sample(30 * MIB)])
    tests = FakeStream([sample(MIB)])
    engine = FakeEngine({"run-1": tests, "p-db-1": db}, [container("p-db-1", "db")])
    watch = ResourceWatch(run_dir, "p", "run-1", interval=NEVER, open_engine=lambda: engine,
                          clock=lambda: 1.0)
    watch.start()
    assert db.closed.wait(10) and tests.done.wait(10)
    final = watch.stop()
    assert final is not None
    assert dict(final.services)["db"] == Usage(20 * MIB, 19 * MIB, 20 * MIB, 1 << 30, 50.0, 4)
    assert not db.done.is_set()  # its third sample was never read
