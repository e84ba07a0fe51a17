"""The run lifecycle with a fake engine: every transition, a kill at each point, the races."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from envctl.docker import engine as engine_module
from envctl.runs import collector, exchange, launch, lifecycle, logfile
from envctl.runs.outcome import EndFacts
from envctl.runs.progress import read_progress
from envctl.runs.results import run_results
from envctl.runs.state import Counts, DependencyEvent, Limits, RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, OUTPUT_LOG
from tests.unit.fake_engine import FakeEngine, ended, state

RUN_ID = "20260101-000000-abcd"


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run whose container has been named (the start has happened), on a fake engine."""
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    monkeypatch.setattr(collector, "CREATE_WAIT", 0.3)
    # This machine's /proc knows nothing of the fake: by default, no telling (the old behaviour).
    monkeypatch.setattr(launch, "creation_under_way", lambda _name: None)
    path = tmp_path / RUN_ID
    path.mkdir(mode=0o700)
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"],
                                     limits=Limits(1 << 30, 1.0, 100), container="c"))
    return path


def hand_back(run_dir: Path, name: str, text: str) -> None:
    (exchange.box(run_dir) / name).write_text(text)


def test_transitions_in_order_and_each_idempotent(run_dir: Path) -> None:
    """starting -> running -> collecting -> passed; redoing a step changes nothing."""
    assert lifecycle.mark_running(run_dir, 100.0).state is RunState.RUNNING
    assert lifecycle.mark_running(run_dir, 200.0).started_at == 100.0
    lifecycle.mark_collecting(run_dir, log_bytes=5, log_cut_bytes=0, log_error=None)
    assert RunRecord.load(run_dir).state is RunState.COLLECTING
    first = lifecycle.finish(run_dir, EndFacts(exit_code=0))
    again = lifecycle.finish(run_dir, EndFacts(exit_code=1))
    assert (first.state, again.state, again.exit_code) == (RunState.PASSED, RunState.PASSED, 0)
    assert lifecycle.mark_collecting(run_dir, log_bytes=9, log_cut_bytes=0, log_error=None).state \
        is RunState.PASSED


def test_collect_records_exit_log_and_removes_last(run_dir: Path) -> None:
    """A container that runs and exits 1: failed, exit 1, the log kept, removed after the record."""
    FakeEngine.reset([state(), ended(exit_code=1)], output=b"1 failed\n", exit_code=1)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.exit_code, record.container_exit) == (RunState.FAILED, 1, 1)
    assert (run_dir / OUTPUT_LOG).read_bytes() == b"1 failed\n"
    assert FakeEngine.removed == ["c"]
    assert record.cleaned is True


def test_created_but_never_started_is_not_a_pass(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inspect says exit 0 for a created container: that is infra-error, never passed (item 4)."""
    monkeypatch.setattr(collector, "START_WAIT", 0.2)
    FakeEngine.reset([state(status="created", started=False)])
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.INFRA_ERROR
    assert "created but not started" in record.message
    assert record.exit_code == 23
    assert FakeEngine.removed == ["c", "c"]


def test_created_then_started_by_compose_is_collected(run_dir: Path) -> None:
    """A collector that takes over mid-start waits for `compose run` to start the container."""
    FakeEngine.reset([state(status="created", started=False), state(), ended(exit_code=0)],
                     output=b"ok\n", exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.PASSED


def test_kill_after_the_exit_and_before_the_record(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A collector that dies while collecting leaves `collecting`; the next one ends the run right."""
    FakeEngine.reset([state(), ended(exit_code=1)], output=b"x\n", exit_code=1)

    def killed(_run_dir: Path) -> list[str]:
        raise SystemExit("kill -9")

    monkeypatch.setattr(exchange, "copy_results", killed)
    with pytest.raises(SystemExit):
        collector.collect(run_dir)
    assert RunRecord.load(run_dir).state is RunState.COLLECTING
    assert FakeEngine.removed == []  # the container stays until its result is safe
    monkeypatch.undo()
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    FakeEngine.reset([ended(exit_code=1)], output=b"x\n", exit_code=1)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)


def test_kill_after_the_record_and_before_the_removal(run_dir: Path) -> None:
    """An ended but uncleaned run: the next collector removes the container, keeps the end."""
    lifecycle.finish(run_dir, EndFacts(exit_code=0))
    FakeEngine.reset([ended(exit_code=0)])
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.cleaned, FakeEngine.removed) == (RunState.PASSED, True, ["c"])


