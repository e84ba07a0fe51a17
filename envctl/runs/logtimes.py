"""`envctl logs --timestamps`: when each line of a run's output arrived.

The collector keeps a small index beside the log (``output.times``: a stream offset and a time,
at most every 0.1 s) instead of rewriting the log with a time on every line: the log stays the
test container's bytes, exactly. A line's time is the arrival of the chunk it starts in. When
the log was cut in the middle to keep it under its cap, the index says where, and offsets past
the cut are mapped back to the stream.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable
from pathlib import Path

from envctl.runs.logfile import LineSplitter
from envctl.runs.store import TIMES_FILE

UNKNOWN = "-" * 24  # as wide as a time: lines the index does not cover (the cut marker)


class TimeIndex:
    """The run's time index, read once and then as it grows (``refresh``)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / TIMES_FILE
        self.offsets: list[int] = []
        self.times: list[float] = []
        self.cut: tuple[int, int, int] | None = None  # (file offset, marker length, bytes cut)
        self.read_to = 0
        self.refresh()

    def refresh(self) -> None:
        """Read the entries appended since the last look (whole lines only)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.read_to)
                data = handle.read()
        except OSError:
            return
        complete = data[:data.rfind(b"\n") + 1]
        self.read_to += len(complete)
        for line in complete.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == b"cut":
                self.cut = (int(parts[1]), int(parts[2]), int(parts[3]))
            elif len(parts) == 2:
                try:
                    offset, stamp = int(parts[0]), float(parts[1])
                except ValueError:
                    continue
                if not self.offsets or offset > self.offsets[-1]:
                    self.offsets.append(offset)
                    self.times.append(stamp)

    def time_at(self, file_offset: int) -> float | None:
        """When the byte at ``file_offset`` of output.log arrived; None if not known."""
        stream = file_offset
        if self.cut is not None:
            head, marker, cut = self.cut
            if head <= file_offset < head + marker:
                return None
            if file_offset >= head + marker:
                stream = file_offset - marker + cut
        found = bisect.bisect_right(self.offsets, stream) - 1
        return self.times[found] if found >= 0 else None


def format_time(stamp: float | None) -> str:
    """UTC, to the millisecond, as `docker logs --timestamps` writes it (shorter)."""
    if stamp is None:
        return UNKNOWN
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}Z"


class StampedLines(LineSplitter):
    """Takes consecutive bytes of output.log from ``offset`` on and writes each line behind
    the time it arrived."""

    def __init__(self, index: TimeIndex, write: Callable[[bytes], None], offset: int = 0,
                 max_line: int = 64 * 1024) -> None:
        super().__init__(lambda at: format_time(index.time_at(at)).encode() + b" ", write, offset, max_line)


def last_lines_offset(path: Path, lines: int, max_bytes: int) -> int:
    """The file offset where the last ``lines`` lines start (reading at most ``max_bytes``)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read()
    except OSError:
        return 0
    body = data[:-1] if data.endswith(b"\n") else data
    cut = len(body)
    for _ in range(lines):
        cut = body.rfind(b"\n", 0, cut)
        if cut < 0:
            return start if start == 0 else start + data.find(b"\n") + 1
    return start + cut + 1
