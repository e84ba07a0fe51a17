"""Where a run's resource use is kept, in its run directory (host-owned: only the collector
writes these, the container never sees them):

- ``resources.json``: the last sample of the test container and of each service, with the
  peaks; rewritten (temp file + rename) at each sample, read by `status` in constant time;
- ``resources.jsonl``: the test container's series, a line a sample, for the report's curve;
  at most SERIES_CAP lines: when full, every other line goes and samples are kept half as often.

Readers bound what they read as for any file: a size cap, numbers checked (``report.usage``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.files import open_regular, read_regular
from envctl.report.usage import Resources, Usage, size, usage_line
from envctl.runs.memory_growth import read_growth

if TYPE_CHECKING:
    from envctl.report.html_model import HtmlResources

RESOURCES_FILE = "resources.json"
SERIES_FILE = "resources.jsonl"
RESOURCES_CAP = 64 << 10  # bytes of resources.json read (32 services take ~8 KiB)
SERIES_CAP = 2000  # lines of resources.jsonl: an hour at one every 2 s before the first halving
SERIES_LINE_CAP = 512  # bytes of one line read
SERIES_READ_CAP = SERIES_CAP * SERIES_LINE_CAP


def write_resources(run_dir: Path, resources: Resources) -> None:
    """``resources.json``, replaced atomically (no fsync: it is a view that the next sample
    rewrites; a reader that finds it damaged shows no figures)."""
    import tempfile  # noqa: PLC0415  # with shutil and random ~4 ms: `status` only reads

    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f".{RESOURCES_FILE}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(resources.to_json(), handle, separators=(",", ":"))
        Path(tmp).replace(run_dir / RESOURCES_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def read_resources(run_dir: Path) -> Resources | None:
    """The last figures the collector wrote; None when there are none (or they are damaged)."""
    try:
        data = json.loads(read_regular(run_dir / RESOURCES_FILE, RESOURCES_CAP))
    except (OSError, ValueError, RecursionError):
        return None
    return Resources.from_json(data)


@dataclass(frozen=True)
class Point:
    """The test container at one moment."""

    at: float
    memory: int
    working_set: int | None = None


class Series:
    """``resources.jsonl``'s writer: a line every ``stride`` samples, halved when full."""

    def __init__(self, run_dir: Path, cap: int = SERIES_CAP) -> None:
        self.path = run_dir / SERIES_FILE
        self.cap = cap
        self.stride = 1
        self.ticks = 0
        self.lines = len(read_series(run_dir, points=None))  # a collector that took over adds on
        while self.lines >= self.cap:
            self._halve()

    def add(self, usage: Usage, at: float) -> None:
        self.ticks += 1
        if usage.memory is None or (self.ticks - 1) % self.stride:
            return
        line = {"t": round(at, 3), "m": usage.memory, "w": usage.working_set}
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.lines += 1
        if self.lines >= self.cap:
            self._halve()

    def _halve(self) -> None:
        """Every other line kept, and from now on every other sample."""
        kept = read_series(self.path.parent, points=None)[::2]
        text = "".join(json.dumps({"t": p.at, "m": p.memory, "w": p.working_set}, separators=(",", ":"))
                       + "\n" for p in kept)
        import tempfile  # noqa: PLC0415  # see write_resources

        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{SERIES_FILE}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(self.path)
        self.lines = len(kept)
        self.stride *= 2


def read_series(run_dir: Path, points: int | None = 600) -> list[Point]:
    """The test container's series, oldest first: every point, or about ``points`` of them
    (evenly spaced; the highest always among them)."""
    found: list[Point] = []
    try:
        handle = open_regular(run_dir / SERIES_FILE)
    except OSError:
        return found
    with handle:
        read = 0
        while read < SERIES_READ_CAP and (raw := handle.readline(SERIES_LINE_CAP)):
            read += len(raw)
            point = _point(raw)
            if point is not None:
                found.append(point)
    if points is None or len(found) <= points:
        return found
    step = math.ceil(len(found) / points)
    highest = max(range(len(found)), key=lambda i: found[i].memory)
    return [p for i, p in enumerate(found) if i % step == 0 or i == highest]


def _point(raw: bytes) -> Point | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    at, memory = data.get("t"), size(data.get("m"))
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not math.isfinite(at) \
            or not 0 < at < 1e10 or memory is None:
        return None
    return Point(float(at), memory, size(data.get("w")))


def report_fields(run_dir: Path) -> dict[str, object]:
    """A report's ``resources`` (the last figures, the peaks and the warnings; None without a
    sample) and ``memory_growth`` (the tests during which memory grew the most, most first)."""
    found = read_resources(run_dir)
    return {"resources": found.to_json() if found is not None else None,
            "memory_growth": [growth.to_json() for growth in read_growth(run_dir, limit=_limit(found))[0]]}


def _limit(found: Resources | None) -> int | None:
    """The test container's memory limit: no figure the tests report is taken above it."""
    return found.test.limit if found is not None and found.test is not None else None


def html_resources(run_dir: Path) -> HtmlResources | None:
    """The HTML report's resources section: the series (at most 600 points), the last figures
    and the warnings, the tests that grew memory the most; None when the run was never sampled."""
    found = read_resources(run_dir)
    if found is None:
        return None
    test = found.test
    from envctl.report.html_model import HtmlResources  # noqa: PLC0415  # the HTML report's alone

    return HtmlResources(
        series=tuple((point.at, point.memory) for point in read_series(run_dir)),
        limit=test.limit if test is not None else None,
        test=usage_line(test) if test is not None else "",
        services=tuple((name, usage_line(usage)) for name, usage in found.services),
        warnings=tuple(found.warnings()),
        growth=tuple((g.test, g.grew, g.before, g.after)
                     for g in read_growth(run_dir, limit=_limit(found))[0]))
