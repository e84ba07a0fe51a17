"""The test container's output, captured into the run's capped log: byte-exact through the attach
when the tests are still held at the gate, else from the engine's stored log; a full disk stops
the log, never the run."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.runs import exchange
from envctl.runs.container import GATE_WAIT
from envctl.runs.logfile import CappedLog
from envctl.runs.state import RunRecord
from envctl.runs.store import OUTPUT_LOG

if TYPE_CHECKING:
    from envctl.docker.engine import Engine
    from envctl.docker.models import ContainerState

DISK_RESERVE = 1 << 20  # bytes kept free where the log goes: room for the record and the results
DISK_CHECK_EVERY = 256 << 10  # bytes of output between two looks at the free space
GATE_MARGIN = 5.0  # seconds: a container started this close to the runner's gate deadline may be past it


class OutputLog:
    """The capped log as the capture sees it: a write error (a full disk) is kept, not raised,
    so the run still ends and the record says the log is incomplete."""

    def __init__(self, run_dir: Path, cap: int) -> None:
        self.run_dir = run_dir
        self.log = CappedLog(run_dir, cap, OUTPUT_LOG)
        self.error: str | None = None
        self.total = 0
        self.cut = 0
        self.next_check = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        if self.error is not None:
            return
        if self.total >= self.next_check:
            self.next_check = self.total + DISK_CHECK_EVERY
            if free_bytes(self.run_dir) < DISK_RESERVE:
                # Stop while the record, the results and the cut marker still fit: a log that
                # fills the disk would take the run's result down with it.
                self.error = (f"the disk holding the log is full (less than {DISK_RESERVE >> 20} MiB "
                              f"free after {self.log.total} bytes); the rest of the output is not kept")
                return
        try:
            self.log.write(data)
        except OSError as exc:
            self.error = f"writing the log failed after {self.log.total} bytes: {exc.strerror or exc}"

    def close(self) -> None:
        try:
            self.cut = self.log.close()
        except OSError as exc:
            self.error = self.error or f"finishing the log failed: {exc.strerror or exc}"
        self.cut = max(self.cut, self.total - self.log.total)


def nothing_written_yet(run_dir: Path, record: RunRecord, state: ContainerState) -> bool:
    """Whether the tests are still held at the runner's gate, so an attach sees every byte: the
    gate is mounted, nobody has opened it, and the runner has not given up waiting for it."""
    if not record.injected or exchange.gate_open(run_dir):
        return False
    return state.started_at is not None and time.time() - state.started_at < GATE_WAIT - GATE_MARGIN


def free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return DISK_RESERVE  # cannot tell: go on writing, and an error will say the rest


def capture_output(run_dir: Path, record: RunRecord, engine: Engine, container: str,
                   *, follow: bool, pristine: bool, on_capturing: Callable[[], bool]) -> OutputLog:
    """Write the container's whole output to the capped log: through the attach (byte-exact)
    when it comes before any output, else from the engine's stored log, which has no gap (a
    collector taking over a running container, a run without the gate). ``on_capturing``: called
    once the capture is in place, before the gate opens and the output is read; False keeps the
    gate shut (the run was stopped before its tests began)."""
    if follow and pristine:
        log = OutputLog(run_dir, record.log_cap)

        def attached() -> None:
            if on_capturing():  # a run stopped before its tests began keeps them held
                open_gate(run_dir)

        try:
            _code, complete = engine.follow_output(container, log.write, on_attached=attached)
        finally:
            log.close()
        if complete:
            return log
    # Output came before us, it finished before we attached, or the attach hung.
    if on_capturing() and follow and record.injected:
        open_gate(run_dir)  # a runner still held (its collector died first) need not wait on
    log = OutputLog(run_dir, record.log_cap)
    try:
        for chunk in engine.output_stream(container, follow=follow and not pristine):
            log.write(chunk)
    finally:
        log.close()
    return log


def open_gate(run_dir: Path) -> None:
    """Let the held tests start (a gate that cannot be written is waited out by the runner)."""
    with contextlib.suppress(OSError):
        exchange.open_gate(run_dir)
