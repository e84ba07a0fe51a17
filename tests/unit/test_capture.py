"""The output capture: attach or stored log, the gate, and a disk that fills up (fake engine)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from envctl.runs import capture, exchange, lifecycle
from envctl.runs.capture import OutputLog, capture_output, nothing_written_yet
from envctl.runs.container import GATE_WAIT
from envctl.runs.state import Limits, RunRecord
from envctl.runs.store import OUTPUT_LOG
from tests.unit.fake_engine import FakeEngine, state

if TYPE_CHECKING:
    from envctl.docker.engine import Engine

RUN_ID = "20260101-000000-abcd"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run whose plugin and gate are mounted."""
    path = tmp_path / RUN_ID
    path.mkdir(mode=0o700)
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"],
                                     limits=Limits(1, 1.0, 1), container="c", injected=True))
    return path


class _HungAttach(FakeEngine):
    """An attach that ends before the output did (it hung, or the container went first)."""

    def follow_output(self, _container: str, sink: Callable[[bytes], None], *, grace: float = 2.0,
                      on_attached: Callable[[], None] | None = None) -> tuple[int | None, bool]:
        if on_attached is not None:
            on_attached()
        sink(b"partial")
        return None, False


def test_a_hung_attach_falls_back_to_the_stored_log_from_the_start(run_dir: Path) -> None:
    """The attach was incomplete: the whole stored log is read again (not followed), replacing it."""
    FakeEngine.reset([], output=b"every byte\n")
    record = RunRecord.load(run_dir)
    log = capture_output(run_dir, record, cast("Engine", _HungAttach()), "c", follow=True, pristine=True,
                         on_capturing=lambda: True)
    assert (run_dir / OUTPUT_LOG).read_bytes() == b"every byte\n"
    assert (log.total, log.cut, log.error) == (11, 0, None)
    assert FakeEngine.stored_reads == [False]
    assert exchange.gate_open(run_dir)


def test_a_run_stopped_before_its_tests_keeps_the_gate_shut(run_dir: Path) -> None:
    """on_capturing says no: the output is still captured, the gate stays closed."""
    FakeEngine.reset([], output=b"x")
    capture_output(run_dir, RunRecord.load(run_dir), cast("Engine", FakeEngine()), "c", follow=True,
                   pristine=True, on_capturing=lambda: False)
    assert exchange.gate_open(run_dir) is False
    assert (run_dir / OUTPUT_LOG).read_bytes() == b"x"


def test_a_full_disk_stops_the_log_not_the_run(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Less than DISK_RESERVE free: nothing more is written, and the error says so."""
    monkeypatch.setattr(capture, "free_bytes", lambda _path: capture.DISK_RESERVE - 1)
    log = OutputLog(run_dir, 1 << 20)
    log.write(b"abc")
    log.write(b"def")
    log.close()
    assert log.error == ("the disk holding the log is full (less than 1 MiB free after 0 bytes); "
                         "the rest of the output is not kept")
    assert (log.total, log.cut) == (6, 6)
    assert (run_dir / OUTPUT_LOG).read_bytes() == b""


def test_a_log_that_cannot_be_finished_says_so(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error while assembling the capped log is kept as the log's error."""
    log = OutputLog(run_dir, 1 << 20)
    log.write(b"abc")

    def broken() -> int:
        raise OSError(28, "No space left on device")

    real_close = log.log.close
    monkeypatch.setattr(log.log, "close", broken)
    log.close()
    assert log.error == "finishing the log failed: No space left on device"
    assert log.cut == 0
    real_close()


def test_free_bytes_that_cannot_be_told_let_the_log_go_on(tmp_path: Path) -> None:
    """No such folder: as if just enough were free (the write itself will fail if it must)."""
    assert capture.free_bytes(tmp_path / "absent") == capture.DISK_RESERVE
    assert capture.free_bytes(tmp_path) > 0


def test_only_a_fresh_container_held_at_a_shut_gate_is_pristine(run_dir: Path) -> None:
    """Mounted, gate shut, started within the gate's wait: pristine; any of these otherwise: not."""
    record = RunRecord.load(run_dir)
    fresh = state()
    assert nothing_written_yet(run_dir, record, fresh) is True
    assert nothing_written_yet(run_dir, record, replace(fresh, started_at=None)) is False
    late = time.time() - (GATE_WAIT - capture.GATE_MARGIN) - 1
    assert nothing_written_yet(run_dir, record, replace(fresh, started_at=late)) is False
    assert nothing_written_yet(run_dir, replace(record, injected=False), fresh) is False
    exchange.open_gate(run_dir)
    assert nothing_written_yet(run_dir, record, fresh) is False
