"""The tests during which the test container's memory grew the most, from the plugin's "memory"
events (``pytest_plugin/envctl_memory.py``: the container's cgroup read at each test's start
and end), and the highest peak the plugin saw.

The events come from the test container: each number must be a whole number of at most 19
digits within bounds, each node id is cleaned, and a peak is never taken above the limit the
engine applies (the tests cannot claim more than they could have used).
"""

from __future__ import annotations

import heapq
import json
from pathlib import Path

from envctl.report.usage import Growth, size
from envctl.runs.exchange import EVENTS_FILE, LINE_CAP, RESULT_CAP, clean_nodeid, open_result

TOP = 10  # tests listed, as for the slowest
MARKER = b'"memory"'  # only the lines holding it are parsed (a 100k-test run has 200k others)


def read_growth(run_dir: Path, top: int = TOP,
                limit: int | None = None) -> tuple[list[Growth], int | None]:
    """The ``top`` tests whose memory grew the most, most first, and the highest peak the
    plugin read (None: it read none); one pass over the events, holding ``top`` tests. With
    ``limit`` (what the engine applied), no figure is taken above it."""
    handle = open_result(run_dir, EVENTS_FILE)
    if handle is None:
        return [], None
    best: list[tuple[int, int, Growth]] = []  # a min-heap on growth: the smallest kept goes first
    peak: int | None = None
    with handle:
        read = seen = 0
        while read < RESULT_CAP and (raw := handle.readline(LINE_CAP)):
            read += len(raw)
            if MARKER not in raw:
                continue
            parsed = parse_memory_event(raw)
            if parsed is None:
                continue
            growth, peaked = parsed if not limit else _capped(parsed[0], limit)
            if peaked is not None:
                peak = peaked if peak is None else max(peak, peaked)
            if growth.grew <= 0:
                continue
            seen += 1
            item = (growth.grew, -seen, growth)  # ties: the earlier test first
            if len(best) < top:
                heapq.heappush(best, item)
            elif best and item > best[0]:
                heapq.heapreplace(best, item)
    return [growth for _grew, _order, growth in sorted(best, reverse=True)], peak


def _capped(growth: Growth, limit: int) -> tuple[Growth, int | None]:
    peak = min(growth.peak, limit) if growth.peak is not None else None
    return Growth(growth.test, min(growth.before, limit), min(growth.after, limit), peak), peak


def parse_memory_event(raw: bytes) -> tuple[Growth, int | None] | None:
    """One "memory" event line: the test's growth and the new peak it set (None: none), or None
    if the line is no memory event."""
    if len(raw) > 4096:  # a memory event is ~150 bytes; a longer line holds something else
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("kind") != "memory":
        return None
    nodeid = clean_nodeid(data.get("nodeid"))
    before, after = size(data.get("before")), size(data.get("after"))
    if nodeid is None or before is None or after is None:
        return None
    peak = size(data.get("peak"))
    return Growth(nodeid, before, after, peak), peak


def plugin_peak(run_dir: Path, limit: int | None) -> int | None:
    """The highest peak the plugin read, never above ``limit`` (what the engine applies); None
    without a limit to bound it by."""
    if not limit:
        return None
    return read_growth(run_dir, top=0, limit=limit)[1]
