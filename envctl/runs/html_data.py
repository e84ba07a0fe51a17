"""An ``HtmlRun`` from a run directory: its record, JUnit (with the failure texts), the plugin's
events (when each test started and stopped) and the lines of its log written while a failure ran.

Everything read here comes from the test container and goes through ``exchange``'s readers (no
link followed, no FIFO, capped); the renderer escapes it.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from envctl.history.store import History, Outcome, command_key
from envctl.history.verdict import code_key, verdict
from envctl.report.html_model import HtmlCase, HtmlEnv, HtmlRun, HtmlShard, LogLine, TestHistory
from envctl.report.junit import Results, TestCase, read_junit
from envctl.runs.exchange import EVENTS_FILE, JUNIT_FILE, LINE_CAP, RESULT_CAP, clean_nodeid, open_result
from envctl.runs.logtimes import TimeIndex
from envctl.runs.resource_files import html_resources
from envctl.runs.results import run_flaky
from envctl.runs.state import RunRecord
from envctl.runs.store import OUTPUT_LOG

LOG_READ_CAP = 256 << 20  # bytes of output.log scanned for the failures' lines
LOG_KEEP_CAP = 20_000  # lines kept in all
LINE_TEXT_CAP = 2000
EPOCH_MAX = 1e10


@dataclass(frozen=True)
class Timing:
    start: float | None = None
    stop: float | None = None
    worker: str | None = None


def html_run_from(run_dir: Path, record: RunRecord, *, history: History | None = None,
                  environment: HtmlEnv | None = None, children: Sequence[RunRecord] = ()) -> HtmlRun:
    """The report's values for the run in ``run_dir``. ``children``: a --shards parent's shard
    records (loaded by the caller, in shard order); ``history``: loaded before this run was
    recorded into it, or after (``envctl.history.verdict`` reads both the same)."""
    parts: list[tuple[Path, str | None]] = [(run_dir.parent / child.id, child.shard or child.id)
                                            for child in children] or [(run_dir, None)]
    cases: list[HtmlCase] = []
    problems = []
    log: list[LogLine] = []
    for directory, shard in parts:
        results = _junit(directory)
        if results.problem:
            problems.append(results.problem)
        timings = _infer_lanes(read_timings(directory))
        shard_cases = [_case(c, timings.get(c.nodeid, Timing()), shard) for c in results.cases]
        cases += shard_cases
        windows = [(c.start, c.stop or c.start) for c in shard_cases
                   if c.outcome in ("failed", "error") and c.start is not None]
        log += read_log_lines(directory, windows)
    log.sort(key=lambda line: line.at if line.at is not None else -1.0)
    flaky = frozenset(f.nodeid for f in run_flaky(run_dir, record.children, limit=100_000)[0])
    counts: dict[str, int | None] = dict(asdict(record.counts))
    if cases:
        counts.update(total=max(len(cases), counts.get("total") or 0),
                      passed=sum(c.outcome == "passed" for c in cases),
                      failed=sum(c.outcome == "failed" for c in cases),
                      errors=sum(c.outcome == "error" for c in cases),
                      skipped=sum(c.outcome == "skipped" for c in cases))
    views: dict[str, TestHistory] = {}
    flaky_history: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    if history is not None:
        for case in cases:
            if case.nodeid in history.tests:
                p = history.durations(case.nodeid)
                views[case.nodeid] = TestHistory(history.last_outcomes(case.nodeid), *(p or (None, None)))
        found = verdict(history, outcomes(cases, flaky), run_id=record.id,
                        command=command_key(record.command), code=code_key(), before=record.finished_at)
        flaky_history, new = found.flaky, found.new
    return HtmlRun(
        run_id=record.id, state=record.state.value, exit_code=record.exit_code, counts=counts,
        duration=record.duration, started_at=record.started_at, message=record.message,
        limits=asdict(record.limits),
        environment=environment or HtmlEnv(project=record.project, service=record.service,
                                           engine=record.engine_name or engines_of(children)),
        command=tuple(record.command),
        shards=tuple(HtmlShard(c.id, c.shard or "?", c.state.value, c.exit_code, asdict(c.counts), c.duration,
                               c.engine_name) for c in children),
        cases=tuple(cases), flaky=flaky, log=tuple(log), history=views, flaky_history=flaky_history,
        new_failures=new, problem="; ".join(problems) or None, resources=html_resources(run_dir))


def engines_of(children: Sequence[RunRecord]) -> str:
    """The engines a parent's shards ran on, in shard order, each once ("" when none was named)."""
    return ", ".join(dict.fromkeys(c.engine_name for c in children if c.engine_name))


def outcomes(cases: Iterable[HtmlCase | TestCase], flaky: frozenset[str] = frozenset()) -> list[Outcome]:
    """What ``envctl.history.record`` takes, from a run's cases."""
    return [Outcome(c.nodeid, c.outcome, c.duration, c.nodeid in flaky) for c in cases]


def _junit(run_dir: Path) -> Results:
    handle = open_result(run_dir, JUNIT_FILE)
    if handle is None:
        return Results()
    with handle:
        return read_junit(handle, keep_text=True)


