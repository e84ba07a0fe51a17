"""The run's output log, capped on disk, in constant memory, and read from its tail.

Up to ``cap`` bytes are kept: the first half as written (``output.log``), and the last half,
kept in two alternating tail segments while the run goes on. When the run ends the segments are
appended to ``output.log`` after a line that says how many bytes were cut. Bytes are written as
they come (no decoding), so invalid UTF-8, a missing final newline or a 100 MB line cost nothing
more than their size on disk, and never memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

TAIL_SEGMENTS = ("output.tail.0", "output.tail.1")
MIN_CAP = 64 * 1024


class CappedLog:
    """Write-side of the output log."""

    def __init__(self, run_dir: Path, cap: int, name: str = "output.log") -> None:
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

    def write(self, data: bytes) -> None:
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
                self.head.write(f"\n[envctl: {cut} bytes of output cut here to keep the log under "
                                f"{self.cap} bytes; the start and the end are kept]\n".encode())
            for segment in (older, current):
                if segment.exists():
                    with segment.open("rb") as source:
                        while chunk := source.read(1 << 20):
                            self.head.write(chunk)
                    segment.unlink()
        self.head.close()
        return max(cut, 0)


def _open_private(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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
