"""The run's output log, capped on disk, in constant memory, and read from its tail.

Up to ``cap`` bytes are kept: the first half as written (``output.log``), and the last half,
kept in two alternating tail segments while the run goes on. When the run ends the segments are
appended to ``output.log`` after a line that says how many bytes were cut. Bytes are written as
they come (no decoding), so invalid UTF-8, a missing final newline or a 100 MB line cost nothing
more than their size on disk, and never memory.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from envctl.runs.store import TIMES_FILE

TAIL_SEGMENTS = ("output.tail.0", "output.tail.1")
MIN_CAP = 64 * 1024
# The time index: "<stream offset> <unix time>" lines, one per chunk at most every 0.1 s (the
# resolution of `logs --timestamps`); past 2 MiB one a second, and none past 8 MiB, so its disk
# use stays capped whatever the output.
TIMES_INTERVAL = 0.1
TIMES_SLOW_AFTER = 2 << 20
TIMES_CAP = 8 << 20


class CappedLog:
    """Write-side of the output log."""

    def __init__(self, run_dir: Path, cap: int, name: str = "output.log",
                 clock: Callable[[], float] = time.time) -> None:
        self.run_dir = run_dir
        self.cap = max(cap, MIN_CAP)
        self.head_cap = self.cap // 2
        self.segment_cap = (self.cap - self.head_cap) // 2
        self.path = run_dir / name
        self.head: BinaryIO = _open_private(self.path)
        self.head_bytes = 0
        self.total = 0
        self.segment = -1
        self.segment_bytes = 0
        self.tail: BinaryIO | None = None
        self.clock = clock
        # A collector taking over replays the output from its first byte: the index keeps the
        # first collector's entries, and grows only past them.
        self.times_after, self.times_bytes = _index_end(run_dir / TIMES_FILE)
        self.times = _open_append(run_dir / TIMES_FILE)
        self.last_stamp = -math.inf

    def write(self, data: bytes) -> None:
        self._stamp()
        self.total += len(data)
        if self.head_bytes < self.head_cap:
            take = min(len(data), self.head_cap - self.head_bytes)
            self.head.write(data[:take])
            self.head_bytes += take
            data = data[take:]
        while data:
            if self.tail is None or self.segment_bytes >= self.segment_cap:
                self._next_segment()
            assert self.tail is not None  # noqa: S101  # _next_segment opened it
            take = min(len(data), self.segment_cap - self.segment_bytes)
            self.tail.write(data[:take])
            self.segment_bytes += take
            data = data[take:]

    def _stamp(self) -> None:
        if self.total <= self.times_after or self.times_bytes >= TIMES_CAP:
            return
        now = self.clock()
        if now - self.last_stamp < (TIMES_INTERVAL if self.times_bytes < TIMES_SLOW_AFTER else 1.0):
            return
        entry = f"{self.total} {now:.3f}\n".encode()
        self.times.write(entry)
        self.times_bytes += len(entry)
        self.times_after, self.last_stamp = self.total, now

    def _next_segment(self) -> None:
        if self.tail is not None:
            self.tail.close()
        self.segment = (self.segment + 1) % 2
        self.tail = _open_private(self.run_dir / TAIL_SEGMENTS[self.segment])
        self.segment_bytes = 0

    def flush(self) -> None:
        self.head.flush()
        if self.tail is not None:
            self.tail.flush()

    @property
    def kept(self) -> int:
        if self.tail is None:
            return self.head_bytes
        older = self.run_dir / TAIL_SEGMENTS[(self.segment + 1) % 2]
        return self.head_bytes + self.segment_bytes + (older.stat().st_size if older.exists() else 0)

    def close(self) -> int:
        """Assemble the final log; return how many bytes were cut."""
        cut = 0
        if self.tail is not None:
            self.tail.close()
            current = self.run_dir / TAIL_SEGMENTS[self.segment]
            older = self.run_dir / TAIL_SEGMENTS[(self.segment + 1) % 2]
            older_size = older.stat().st_size if older.exists() else 0
            cut = self.total - self.head_bytes - older_size - self.segment_bytes
            if cut > 0:
                marker = (f"\n[envctl: {cut} bytes of output cut here to keep the log under "
                          f"{self.cap} bytes; the start and the end are kept]\n").encode()
                self.head.write(marker)
                # Where the file stops being the stream: the index maps offsets past it back.
                self.times.write(f"cut {self.head_bytes} {len(marker)} {cut}\n".encode())
            for segment in (older, current):
                if segment.exists():
                    with segment.open("rb") as source:
                        while chunk := source.read(1 << 20):
                            self.head.write(chunk)
                    segment.unlink()
        self.head.close()
        self.times.close()
        return max(cut, 0)


def seal_orphaned(run_dir: Path, name: str = "output.log") -> bool:
    """A log whose writer was killed before ``close``: its tail segments (the run's end) appended
    after the head, older first, behind a line saying bytes may be missing between; whether
    there were any. Idempotent: the segments go once appended."""
    segments = sorted((p for p in (run_dir / s for s in TAIL_SEGMENTS) if p.exists()),
                      key=lambda p: p.stat().st_mtime)
    if not segments:
        return False
    with _open_append(run_dir / name) as head:
        head.write(b"\n[envctl: output may be cut here: its writer was killed before it could say "
                   b"how much; the end follows]\n")
        for segment in segments:
            with segment.open("rb") as source:
                while chunk := source.read(1 << 20):
                    head.write(chunk)
            segment.unlink()
    return True


def _index_end(path: Path) -> tuple[int, int]:
    """The last stream offset in an existing time index (-1 if none), and the index's size."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 4096))
            lines = handle.read().splitlines()
    except OSError:
        return -1, 0
    for line in reversed(lines):
        first = line.split(b" ", 1)[0]
        if first.isdigit():
            return int(first), size
    return -1, size


def _open_append(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "ab", buffering=0)


def _open_private(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb", buffering=0)  # unbuffered: `status` reads the tail while we write


def tail_lines(run_dir: Path, lines: int, name: str = "output.log", max_bytes: int = 256 * 1024) -> list[str]:
    """The last ``lines`` lines of the log, reading at most ``max_bytes`` from its end.

    While a run goes on with a cut log, the newest bytes are in the current tail segment.
    """
    candidates = [run_dir / s for s in TAIL_SEGMENTS if (run_dir / s).exists()]
    newest = max(candidates, key=lambda p: p.stat().st_mtime) if candidates else run_dir / name
    try:
        with newest.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    result = text.splitlines()[-lines:] if lines > 0 else []
    return [line[:2000] for line in result]


class LineSplitter:
    """Writes whole lines, each behind the label of the offset it starts at (``label``), to
    ``out``. A line longer than ``max_line`` goes out in pieces, so memory stays bounded."""

    def __init__(self, label: Callable[[int], bytes], out: Callable[[bytes], None], offset: int = 0,
                 max_line: int = 64 * 1024) -> None:
        self.label = label
        self.out = out
        self.offset = offset  # where ``pending`` starts in the stream
        self.pending = b""
        self.max_line = max_line

    def write(self, data: bytes) -> None:
        self.pending += data
        pieces = []
        while True:
            end = self.pending.find(b"\n")
            if end < 0 and len(self.pending) <= self.max_line:
                break
            take = end + 1 if 0 <= end < self.max_line else self.max_line
            pieces.append(self._labelled(self.pending[:take]))
            self.offset += take
            self.pending = self.pending[take:]
        if pieces:
            self.out(b"".join(pieces))

    def close(self) -> None:
        if self.pending:
            self.out(self._labelled(self.pending))
            self.offset += len(self.pending)
            self.pending = b""

    def _labelled(self, line: bytes) -> bytes:
        text = self.label(self.offset) + line
        return text if text.endswith(b"\n") else text + b"\n"


@dataclass(frozen=True)
class LogChunk:
    """A piece of the output log: its text, and where it lies in ``output.log``."""

    text: str
    start: int | None  # None: the last lines, read from wherever the newest bytes are
    end: int
    size: int
    truncated: bool  # more follows ``end`` in output.log


def read_chunk(run_dir: Path, *, offset: int | None = None, tail: int | None = None,
               max_bytes: int = 64 * 1024, name: str = "output.log") -> LogChunk:
    """The last ``tail`` lines, or the bytes of ``output.log`` from ``offset`` (up to
    ``max_bytes``, cut after the last whole line when more follows)."""
    path = run_dir / name
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if offset is None:
        lines = tail_lines(run_dir, 50 if tail is None else tail, name=name, max_bytes=max_bytes)
        text = "\n".join(lines)
        return LogChunk(text[-max_bytes:], None, size, size, False)
    start = min(max(0, offset), size)
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(min(max_bytes, size - start))
    except OSError:
        data = b""
    end = start + len(data)
    if end < size and b"\n" in data:  # whole lines: the next call starts at the next line
        data = data[:data.rindex(b"\n") + 1]
        end = start + len(data)
    return LogChunk(data.decode("utf-8", errors="replace"), start, end, size, end < size)