def _case(case: TestCase, timing: Timing, shard: str | None) -> HtmlCase:
    return HtmlCase(case.nodeid, case.outcome, case.duration, case.message,
                    case.body or "\n".join(case.tail), case.system_out, case.system_err,
                    timing.start, timing.stop, timing.worker, shard)


def _time(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and 0 < value < EPOCH_MAX:
        return float(value)
    return None


def read_timings(run_dir: Path) -> dict[str, Timing]:
    """Each test's start (its "start" event) and stop (its last "result" event), from the time
    the plugin stamps on every event ("t"), and its xdist worker when the events name one."""
    handle = open_result(run_dir, EVENTS_FILE)
    if handle is None:
        return {}
    starts: dict[str, float] = {}
    stops: dict[str, float] = {}
    workers: dict[str, str] = {}
    with handle:
        read = 0
        while read < RESULT_CAP and (raw := handle.readline(LINE_CAP)):
            read += len(raw)
            if b'"start"' not in raw and b'"result"' not in raw:
                continue
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if not isinstance(data, dict):
                continue
            nodeid, at = clean_nodeid(data.get("nodeid")), _time(data.get("t"))
            if nodeid is None or at is None:
                continue
            if data.get("kind") == "start":
                starts.setdefault(nodeid, at)
            elif data.get("kind") == "result":
                stops[nodeid] = at
            worker = data.get("worker")
            if isinstance(worker, str) and worker.isascii() and worker.isalnum() and len(worker) <= 16:
                workers[nodeid] = worker
    return {nodeid: Timing(start, max(start, stops.get(nodeid, start)), workers.get(nodeid))
            for nodeid, start in starts.items()}


def _infer_lanes(timings: dict[str, Timing]) -> dict[str, Timing]:
    """When the events name no worker (written by a plugin older than the worker field) but tests
    overlapped (xdist), the fewest lanes that hold them without overlap ("lane 1", "lane 2"...)."""
    if any(t.worker for t in timings.values()):
        return timings
    ordered = sorted(timings.items(), key=lambda item: item[1].start or 0.0)
    ends: list[float] = []
    lane: dict[str, int] = {}
    for nodeid, timing in ordered:
        start, stop = timing.start or 0.0, timing.stop or 0.0
        free = next((i for i, end in enumerate(ends) if end <= start), None)
        if free is None:
            ends.append(stop)
            free = len(ends) - 1
        else:
            ends[free] = stop
        lane[nodeid] = free
    if len(ends) <= 1:
        return timings
    return {nodeid: Timing(t.start, t.stop, f"lane {lane[nodeid] + 1}") for nodeid, t in timings.items()}


def read_log_lines(run_dir: Path, windows: Sequence[tuple[float, float]],
                   slack: float = 0.25) -> list[LogLine]:
    """The lines of the run's output.log that arrived within one of ``windows`` (start, stop),
    with their times; at most LOG_KEEP_CAP lines, each cut at LINE_TEXT_CAP characters.

    A line's time is when it ended (the chunk of its last byte arrived) if that is in a window,
    else when it began if that is: a line printed onto pytest's progress line (``test_a.py ..``,
    begun tests before, or xdist's dots) is the test's that finished it, and a partial line a
    failure left is still its own when a later test ends it.

    O((windows + lines) log windows): the windows are merged once into disjoint spans, and each
    line is placed among them by bisection."""
    if not windows:
        return []
    index = TimeIndex(run_dir)
    if not index.offsets:
        return []
    spans = Spans(windows, slack)
    kept: list[LogLine] = []
    try:
        handle = (run_dir / OUTPUT_LOG).open("rb")
    except OSError:
        return []
    with handle:
        offset = 0
        while offset < LOG_READ_CAP and len(kept) < LOG_KEEP_CAP and (raw := handle.readline(LINE_CAP)):
            begun, ended = index.time_at(offset), index.time_at(offset + len(raw) - 1)
            offset += len(raw)
            at = next((t for t in (ended, begun) if t is not None and t in spans), None)
            if at is not None:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                kept.append(LogLine(at, text[:LINE_TEXT_CAP]))
    return kept


class Spans:
    """Time windows (start, stop), each widened by ``slack`` after its stop, merged into disjoint
    sorted spans: whether a time is in any of them is one bisection, however many there are."""

    def __init__(self, windows: Iterable[tuple[float, float]], slack: float = 0.0) -> None:
        self.starts: list[float] = []
        self.stops: list[float] = []
        for start, stop in sorted((start, max(start, stop) + slack) for start, stop in windows):
            if self.stops and start <= self.stops[-1]:
                self.stops[-1] = max(self.stops[-1], stop)  # overlaps the span before: extend it
            else:
                self.starts.append(start)
                self.stops.append(stop)

    def __contains__(self, at: float) -> bool:
        found = bisect.bisect_right(self.starts, at) - 1  # the last span starting at or before ``at``
        return found >= 0 and at <= self.stops[found]
