"""Showing a run's output live: the foreground `envctl test`, and `envctl logs`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.errors import ExitCode
from envctl.runs import control
from envctl.runs.logfile import tail_lines
from envctl.runs.state import RunRecord, RunState
from envctl.runs.store import OUTPUT_LOG

if TYPE_CHECKING:
    from envctl.runs.run import Run


_ended_line = [True]  # whether the last byte written was a newline (or nothing was written)


def _write(data: bytes) -> None:
    if data:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        _ended_line[0] = data.endswith(b"\n")


def _stream_container(container: str | None, *, tail: int | None = None) -> tuple[int, bool]:
    """Copy the container's output to stdout until it exits: (bytes copied, complete)."""
    from envctl.docker.engine import Engine  # noqa: PLC0415

    if container is None:
        return 0, False
    copied = 0

    def sink(chunk: bytes) -> None:
        nonlocal copied
        _write(chunk)
        copied += len(chunk)

    with Engine(timeout=None) as engine:
        if tail is not None:
            for chunk in engine.output_stream(container, follow=True, tail=tail):
                sink(chunk)
            return copied, True
        _code, complete = engine.follow_output(container, sink)
    return copied, complete


def _print_file(path: Path, offset: int = 0) -> None:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(1 << 20):
                _write(chunk)
    except FileNotFoundError:
        pass


def follow(run_dir: Path) -> int:
    """Stream a run's output until it ends; its exit code. Ctrl-C cancels the run."""
    from envctl.render import final_summary  # noqa: PLC0415

    try:
        record = _wait_for_container(run_dir)
        copied, complete = _stream_container(record.container)
        record = control.wait_for(run_dir)
        if record.isolated:
            control.wait_until_collected(run_dir)
        if not complete:  # the live copy missed the end: the rest is in the recorded log
            _print_file(run_dir / OUTPUT_LOG, offset=copied)
    except KeyboardInterrupt:
        print("\nenvctl: Ctrl-C: stopping the run (interrupt, then terminate, then kill)",
              file=sys.stderr)
        record = control.stop(run_dir)
        print(final_summary(run_dir, record), file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    print(final_summary(run_dir, record), file=sys.stderr)
    return record.exit_code


def _wait_for_container(run_dir: Path) -> RunRecord:
    """The record once the background starter has created the container (or ended the run)."""
    checks = 0
    while True:
        record = RunRecord.load(run_dir)
        if record.state.terminal or record.state is not RunState.STARTING:
            return record
        checks += 1
        if checks % 40 == 0:  # every 2 s: a starter that died is replaced
            control.reconcile(run_dir)
        time.sleep(0.05)


def print_log(run: Run, *, follow: bool, tail: int | None) -> None:
    record = control.reconcile(run.dir)
    if record.children:  # a --shards parent: each shard's log in turn, under a header
        from envctl.runs.run import Run as RunHandle  # noqa: PLC0415

        for child_id in record.children:
            child = RunHandle(run.store, child_id)
            newline = "" if _ended_line[0] else "\n"  # a log cut mid-line (pytest's dots)
            _write(f"{newline}==> shard {child.record.shard} ({child_id}) <==\n".encode())
            print_log(child, follow=follow, tail=tail)
        return
    if follow and not record.state.terminal:
        record = _wait_for_container(run.dir)
        if not record.state.terminal:
            copied, complete = _stream_container(record.container, tail=tail)
            if complete:
                return
            control.wait_for(run.dir)
            if tail is None:  # the live copy missed the end: the rest is in the recorded log
                _print_file(run.dir / OUTPUT_LOG, offset=copied)
                return
    if tail is not None:
        for line in tail_lines(run.dir, tail, max_bytes=max(256 * 1024, tail * 400)):
            _write(line.encode("utf-8", errors="replace") + b"\n")
        return
    _print_file(run.dir / OUTPUT_LOG)