def test_container_gone_before_its_exit_is_lost(run_dir: Path) -> None:
    """Removed behind envctl's back while running: lost, not a result."""
    lifecycle.mark_running(run_dir)
    FakeEngine.reset([None])
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.LOST


def test_taking_over_mid_compose_run_waits_for_the_container(run_dir: Path) -> None:
    """Named, not yet created (a starter killed during `compose run`): the new collector waits
    for compose to create it, then collects it (not lost)."""
    FakeEngine.reset([None, None, state(), ended(exit_code=0)], exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.PASSED


def test_a_container_never_created_is_infra_error(run_dir: Path) -> None:
    """The starter died before compose created anything: infra-error, saying so."""
    FakeEngine.reset([None])
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.INFRA_ERROR
    assert "never created" in record.message


def test_a_stop_after_the_exit_does_not_change_the_result(run_dir: Path) -> None:
    """A stop asked for while a run that already ended is being recorded: its own result."""
    finished = ended(exit_code=1)
    finished = finished.__class__(**{**finished.__dict__, "finished_at": time.time() - 30})
    FakeEngine.reset([state(), finished], exit_code=1)
    FakeEngine.on_follow = (run_dir / CANCEL_FILE).touch
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)


def test_an_unexpected_failure_still_ends_the_run(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug while recording is infra-error naming it, not a run left to be retried for ever."""
    def broken(_run_dir: Path) -> list[str]:
        raise KeyError("boom")

    monkeypatch.setattr(exchange, "copy_results", broken)
    FakeEngine.reset([state(), ended(exit_code=0)], exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.INFRA_ERROR
    assert "KeyError" in record.message


def test_cancel_requested_ends_cancelled_and_signals(run_dir: Path) -> None:
    """A stop seen by the collector: cancelled, and the container is signalled."""
    (run_dir / CANCEL_FILE).touch()
    FakeEngine.reset([state(), ended(exit_code=2)], exit_code=2)
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.CANCELLED
    assert ("c", "SIGINT") in FakeEngine.killed


def test_timeout_marker_and_running_test(run_dir: Path) -> None:
    """Exit 124 with the runner's marker: timed-out, naming the test that was running."""
    hand_back(run_dir, "timeout.json", "{}")
    hand_back(run_dir, "events.jsonl", json.dumps({"kind": "start", "nodeid": "t.py::slow"}) + "\n")
    FakeEngine.reset([state(), ended(exit_code=124)], exit_code=124)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.running_test) == (RunState.TIMED_OUT, "t.py::slow")


