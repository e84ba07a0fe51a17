"""Showing a run's output live: the foreground `envctl test`, and `envctl logs`."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from envctl import signals
from envctl.runs import control
from envctl.runs.logfile import LineSplitter, tail_lines
from envctl.runs.run import Run
from envctl.runs.state import RunRecord, RunState
from envctl.runs.store import OUTPUT_LOG, collector_alive

_ended_line = [True]  # whether the last byte written was a newline (or nothing was written)


def _write(data: bytes) -> None:
    if data:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        _ended_line[0] = data.endswith(b"\n")


def _started(record: RunRecord) -> bool:
    return record.state is not RunState.STARTING


def _stream_container(container: str | None, *, tail: int | None = None,
                      write: Callable[[bytes], None] = _write,
                      host: str | None = None) -> tuple[int, bool]:
    """Copy the container's output to stdout until it exits: (bytes copied, complete)."""
    from envctl.verbs.logs import container_output  # noqa: PLC0415

    if container is None:
        return 0, False
    copied = 0

    def sink(chunk: bytes) -> None:
        nonlocal copied
        write(chunk)
        copied += len(chunk)

    for chunk in container_output(container, tail=tail, host=host):
        sink(chunk)
    return copied, True


TAKE_OVER_EVERY = 2.0  # seconds between two looks for a live collector while a host run is followed


def _stream_live(run_dir: Path, record: RunRecord, *, tail: int | None = None,
                 write: Callable[[bytes], None] = _write) -> tuple[int, bool]:
    """The running run's output as it comes: the container's, or for a `test --host` run the log
    its runner writes, read as it grows until the run is recorded: (bytes copied, complete)."""
    if not record.host:
        return _stream_container(record.container, tail=tail, write=write, host=record.engine)
    from envctl.runs.logtimes import last_lines_offset  # noqa: PLC0415

    path = run_dir / OUTPUT_LOG
    offset = start = 0 if tail is None else last_lines_offset(path, tail, max(256 * 1024, tail * 400))
    looked = time.monotonic()
    while True:
        ended = RunRecord.load(run_dir).state.terminal  # looked at first: the last read is whole
        if not ended and time.monotonic() - looked > TAKE_OVER_EVERY:
            looked = time.monotonic()
            control.take_over(run_dir)  # its collector died: someone must record the end we wait for
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                while chunk := handle.read(1 << 20):
                    write(chunk)
                    offset += len(chunk)
        except FileNotFoundError:
            pass
        if ended:
            return offset - start, tail is not None
        time.sleep(0.1)


def _print_file(path: Path, offset: int = 0, write: Callable[[bytes], None] = _write) -> None:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(1 << 20):
                write(chunk)
    except FileNotFoundError:
        pass


def follow(run_dir: Path) -> int:
    """Stream a run's output until it ends; its exit code. Ctrl-C cancels the run."""
    from envctl.ui.render import final_summary  # noqa: PLC0415

    try:
        record = control.wait_for(run_dir, until=_started)
        # A reader that leaves (`envctl test | head`) ends nothing here: `test` writes through
        # ui.pipes, and the run's end is still the answer.
        copied, complete = (0, False) if record.state.terminal else _stream_live(run_dir, record)
        record = control.wait_for(run_dir)
        if not complete:  # the live copy missed the end: the rest is in the recorded log
            _print_file(run_dir / OUTPUT_LOG, offset=copied)
    except signals.INTERRUPTS as exc:
        with signals.shielded():  # the request itself is never cut short
            print(f"\nenvctl: {signals.name(exc)}: stopping the run (interrupt, then terminate, "
                  "then kill; a second signal leaves it stopping)", file=sys.stderr)
            control.request_stop(run_dir)
        try:
            record = control.stop(run_dir)
        except signals.INTERRUPTS:  # the collector goes on with the stop and records it
            print(f"envctl: not waiting for the stop; it goes on (`envctl status {run_dir.name}`)",
                  file=sys.stderr)
            return signals.exit_code(exc)
        print(final_summary(run_dir, record), file=sys.stderr)
        return signals.exit_code(exc)
    print(final_summary(run_dir, record), file=sys.stderr)
    return record.exit_code


