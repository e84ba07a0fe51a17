"""Waits and stops have their deadline in every phase, and readers never write (no engine)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from envctl.docker import engine as engine_module
from envctl.errors import EnvctlError, WaitTimeoutError
from envctl.runs import control, exchange, lifecycle, reachable
from envctl.runs.outcome import EndFacts
from envctl.runs.run import Run
from envctl.runs.state import Counts, Limits, RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, RunStore, take_collector_lock
from tests.unit.fake_engine import FakeClock, FakeEngine

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
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The waits' clock and pause, faked: time moves only by the waits' own pauses."""
    fake = FakeClock()
    monkeypatch.setattr(control, "monotonic", fake.monotonic)
    monkeypatch.setattr(control, "sleep", fake.sleep)
    return fake


@pytest.fixture
def held_run(starting_run: Path) -> Iterator[Path]:
    """A starting run whose (pretend) collector holds its lock, on a fake engine."""
    path = starting_run
    fd = take_collector_lock(path)
    assert fd is not None
    yield path
    os.close(fd)


def test_wait_timeout_holds_while_the_environment_starts(held_run: Path, clock: FakeClock) -> None:
    """`wait --timeout` returns at its deadline while the run is still starting (item 5)."""
    with pytest.raises(WaitTimeoutError, match="still starting"):
        control.wait_for(held_run, timeout=0.5)
    assert clock.now == 0.5  # at its deadline exactly: the last pause is cut to what was left
    assert max(clock.sleeps) == control.POLL


def test_stop_while_starting_asks_and_returns_within_its_wait(held_run: Path, clock: FakeClock) -> None:
    """`stop` in the starting phase records the request and does not block past its wait."""
    record = control.stop(held_run, record_wait=0.3)
    assert (held_run / CANCEL_FILE).exists()
    assert record.state is RunState.STARTING
    assert clock.now == 0.3


def test_wait_survives_the_container_vanishing_under_it(held_run: Path, clock: FakeClock) -> None:
    """The engine's 'no such container' during the wait is no crash: the record decides (item 6)."""
    lifecycle.assign_container(held_run, "c")
    lifecycle.mark_running(held_run)
    FakeEngine.reset([None])
    FakeEngine.wait_gone = True

    def record_the_end(_now: float) -> None:
        """The collector records the end while the wait pauses (after the engine's wait failed)."""
        lifecycle.finish(held_run, EndFacts(exit_code=1))
        lifecycle.mark_cleaned(held_run)

    clock.on_sleep = record_the_end
    record = control.wait_for(held_run, timeout=5)
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)
    assert clock.sleeps == [control.POLL]  # the record was looked at once more, and decided