def test_planted_links_are_not_followed(run_dir: Path, tmp_path: Path) -> None:
    """Links the container leaves in the exchange dir are refused, never read or written."""
    secret = tmp_path / "host-secret"
    secret.write_text("host file")
    (exchange.box(run_dir) / "junit.xml").symlink_to(secret)
    (exchange.box(run_dir) / "timeout.json").symlink_to(secret)
    os.mkfifo(exchange.box(run_dir) / "events.jsonl")
    (exchange.box(run_dir) / "progress.json").symlink_to("/dev/zero")
    FakeEngine.reset([state(), ended(exit_code=0)], exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.PASSED  # the timeout marker was a link: not believed
    assert "results not read" in record.message
    assert not (run_dir / "junit.xml").exists()
    assert secret.read_text() == "host file"


def test_full_disk_ends_the_run_and_says_the_log_is_cut(run_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while writing the log: the run still ends with its exit code, and says so."""
    def full(self: object, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(logfile.CappedLog, "write", full)
    FakeEngine.reset([state(), ended(exit_code=1)], output=b"x" * 100, exit_code=1)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)
    assert "No space left on device" in record.message
    assert record.log_error is not None


def test_a_dependency_death_with_failing_tests_is_env_broken(run_dir: Path) -> None:
    """A service that died during the run, tests failing: env-broken, naming it (item 8)."""
    event = DependencyEvent(service="db", container="p-db-1", action="die", at=1.0, exit_code=137,
                                      running_test="t.py::uses_db")
    record = lifecycle.finish(run_dir, EndFacts(exit_code=1, dependency_events=(event,)))
    assert (record.state, record.exit_code) == (RunState.ENV_BROKEN, 26)
    assert "service db died (exit 137) while t.py::uses_db was running" in record.message


def test_a_dependency_death_with_passing_tests_stays_passed_with_a_note(run_dir: Path) -> None:
    """The tests passed regardless: passed, and the message still names the service."""
    event = DependencyEvent(service="cache", container="p-cache-1", action="oom", at=1.0)
    record = lifecycle.finish(run_dir, EndFacts(exit_code=0, dependency_events=(event,)))
    assert record.state is RunState.PASSED
    assert "service cache was OOM-killed" in record.message


def test_results_outlive_the_removed_exchange_folder(run_dir: Path) -> None:
    """Once collected, JUnit, events and progress are read from the host's copies: the
    exchange folder is gone with the clean-up."""
    hand_back(run_dir, "progress.json", json.dumps({"total": 2, "done": 2, "passed": 2}))
    hand_back(run_dir, "junit.xml", '<testsuite><testcase classname="t" name="test_a"/></testsuite>')
    FakeEngine.reset([state(), ended(exit_code=0)], exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert not exchange.box(run_dir).exists()
    assert (record.counts.total, record.counts.passed) == (2, 2)
    assert read_progress(run_dir).counts.passed == 2
    assert [c.nodeid for c in run_results(run_dir).cases] == ["t::test_a"]


def test_a_fresh_container_held_at_the_gate_is_attached_and_let_go(run_dir: Path) -> None:
    """Nothing written yet (gate closed, just started): the byte-exact attach, then the gate opens."""
    FakeEngine.reset([state(), ended()], output=b"\xff raw\n")
    collector.collect(run_dir)
    assert (FakeEngine.attaches, FakeEngine.stored_reads) == (1, [])
    assert exchange.gate_open(run_dir)
    assert (run_dir / OUTPUT_LOG).read_bytes() == b"\xff raw\n"


def test_taking_over_after_the_gate_opened_follows_the_stored_log(run_dir: Path) -> None:
    """The gate is open (an earlier collector let the tests start): output may precede us, and an
    attach would lose what comes while the engine replays, so the stored log is followed."""
    exchange.open_gate(run_dir)
    FakeEngine.reset([state(), ended()], output=b"head\ntail\n")
    collector.collect(run_dir)
    assert (FakeEngine.attaches, FakeEngine.stored_reads) == (0, [True])
    assert (run_dir / OUTPUT_LOG).read_bytes() == b"head\ntail\n"


def test_a_container_past_the_gate_deadline_is_not_attached(run_dir: Path) -> None:
    """Started long enough ago that the runner stopped waiting for the gate: the stored log."""
    old = replace(state(), started_at=time.time() - 60)
    FakeEngine.reset([old, ended()], output=b"x\n")
    collector.collect(run_dir)
    assert (FakeEngine.attaches, FakeEngine.stored_reads) == (0, [True])
    assert exchange.gate_open(run_dir)


def test_a_start_cut_short_before_compose_ran_is_done_again(run_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Named, never created, no compose at work: the taking-over collector starts it itself."""
    (run_dir / "detached").touch()
    monkeypatch.setattr(launch, "creation_under_way", lambda _name: False)
    monkeypatch.setattr(collector, "RECHECK_DELAY", 0.0)
    started: list[str] = []

    def start_container(path: Path, record: RunRecord, _cancel: object, **_kw: object) -> RunRecord:
        started.append(path.name)
        return record

    monkeypatch.setattr(launch, "start_container", start_container)
    FakeEngine.reset([None, None, state(), ended(exit_code=1)], output=b"1 failed\n", exit_code=1)
    record = collector.collect(run_dir)
    assert started == [RUN_ID]
    assert record is not None
    assert (record.state, record.exit_code) == (RunState.FAILED, 1)


def test_a_start_whose_compose_is_at_work_is_waited_for(run_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """compose run still alive: the container is awaited, not started a second time."""
    monkeypatch.setattr(launch, "creation_under_way", lambda _name: True)
    monkeypatch.setattr(launch, "start_container", lambda *_a, **_k: pytest.fail("started twice"))
    FakeEngine.reset([None, state(), ended()], output=b"ok\n")
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.PASSED


def test_a_loss_while_starting_is_not_noted(run_dir: Path) -> None:
    """The engine lost before the container ran: the start is retried, and nothing it ran was
    cut short, so the run's end is not weighed against that loss."""
    lifecycle.note_engine_lost(run_dir, time.time() - 5)
    assert RunRecord.load(run_dir).engine_lost_at is None
    lifecycle.mark_running(run_dir, time.time())
    at = time.time()
    assert lifecycle.note_engine_lost(run_dir, at).engine_lost_at == at


@pytest.mark.parametrize(("ended_after_loss", "state"), [
    (-5.0, RunState.INFRA_ERROR), (20.0, RunState.INFRA_ERROR), (-120.0, RunState.PASSED),
    (900.0, RunState.PASSED)])
def test_an_end_near_the_engines_loss_is_infra_error(run_dir: Path, ended_after_loss: float,
                                                     state: RunState) -> None:
    """A collector lost the engine; the one taking over finds the container ended: near that
    moment, infra-error; long before or after it (a blip, a live-restore), the test result."""
    lifecycle.mark_running(run_dir, time.time() - 1000)
    lost_at = time.time() - 950
    lifecycle.note_engine_lost(run_dir, lost_at)
    FakeEngine.reset([replace(ended(), finished_at=lost_at + ended_after_loss)], output=b"ok\n")
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is state


def _injected(run_dir: Path) -> None:
    """The plugin and the gate are mounted: the tests wait at the gate for the collector."""
    record = RunRecord.load(run_dir)
    record.injected = True
    lifecycle.save(run_dir, record)


def test_the_gate_opens_once_the_run_is_recorded_running(run_dir: Path) -> None:
    """Attached first; then the record says running and the gate opens, before any output is read."""
    _injected(run_dir)
    seen: list[tuple[RunState, bool]] = []
    FakeEngine.reset([state(), ended(exit_code=0)], output=b"1 passed\n", exit_code=0)
    FakeEngine.on_follow = lambda: seen.append((RunRecord.load(run_dir).state, exchange.gate_open(run_dir)))
    record = collector.collect(run_dir)
    assert record is not None
    assert seen == [(RunState.RUNNING, True)]
    assert (record.state, FakeEngine.attaches) == (RunState.PASSED, 1)


def test_a_run_stopped_before_its_tests_began_keeps_them_at_the_gate(run_dir: Path) -> None:
    """A stop asked for while the container started: it is stopped, and the gate never opens."""
    _injected(run_dir)
    (run_dir / CANCEL_FILE).touch()
    FakeEngine.reset([state(), ended(exit_code=130)], exit_code=130)
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.CANCELLED
    assert ("c", "SIGINT") in FakeEngine.killed
    assert exchange.gate_open(run_dir) is False


class _Replay:
    """An event stream that hands out ``events`` (the engine replaying from ``since``), then ends."""

    def __init__(self, events: list[dict[str, object]]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[dict[str, object]]:
        return iter(self.events)

    def close(self) -> None:
        pass


def _event(action: str, name: str, service: str, at: float, **attributes: str) -> dict[str, object]:
    return {"Type": "container", "Action": action, "timeNano": int(at * 1e9),
            "Actor": {"ID": name, "Attributes": {"name": name, "com.docker.compose.service": service,
                                                 **attributes}}}


def test_events_from_before_the_tests_started_are_not_this_runs(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-shot service that ended, or a container recreated, just before the tests' container
    started (the engine replays from the start's whole second): failing tests stay failed."""
    started = state()
    assert started.started_at is not None
    before, after = started.started_at - 0.4, started.started_at + 0.2
    asked: list[float | None] = []

    def events(_self: FakeEngine, *, filters: dict[str, object], since: float | None = None,
               until: float | None = None) -> _Replay:
        asked.append(since)
        return _Replay([_event("die", "p-migrate-1", "migrate", before, exitCode="0"),
                        _event("kill", "c", "test", before, signal="SIGTERM"),
                        _event("die", "p-db-1", "db", after, exitCode="137")])

    monkeypatch.setattr(FakeEngine, "events", events)
    FakeEngine.reset([started, ended(exit_code=1)], output=b"1 failed\n", exit_code=1)
    record = collector.collect(run_dir)
    assert record is not None
    assert asked == [started.started_at]  # from the start itself, to the nanosecond
    assert record.state is RunState.ENV_BROKEN
    assert "service db died (exit 137)" in record.message
    assert "migrate" not in record.message


def resumed_run(run_dir: Path) -> Path:
    """``run_dir`` made the resume of a first run that finished tests 1 (passed) and 2 (failed)
    of 3 before it was cut short (its record counting that failure); the first run's directory."""
    from envctl.runs.resumed_result import prepare  # noqa: PLC0415
    from tests.unit.test_resumed_result import IDS, a_run, events, junit  # noqa: PLC0415

    first = a_run(run_dir.parent, "20251231-000000-abcd",
                  report=junit(("test_1", "passed"), ("test_2", "failed")),
                  stream=events(IDS[:3], [(IDS[0], "passed"), (IDS[1], "failed")]))
    first_record = RunRecord.load(first)
    first_record.state, first_record.counts = RunState.CANCELLED, Counts(total=3, done=2, passed=1, failed=1)
    lifecycle.save(first, first_record)
    record = RunRecord.load(run_dir)
    record.resumes = first.name
    lifecycle.save(run_dir, record)
    prepare(run_dir, first, RunRecord.load(first))
    hand_back(run_dir, exchange.JUNIT_FILE, junit(("test_3", "passed")))
    hand_back(run_dir, exchange.EVENTS_FILE, events(IDS[2:3], [(IDS[2], "passed")]))
    return first


def test_a_resumed_run_ends_as_the_whole_suite(run_dir: Path) -> None:
    """Its remainder passed, but the run it resumes had a failure: failed (1), pytest's counts
    over both parts, its message naming the run it resumes; its report holds all three."""
    first = resumed_run(run_dir)
    FakeEngine.reset([state(), ended(exit_code=0)], exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.exit_code, record.resumes) == (RunState.FAILED, 1, first.name)
    assert (record.counts.total, record.counts.passed, record.counts.failed) == (3, 2, 1)
    assert record.message == (f"pytest exited 0; 1 test(s) failed in the run it resumes; resumes run "
                              f"{first.name}: 2 test(s) had finished there")
    assert [c.nodeid for c in run_results(run_dir).cases] == ["t.py::test_1", "t.py::test_2", "t.py::test_3"]


def test_a_resume_whose_parts_cannot_be_joined_is_never_a_pass(run_dir: Path) -> None:
    """resume.json gone and the first run's record counting no failure: its own part passed, but
    the suite's result is not known, so infra-error, its message saying why."""
    from envctl.runs.resumed_result import RESUME_FILE  # noqa: PLC0415

    first = resumed_run(run_dir)
    first_record = RunRecord.load(first)
    first_record.counts = Counts(total=3, done=2, passed=2)
    lifecycle.save(first, first_record)
    (run_dir / RESUME_FILE).unlink()
    FakeEngine.reset([state(), ended(exit_code=0)], exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.pytest_exit) == (RunState.INFRA_ERROR, None)
    assert record.message.startswith(f"the results of run {first.name} could not be joined: "
                                     "FileNotFoundError")
    assert record.message.endswith(", so the whole suite's result is not known (this part: pytest exited 0; "
                                   "the counts are this part's)")


def test_a_damaged_resume_file_keeps_the_first_parts_failure(run_dir: Path) -> None:
    """resume.json damaged: the first run's record (1 failed) still fails the resume (exit 1),
    whose remainder passed."""
    from envctl.runs.resumed_result import RESUME_FILE  # noqa: PLC0415

    first = resumed_run(run_dir)
    (run_dir / RESUME_FILE).write_bytes(b"{damaged")
    FakeEngine.reset([state(), ended(exit_code=0)], exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.pytest_exit) == (RunState.FAILED, 1)
    assert record.message.startswith(f"pytest exited 0; 1 test(s) failed in the run it resumes; the results "
                                     f"of run {first.name} could not be joined: JSONDecodeError")


def test_a_join_that_fails_after_the_first_run_is_gone_keeps_its_failure(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The joined report cannot be written (a full disk) and the first run was rotated away:
    resume.json's count, taken at the start, still fails the resume."""
    from envctl.runs import resumed_result  # noqa: PLC0415

    first = resumed_run(run_dir)
    shutil.rmtree(first)

    def full_disk(_run_dir: Path, _record: RunRecord) -> resumed_result.Joined:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(resumed_result, "join", full_disk)
    FakeEngine.reset([state(), ended(exit_code=0)], exit_code=0)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.pytest_exit) == (RunState.FAILED, 1)
    assert record.message.startswith(f"pytest exited 0; 1 test(s) failed in the run it resumes; the results "
                                     f"of run {first.name} could not be joined: OSError: [Errno 28] No space "
                                     "left on device (the counts are this part's)")
