"""Waits and stops have their deadline in every phase, and readers never write (no engine)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envctl.docker import engine as engine_module
from envctl.errors import EnvctlError, WaitTimeoutError
from envctl.runs import control, exchange, lifecycle
from envctl.runs.outcome import EndFacts
from envctl.runs.run import Run
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, RunStore, take_collector_lock
from tests.unit.fake_engine import FakeEngine

RUN_ID = "20260101-000000-abcd"


@pytest.fixture
def starting_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A starting run, on a fake engine, that no collector holds."""
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    FakeEngine.reset([])
    path = tmp_path / RUN_ID
    path.mkdir(mode=0o700)
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"],
                                     limits=Limits(1 << 30, 1.0, 100)))
    return path


@pytest.fixture
def held_run(starting_run: Path) -> Iterator[Path]:
    """A starting run whose (pretend) collector holds its lock, on a fake engine."""
    path = starting_run
    fd = take_collector_lock(path)
    assert fd is not None
    yield path
    os.close(fd)


def test_wait_timeout_holds_while_the_environment_starts(held_run: Path) -> None:
    """`wait --timeout` returns at its deadline while the run is still starting (item 5)."""
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError, match="still starting"):
        control.wait_for(held_run, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 1.5


def test_stop_while_starting_asks_and_returns_within_its_wait(held_run: Path) -> None:
    """`stop` in the starting phase records the request and does not block past its wait."""
    started = time.monotonic()
    record = control.stop(held_run, record_wait=0.3)
    assert (held_run / CANCEL_FILE).exists()
    assert record.state is RunState.STARTING
    assert time.monotonic() - started < 1.5


def test_wait_survives_the_container_vanishing_under_it(held_run: Path) -> None:
    """The engine's 'no such container' during the wait is no crash: the record decides (item 6)."""
    lifecycle.assign_container(held_run, "c")
    lifecycle.mark_running(held_run)
    FakeEngine.reset([None])
    FakeEngine.wait_gone = True

    def record_later() -> None:
        time.sleep(0.2)
        lifecycle.finish(held_run, EndFacts(exit_code=1))
        lifecycle.mark_cleaned(held_run)

    threading.Thread(target=record_later).start()
    record = control.wait_for(held_run, timeout=5)
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)


def test_heartbeat_ticks_while_starting(held_run: Path) -> None:
    """on_tick is called while the wait goes on, so CI heartbeats keep coming in every phase."""
    ticks: list[str] = []
    with pytest.raises(WaitTimeoutError):
        control.wait_for(held_run, timeout=0.6, on_tick=lambda r: ticks.append(r.state.value))
    assert len(ticks) >= 2
    assert set(ticks) == {"starting"}


def test_status_only_reads(held_run: Path) -> None:
    """Looking at a run writes nothing and starts nothing (readers only read)."""
    before = {p.name: p.stat().st_mtime_ns for p in held_run.iterdir()}
    status = Run(RunStore(held_run.parent), RUN_ID).status()
    assert status.record.state is RunState.STARTING
    assert status.orphaned is False  # the lock is held
    assert {p.name: p.stat().st_mtime_ns for p in held_run.iterdir()} == before


def test_status_says_when_no_collector_records_the_run(tmp_path: Path) -> None:
    """A run whose collector died is shown as such, not taken over by `status`."""
    path = tmp_path / RUN_ID
    path.mkdir()
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"],
                                     limits=Limits(1, 1.0, 1), state=RunState.RUNNING, container="c"))
    status = Run(RunStore(tmp_path), RUN_ID).status()
    assert status.orphaned is True
    assert not (path / "collector.log").exists()  # no collector was started


def test_an_ended_run_is_returned_at_the_deadline_even_if_not_yet_cleaned(held_run: Path) -> None:
    """The wait's deadline passes while the container is being removed: the end is the answer."""
    lifecycle.finish(held_run, EndFacts(exit_code=0))
    record = control.wait_for(held_run, timeout=0.3)
    assert (record.state, record.cleaned) == (RunState.PASSED, False)


@pytest.mark.parametrize(("window", "gives_up"), [(300.0, True), (0.0, False)])
def test_dying_collectors_end_the_wait_only_in_a_row(starting_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                     window: float, gives_up: bool) -> None:
    """Collectors that die again and again with the run no further end the wait with a reason;
    deaths further apart than TAKEOVER_WINDOW (hours into a long run) do not add up."""
    path = starting_run
    started: list[Path] = []
    monkeypatch.setattr(control, "take_over", started.append)  # a collector that dies at once
    monkeypatch.setattr(control, "COLLECTOR_START_GRACE", 0.01)
    monkeypatch.setattr(control, "TAKEOVER_WINDOW", window)
    if gives_up:
        with pytest.raises(EnvctlError, match="collector"):
            control.wait_for(path, timeout=5)
        assert len(started) == control.MAX_FAILED_TAKEOVERS + 1
    else:
        with pytest.raises(WaitTimeoutError):
            control.wait_for(path, timeout=0.5)
        assert len(started) > control.MAX_FAILED_TAKEOVERS + 1


def test_the_record_is_looked_at_often_only_just_after_the_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 ms polls for ENDING_WINDOW after the engine said the container exited; never after a
    wait that failed (an engine blip), and never for a --shards parent."""
    record = RunRecord(id="r", project="p", service="test", command=[], limits=Limits(1, 1.0, 1),
                       container="c", state=RunState.RUNNING)
    waiter = control._ExitWaiter.__new__(control._ExitWaiter)  # no thread: its outcome set below
    waiter.exited_at = None
    assert control._ending(record, None) is False
    assert control._ending(record, waiter) is False  # gave up (or still waiting): the usual pace
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    waiter.exited_at = 1000.0
    assert control._ending(record, waiter) is True
    now[0] += control.ENDING_WINDOW + 0.1
    assert control._ending(record, waiter) is False
    now[0] = 1000.0
    record.children = ["a", "b"]
    assert control._ending(record, waiter) is False