def test_heartbeat_ticks_while_starting(held_run: Path, clock: FakeClock,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """on_tick is called while the wait goes on, so CI heartbeats keep coming in every phase."""
    monkeypatch.setattr(control, "POLL", 0.25)  # a binary fraction: the tick times are exact
    ticks: list[tuple[float, str]] = []
    with pytest.raises(WaitTimeoutError):
        control.wait_for(held_run, timeout=1.0, on_tick=lambda r: ticks.append((clock.now, r.state.value)))
    assert ticks == [(0.0, "starting"), (0.25, "starting"), (0.5, "starting"), (0.75, "starting"),
                     (1.0, "starting")]


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


def test_an_ended_run_is_returned_at_the_deadline_even_if_not_yet_cleaned(held_run: Path,
                                                                          clock: FakeClock) -> None:
    """The wait's deadline passes while the container is being removed: the end is the answer."""
    lifecycle.finish(held_run, EndFacts(exit_code=0))
    record = control.wait_for(held_run, timeout=0.3)
    assert (record.state, record.cleaned) == (RunState.PASSED, False)
    assert clock.now == 0.3


def test_a_parent_whose_leftovers_are_on_a_lost_engine_is_returned_at_once(
        tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ended parent, its collector done, its one uncleaned shard on an engine that does not
    answer: nothing can be removed there now, so the wait does not sit out its cleanup wait; with
    that engine answering, something may still remove it."""
    child = "20260101-000000-abc1"
    (tmp_path / RUN_ID).mkdir()
    lifecycle.create(tmp_path / RUN_ID,
                     RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"],
                               limits=Limits(1, 1.0, 1), state=RunState.RUNNING, children=[child]))
    (tmp_path / child).mkdir()
    lifecycle.create(tmp_path / child, RunRecord(id=child, project="p-s1", service="test", command=["pytest"],
                                                 limits=Limits(1, 1.0, 1), shard="1/1", engine="unix:///e2",
                                                 engine_name="e2"))
    lifecycle.finish(tmp_path / child, EndFacts(infra_error="its engine e2 stopped answering"))
    lifecycle.finish_parent(tmp_path / RUN_ID, [RunRecord.load(tmp_path / child)], None, Counts())
    monkeypatch.setattr(control, "spawn_collector", lambda *_a, **_k: False)
    monkeypatch.setattr(reachable, "answers", lambda host: host != "unix:///e2")
    record = control.wait_for(tmp_path / RUN_ID)
    assert (record.state, record.cleaned, clock.now) == (RunState.INFRA_ERROR, False, 0.0)
    monkeypatch.setattr(reachable, "answers", lambda _host: True)
    assert control._left_on_lost_engines(tmp_path / RUN_ID, record) is False


@pytest.mark.parametrize(("window", "gives_up"), [(300.0, True), (0.0, False)])
def test_dying_collectors_end_the_wait_only_in_a_row(starting_run: Path, clock: FakeClock,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     window: float, gives_up: bool) -> None:
    """Collectors that die again and again with the run no further end the wait with a reason;
    deaths further apart than TAKEOVER_WINDOW (hours into a long run) do not add up."""
    path = starting_run
    started: list[float] = []
    monkeypatch.setattr(control, "take_over", lambda _path: started.append(clock.now))  # dies at once
    monkeypatch.setattr(control, "POLL", 0.25)  # binary fractions: the times below are exact
    monkeypatch.setattr(control, "COLLECTOR_START_GRACE", 1.0)
    monkeypatch.setattr(control, "TAKEOVER_WINDOW", window)
    # The first look takes over; each death is seen one look after it is noticed, and is older
    # than the grace one look later: a take-over every 1.5 s, from 1.25 s.
    if gives_up:
        with pytest.raises(EnvctlError, match="collector"):
            control.wait_for(path, timeout=60)
        assert started == [0.0, 1.25, 2.75, 4.25]  # MAX_FAILED_TAKEOVERS deaths in a row
        assert clock.now == 5.75
    else:
        with pytest.raises(WaitTimeoutError):
            control.wait_for(path, timeout=10)
        assert started == [0.0, 1.25, 2.75, 4.25, 5.75, 7.25, 8.75]


def test_the_record_is_looked_at_often_only_just_after_the_exit(clock: FakeClock) -> None:
    """10 ms polls for ENDING_WINDOW after the engine said the container exited; never after a
    wait that failed (an engine blip), and never for a --shards parent."""
    record = RunRecord(id="r", project="p", service="test", command=[], limits=Limits(1, 1.0, 1),
                       container="c", state=RunState.RUNNING)
    waiter = control._ExitWaiter.__new__(control._ExitWaiter)  # no thread: its outcome set below
    waiter.exited_at = None
    assert control._ending(record, None) is False
    assert control._ending(record, waiter) is False  # gave up (or still waiting): the usual pace
    clock.now = 1000.0
    waiter.exited_at = 1000.0
    assert control._ending(record, waiter) is True
    clock.now += control.ENDING_WINDOW + 0.1
    assert control._ending(record, waiter) is False
    clock.now = 1000.0
    record.children = ["a", "b"]
    assert control._ending(record, waiter) is False


def _child(parent_dir: Path, run_id: str, **fields: object) -> Path:
    path = parent_dir.parent / run_id
    path.mkdir(mode=0o700)
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                                     limits=Limits(1, 1.0, 1), **fields))  # type: ignore[arg-type]
    return path


def test_take_over_starts_a_collector_only_where_one_is_needed(
        starting_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """None for a run ended and cleaned or held; one for an orphan; a parent's for its orphaned
    shards (a shard ended and cleaned, or held, is left out)."""
    spawned: list[tuple[tuple[str, ...], str | None]] = []

    def spawn(*run_dirs: Path, parent: Path | None = None) -> bool:
        spawned.append((tuple(d.name for d in run_dirs), parent.name if parent else None))
        return True

    monkeypatch.setattr(control, "spawn_collector", spawn)
    assert control.take_over(starting_run) is True
    fd = take_collector_lock(starting_run)
    assert control.take_over(starting_run) is False
    done = _child(starting_run, "20260101-000000-aaa1", state=RunState.PASSED, cleaned=True)
    assert control.take_over(done) is False
    orphan = _child(starting_run, "20260101-000000-aaa2")
    parent = _child(starting_run, "20260101-000000-aaa0", state=RunState.RUNNING,
                    children=[starting_run.name, done.name, orphan.name])
    assert control.take_over(parent) is True
    assert spawned == [((RUN_ID,), None), ((orphan.name,), parent.name)]
    assert fd is not None
    os.close(fd)


def test_a_parent_with_a_collector_is_not_taken_over(starting_run: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's collector is alive: it collects its shards itself."""
    parent = _child(starting_run, "20260101-000000-aaa0", state=RunState.RUNNING, children=[RUN_ID])
    monkeypatch.setattr(control, "spawn_collector", lambda *_a, **_k: pytest.fail("spawned"))
    fd = take_collector_lock(parent)
    assert control.take_over(parent) is False
    assert fd is not None
    os.close(fd)


def test_a_deadline_of_none_never_passes() -> None:
    """No timeout: what is left is the cap (or none), and it never passes."""
    deadline = control.Deadline(None)
    assert (deadline.left(0.5), deadline.left(), deadline.passed) == (0.5, None, False)


def test_collectors_dying_on_a_full_disk_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk holding the run is full: the error names it, and where to look."""
    record = RunRecord(id=RUN_ID, project="p", service="test", command=[], limits=Limits(1, 1.0, 1))
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: SimpleNamespace(total=100, used=90, free=10))
    error = control._cannot_record(tmp_path, record, 3)
    assert error.message == (f"run {RUN_ID} cannot be recorded: 3 collectors in a row died with it "
                             f"starting; the disk holding {tmp_path} is full (10 bytes free)")
    assert error.hint == f"see {tmp_path / 'collector.log'}; free some space and wait again"


def test_the_exit_waiter_notes_when_the_engine_said_it_exited(starting_run: Path, clock: FakeClock) -> None:
    """The engine's wait returned: the moment is kept (the record is looked at often just after)."""
    clock.now = 42.0
    FakeEngine.reset([], exit_code=0)
    waiter = control._ExitWaiter("c")
    assert waiter.done.wait(10)
    assert waiter.exited_at == 42.0


class _Stubborn(FakeEngine):
    """A container that takes every signal and never exits in its grace."""

    def kill(self, container: str, signal: str) -> bool:
        FakeEngine.killed.append((container, signal))
        return True


def test_escalate_sends_each_signal_until_the_container_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still running after each grace: INT, TERM, KILL in turn; exited after the first: INT only;
    gone: no more signals."""
    monkeypatch.setattr(engine_module, "Engine", _Stubborn)
    FakeEngine.reset([], exit_code=None)
    control.escalate("c", control.STOP_ESCALATION)
    assert FakeEngine.killed == [("c", "SIGINT"), ("c", "SIGTERM"), ("c", "SIGKILL")]
    FakeEngine.reset([], exit_code=130)
    control.escalate("c", control.STOP_ESCALATION)
    assert FakeEngine.killed == [("c", "SIGINT")]
    FakeEngine.reset([], exit_code=None)
    FakeEngine.wait_gone = True
    control.escalate("c", control.STOP_ESCALATION)
    assert FakeEngine.killed == [("c", "SIGINT")]


def test_stop_signals_a_running_container_and_leaves_an_ended_run(held_run: Path, clock: FakeClock) -> None:
    """A run with a container: the stop is asked for and the container interrupted; an ended run
    is returned as it is, with nothing sent."""
    lifecycle.assign_container(held_run, "c")
    lifecycle.mark_running(held_run)
    record = control.stop(held_run, record_wait=0.5)
    assert (held_run / CANCEL_FILE).exists()
    assert FakeEngine.killed == [("c", "SIGINT")]
    assert record.state is RunState.RUNNING  # nobody recorded the end within the fake 0.5 s
    lifecycle.finish(held_run, EndFacts(exit_code=0))
    FakeEngine.reset([])
    assert control.stop(held_run).state is RunState.PASSED
    assert FakeEngine.killed == []


def test_stopping_a_parent_stops_each_shard(starting_run: Path, clock: FakeClock,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Every unfinished shard gets the stop request; the parent itself never gets a cancel file."""
    monkeypatch.setattr(control, "spawn_collector", lambda *_a, **_k: False)
    ended_shard = _child(starting_run, "20260101-000000-aaa1", state=RunState.PASSED, cleaned=True)
    parent = _child(starting_run, "20260101-000000-aaa0", state=RunState.RUNNING,
                    children=[starting_run.name, ended_shard.name])
    record = control.stop(parent, record_wait=0.5)
    assert record.state is RunState.RUNNING
    assert [(d / CANCEL_FILE).exists() for d in (starting_run, ended_shard, parent)] == [True, False, False]


def test_a_shard_that_cannot_be_stopped_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shards are stopped side by side; the first failure is raised once all are done."""
    stopped: list[str] = []

    def stop(run_dir: Path, _escalation: object, _record_wait: float) -> None:
        stopped.append(run_dir.name)
        if run_dir.name == "b":
            raise EnvctlError("cannot stop b")

    monkeypatch.setattr(control, "stop", stop)
    with pytest.raises(EnvctlError, match="cannot stop b"):
        control._stop_all([tmp_path / "a", tmp_path / "b"], control.STOP_ESCALATION, 1.0)
    assert sorted(stopped) == ["a", "b"]


def test_a_stop_request_for_a_parent_goes_to_its_shards(starting_run: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """request_stop on a parent: each shard's cancel file, none for the parent."""
    monkeypatch.setattr(control, "spawn_collector", lambda *_a, **_k: False)
    parent = _child(starting_run, "20260101-000000-aaa0", state=RunState.RUNNING, children=[RUN_ID])
    control.request_stop(parent)
    assert [(d / CANCEL_FILE).exists() for d in (starting_run, parent)] == [True, False]


def test_a_shard_whose_record_is_gone_stops_nothing_and_takes_no_collector(
        starting_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A parent with a shard removed by hand: the stop reaches the one left; a take-over spawns a
    collector for it alone (the gone one reads lost: done)."""
    spawned: list[list[str]] = []

    def spawn(*dirs: Path, **_kwargs: object) -> bool:
        spawned.append([d.name for d in dirs])
        return True

    monkeypatch.setattr(control, "spawn_collector", spawn)
    parent = _child(starting_run, "20260101-000000-aaa0", state=RunState.RUNNING,
                    children=["20260101-000000-dead", RUN_ID])
    control.request_stop(parent)
    assert (starting_run / CANCEL_FILE).exists()
    assert control.take_over(parent) is True
    assert spawned == [[RUN_ID], [RUN_ID]]
