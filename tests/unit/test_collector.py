"""The collector's entry (its argv, its exit code, what it says in collector.log) and the start
of a run it takes over, in-process on a fake engine."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from envctl import log as log_module
from envctl.docker import engine as engine_module
from envctl.errors import CancelRequestedError, EngineUnavailableError, EnvctlError
from envctl.runs import collector, exchange, hook, launch, lifecycle, parent
from envctl.runs.cancel import CancelWatch
from envctl.runs.hook import run_end_hook
from envctl.runs.retry_infra import retry_shard
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, DETACHED_FILE, UNMOUNTED_RUN_DIR, take_collector_lock
from tests.unit.fake_engine import FakeEngine, ended, state

RUN_ID = "20260101-000000-abcd"


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A starting run with no container yet, started detached, on a fake engine."""
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    monkeypatch.setattr(launch, "creation_under_way", lambda _name: None)
    monkeypatch.setattr(log_module, "configure", lambda **_kwargs: None)
    FakeEngine.reset([])
    path = tmp_path / RUN_ID
    path.mkdir(mode=0o700)
    exchange.create_dirs(path)
    (path / DETACHED_FILE).touch()
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"],
                                     limits=Limits(1 << 30, 1.0, 100)))
    return path


def test_main_without_a_run_prints_its_usage(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """No run dir (or a broken --fd): the usage, exit 2."""
    monkeypatch.setattr(log_module, "configure", lambda **_kwargs: None)
    assert collector.main([]) == 2
    assert collector.main(["--fd"]) == 2
    assert collector.main(["--fd", "x", "/r"]) == 2
    assert capsys.readouterr().err.count("usage: python -m envctl.runs.collector") == 3


def test_main_collects_each_run_then_the_parent(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run in a thread with its handed-over fd, then the parent with the collect step (and
    the retry of a shard the infrastructure ended)."""
    seen: list[tuple[str, int | None]] = []

    def collect(path: Path, *, held_fd: int | None = None) -> RunRecord:
        seen.append((path.name, held_fd))
        return RunRecord.load(run_dir)

    def collect_parent(path: Path, fd: int | None, collect_one: object, history: object,
                       on_end: object, *, retry: object) -> None:
        seen.append((f"parent {path.name}", fd))
        assert (collect_one, history, on_end, retry) == (collect, collector._record_history, run_end_hook,
                                                         retry_shard)

    monkeypatch.setattr(collector, "collect", collect)
    monkeypatch.setattr(parent, "collect_parent", collect_parent)
    assert collector.main(["--fd", "5", "/r/a", "--parent-fd", "6", "--parent", "/r/p"]) == 0
    assert seen == [("a", 5), ("parent p", 6)]


@pytest.mark.parametrize(("error", "code", "said"), [
    (None, 0, f"collector {RUN_ID}: another collector holds this run"),
    (EngineUnavailableError("no engine"), 1, f"collector {RUN_ID}: engine lost: no engine"),
    (EnvctlError("bad"), 1, f"collector {RUN_ID}: bad")])
def test_what_goes_wrong_is_said_in_collector_log(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                                  error: Exception | None, code: int, said: str) -> None:
    """A run another collector holds, a lost engine, an envctl error: one line, prefixed by the run."""
    def run() -> RunRecord | None:
        if error is not None:
            raise error
        return None

    assert collector._reporting(run, run_dir) == code
    assert capsys.readouterr().err.splitlines() == [said]


def test_a_run_held_by_another_collector_is_left_alone(run_dir: Path) -> None:
    """The lock is taken: None, and the record is untouched."""
    fd = take_collector_lock(run_dir)
    assert fd is not None
    try:
        assert collector.collect(run_dir) is None
    finally:
        os.close(fd)
    assert RunRecord.load(run_dir).state is RunState.STARTING


def test_the_collector_starts_the_container_and_collects_it(run_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh run: started through launch.start_container, then followed to its end and removed."""
    def start_container(path: Path, _record: RunRecord, _cancel: object, **_kw: object) -> RunRecord:
        return lifecycle.assign_container(path, "c")

    monkeypatch.setattr(launch, "start_container", start_container)
    FakeEngine.reset([state(), ended(exit_code=0)], output=b"1 passed\n")
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.container, record.cleaned, FakeEngine.removed) == \
        (RunState.PASSED, "c", True, ["c"])


def test_the_hook_runs_once_the_end_is_recorded_and_before_the_clean_up(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook, then the history, see the run ended and not yet cleaned (so a collector killed
    before them leaves a run `wait` takes over, and `wait` returns once the history holds it)."""
    seen: list[tuple[str, RunState, bool]] = []

    def step(name: str) -> Callable[[Path], None]:
        def seen_by(path: Path) -> None:
            record = RunRecord.load(path)
            seen.append((name, record.state, record.cleaned))
        return seen_by

    monkeypatch.setattr(launch, "start_container", lambda path, _record, _cancel, **_kw:
                        lifecycle.assign_container(path, "c"))
    monkeypatch.setattr(hook, "run_end_hook", step("hook"))
    monkeypatch.setattr(collector, "_record_history", step("history"))
    FakeEngine.reset([state(), ended(exit_code=0)], output=b"1 passed\n")
    collector.collect(run_dir)
    assert seen == [("hook", RunState.PASSED, False), ("history", RunState.PASSED, False)]


@pytest.mark.parametrize(("error", "end", "message"), [
    (CancelRequestedError("stopped"), RunState.CANCELLED,
     "stopped on request (envctl stop, Ctrl-C or a cancelled job)"),
    (EnvctlError("no environment"), RunState.INFRA_ERROR, "no environment")])
def test_a_start_that_fails_ends_the_run(run_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                         error: EnvctlError, end: RunState, message: str) -> None:
    """A stop while starting: cancelled; an envctl error while starting: infra-error saying it."""
    def start_container(_path: Path, _record: RunRecord, _cancel: object, **_kw: object) -> RunRecord:
        raise error

    monkeypatch.setattr(launch, "start_container", start_container)
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.message) == (end, message)


def test_a_stop_before_the_start_starts_nothing(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop came first: cancelled, and no container is started."""
    (run_dir / CANCEL_FILE).touch()
    monkeypatch.setattr(launch, "start_container", lambda *_a, **_k: pytest.fail("started"))
    record = collector.collect(run_dir)
    assert record is not None
    assert record.state is RunState.CANCELLED


def test_a_run_never_handed_to_a_collector_never_got_a_container(run_dir: Path) -> None:
    """Not detached (a foreground start that died): infra-error, saying there was no container."""
    (run_dir / DETACHED_FILE).unlink()
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.message) == (RunState.INFRA_ERROR, "the run never got a test container")


def test_a_lost_engine_leaves_the_run_as_it_is(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine went away while running: the loss is noted, the error raised, no end written."""
    lifecycle.assign_container(run_dir, "c")
    lifecycle.mark_running(run_dir, 100.0)

    def gone(_self: FakeEngine, _name: str) -> None:
        raise EngineUnavailableError("engine gone")

    monkeypatch.setattr(FakeEngine, "container_state", gone)
    with pytest.raises(EngineUnavailableError):
        collector.collect(run_dir)
    record = RunRecord.load(run_dir)
    assert record.state is RunState.RUNNING
    assert record.engine_lost_at is not None


def test_an_unmounted_runs_reports_are_copied_out_of_the_container(run_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing mounted (remote engine): JUnit and the timeout marker come out by copy."""
    record = lifecycle.assign_container(run_dir, "c")
    record.injected = False
    lifecycle.save(run_dir, record)
    copied: list[tuple[str, str]] = []

    def copy_file_out(_self: FakeEngine, name: str, path: str, _dest: Path, *, cap: int = 0) -> bool:
        copied.append((name, path))
        return False

    monkeypatch.setattr(FakeEngine, "copy_file_out", copy_file_out)
    FakeEngine.reset([state(), ended(exit_code=0)], output=b"ok\n")
    ended_record = collector.collect(run_dir)
    assert ended_record is not None
    assert ended_record.state is RunState.PASSED
    assert copied == [("c", f"{UNMOUNTED_RUN_DIR}/junit.xml"), ("c", f"{UNMOUNTED_RUN_DIR}/timeout.json")]


def test_a_container_started_by_nobody_in_time_is_infra_error(run_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Created, and still not started at START_WAIT: removed, infra-error saying so."""
    lifecycle.assign_container(run_dir, "c")
    monkeypatch.setattr(collector, "START_WAIT", 0.0)
    FakeEngine.reset([state(status="created", started=False)])
    record = collector.collect(run_dir)
    assert record is not None
    assert (record.state, record.message) == \
        (RunState.INFRA_ERROR, "the test container was created but not started within 0s")


def test_a_stop_request_is_seen_and_acted_on_once(tmp_path: Path) -> None:
    """The watch sees the cancel file appear and calls on_cancel once, from its thread."""
    called = threading.Event()
    with CancelWatch(tmp_path) as cancel:
        assert cancel() is False
        cancel.on_cancel = called.set
        (tmp_path / CANCEL_FILE).touch()
        assert called.wait(10)
        assert cancel() is True
        assert cancel.requested_before((tmp_path / CANCEL_FILE).stat().st_mtime) is True
        assert cancel.requested_before(0.0) is False


def test_a_shipped_runs_reports_are_copied_out_of_its_container(tmp_path: Path) -> None:
    """Its folders shipped to an engine that cannot see the exchange folder: every report the
    runner kept in the container comes out into the exchange folder; a mounted run's none."""
    copied: list[tuple[str, str, Path]] = []

    class Copying:
        def copy_file_out(self, container: str, path: str, dest: Path, *, cap: int = 0) -> bool:
            copied.append((container, path, dest))
            return True

    record = RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"], limits=Limits(1, 1.0, 1),
                       shipped_bytes=10, shipped_seconds=0.1)
    collector._copy_out(Copying(), "c1", tmp_path, record)  # type: ignore[arg-type]  # copies only
    box = exchange.box(tmp_path)
    names = ("junit.xml", "events.jsonl", "progress.json", "timeout.json", "clock.json")
    assert copied == [("c1", f"{UNMOUNTED_RUN_DIR}/{name}", box / name) for name in names]
    copied.clear()
    collector._copy_out(Copying(), "c1", tmp_path, RunRecord(  # type: ignore[arg-type]  # copies only
        id=RUN_ID, project="p", service="test", command=[], limits=Limits(1, 1.0, 1)))
    assert copied == []


def test_the_rest_is_imported_in_a_thread_and_waited_for() -> None:
    """_import_the_rest loads LATER beside the start; _imported waits for it to be over."""
    import sys  # noqa: PLC0415

    collector._import_the_rest()
    collector._imported()
    assert collector._IMPORTING == []
    assert all(name in sys.modules for name in collector.LATER)