def print_log(run: Run, *, follow: bool, tail: int | None, write: Callable[[bytes], None] = _write,
              timestamps: bool = False) -> None:
    record = run.record
    if follow and not record.state.terminal:
        control.take_over(run.dir)  # following to the end needs someone to record the end
    if record.children:
        _print_shard_logs(run, record, follow=follow, tail=tail, timestamps=timestamps)
        return
    if timestamps:
        _print_stamped(run.dir, follow=follow and not record.state.terminal, tail=tail, write=write)
        return
    if follow and not record.state.terminal:
        record = control.wait_for(run.dir, until=_started)
        if not record.state.terminal:
            copied, complete = _stream_live(run.dir, record, tail=tail, write=write)
            if complete:
                return
            control.wait_for(run.dir)
            if tail is None:  # the live copy missed the end: the rest is in the recorded log
                _print_file(run.dir / OUTPUT_LOG, offset=copied, write=write)
                return
    if tail is not None:
        for line in tail_lines(run.dir, tail, max_bytes=max(256 * 1024, tail * 400)):
            write(line.encode("utf-8", errors="replace") + b"\n")
        return
    _print_file(run.dir / OUTPUT_LOG, write=write)


def _print_shard_logs(run: Run, record: RunRecord, *, follow: bool, tail: int | None,
                      timestamps: bool) -> None:
    """A --shards parent's logs: each shard's in turn under a header; or, followed while the
    shards run, all at once, line by line, each line prefixed with its shard (as compose does)."""
    children = [Run(run.store, child_id) for child_id in record.children
                if (run.dir.parent / child_id / "run.json").exists()]  # a shard gone: the parent says lost
    if not (follow and not record.state.terminal):
        for child in children:
            newline = "" if _ended_line[0] else "\n"  # a log cut mid-line (pytest's dots)
            _write(f"{newline}==> shard {child.record.shard} ({child.id}) <==\n".encode())
            print_log(child, follow=False, tail=tail, timestamps=timestamps)
        return
    lock = threading.Lock()
    width = max(len(child.record.shard or "") for child in children)

    def follow_one(child: Run) -> None:
        lines = PrefixedLines(f"[{child.record.shard or '?':>{width}}] ".encode(), lock)
        try:
            print_log(child, follow=True, tail=tail, write=lines.write, timestamps=timestamps)
        finally:
            lines.close()

    threads = [threading.Thread(target=follow_one, args=(child,), daemon=True) for child in children]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)  # short joins keep Ctrl-C working


def _print_stamped(run_dir: Path, *, follow: bool, tail: int | None, write: Callable[[bytes], None]) -> None:
    """The log from the file, each line behind the time it arrived; followed as the collector
    writes it when ``follow``, until the run is recorded."""
    from envctl.runs.logtimes import StampedLines, TimeIndex, last_lines_offset  # noqa: PLC0415

    if tail is not None and tail <= 0:
        return
    path = run_dir / OUTPUT_LOG
    index = TimeIndex(run_dir)
    start = 0 if tail is None else last_lines_offset(path, tail, max(256 * 1024, tail * 400))
    lines = StampedLines(index, write, start)
    offset = start
    while True:
        # Looked at before reading, so the read after the run is recorded is the complete log.
        ended = not follow or (RunRecord.load(run_dir).state.terminal and not collector_alive(run_dir))
        index.refresh()  # an entry is written before the bytes it stamps
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < offset:  # the collector rewrote the log from the engine's copy
            lines.close()
            write(b"[envctl: the log was rewritten from the engine's copy; again from its start]\n")
            lines, offset = StampedLines(index, write, 0), 0
        if size > offset:
            with path.open("rb") as handle:
                handle.seek(offset)
                while offset < size and (chunk := handle.read(min(1 << 20, size - offset))):
                    lines.write(chunk)
                    offset += len(chunk)
        if ended:
            break
        time.sleep(0.1)
    lines.close()


class PrefixedLines(LineSplitter):
    """Writes whole lines, each behind ``prefix``, under a lock shared with other writers."""

    def __init__(self, prefix: bytes, lock: threading.Lock, max_line: int = 64 * 1024) -> None:
        def locked(data: bytes) -> None:
            with lock:
                _write(data)

        super().__init__(lambda _at: prefix, locked, max_line=max_line)
