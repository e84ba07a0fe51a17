"""`envctl report` and the summaries built on it: a run's record and results as one value, then
rendered (markdown, JSON, CSV, or the JUnit report passed through)."""

from __future__ import annotations

import codecs
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from envctl.report.failures import Failure
from envctl.report.junit import Results
from envctl.report.summary import FORMATS, cases_csv, markdown, with_history
from envctl.runs.exchange import JUNIT_COPY_CAP, JUNIT_FILE, open_result
from envctl.runs.progress import read_progress
from envctl.runs.resource_files import report_fields
from envctl.runs.results import run_flaky, run_results
from envctl.runs.state import Counts, RunRecord, load_shard

__all__ = ["FORMATS", "render", "summary_data"]


def summary_data(run_dir: Path, record: RunRecord, results: Results | None = None,
                 flaky: list[Failure] | None = None) -> dict[str, Any]:
    results = results if results is not None else run_results(run_dir)
    flaky = flaky if flaky is not None else run_flaky(run_dir, record.children)[0]
    counts = asdict(record.counts if record.state.terminal else _live_counts(run_dir, record))
    if results.cases:
        # JUnit says what ran, in pytest's numbers (a test that failed and then errored in
        # teardown is two results and one test); the collected total (from progress) says what
        # was to run.
        ran = results.counts()
        counts.update(ran, total=max(ran["total"], counts.get("total") or 0))
    junit = run_dir / JUNIT_FILE
    data = {
        "schema": "envctl/report/1",  # envctl/schemas/report.json
        "run": record.id,
        "state": record.state.value,
        "exit_code": record.exit_code,
        "message": record.message,
        "duration": record.duration,
        "counts": counts,
        "limits": asdict(record.limits),
        "failures": [{"test": c.nodeid, "outcome": c.outcome, "message": c.message,
                      "file": c.file, "line": c.line} for c in results.failures],
        "flaky": [{"test": f.nodeid, "file": f.file} for f in flaky],
        "slowest": [{"test": c.nodeid, "duration": round(c.duration, 3)} for c in results.slowest(10)],
        "running_test": record.running_test,
        "engine": record.engine_name,
        "shards": shard_rows(run_dir, record),
        "dependency_events": [asdict(e) for e in record.dependency_events],
        "log": str(run_dir / "output.log"),
        "junit": str(junit) if junit.exists() else None,
        **report_fields(run_dir),  # resources, memory_growth
    }
    from envctl.runs.history import report_verdict  # noqa: PLC0415  # only reports read the history

    return with_history(data, report_verdict(run_dir, record, results, (f.nodeid for f in flaky)))


def shard_rows(run_dir: Path, record: RunRecord) -> list[dict[str, Any]]:
    """A --shards parent's shards, in shard order: where each ran and how it ended, with the
    earlier tries of a shard run again by --retry-infra ([] for a run that is not a parent)."""
    earlier: dict[str | None, list[dict[str, Any]]] = {}
    for old_id in record.retried:
        old = load_shard(run_dir.parent / old_id, record)
        earlier.setdefault(old.shard, []).append(
            {"run": old.id, "engine": old.engine_name, "state": old.state.value, "message": old.message})
    rows = []
    for child_id in record.children:
        child = load_shard(run_dir.parent / child_id, record)
        rows.append({"shard": child.shard, "run": child.id, "engine": child.engine_name,
                     "state": child.state.value, "exit_code": child.exit_code,
                     "counts": asdict(child.counts), "duration": child.duration,
                     "earlier": earlier.get(child.shard, [])})
    return rows


def _live_counts(run_dir: Path, record: RunRecord) -> Counts:
    if record.children:
        from envctl.runs.shards import combined_progress  # noqa: PLC0415

        return combined_progress(record, run_dir.parent)[0].counts
    return read_progress(run_dir).counts


def render(run_dir: Path, record: RunRecord, fmt: str, out: TextIO | None = None) -> str:
    """The report as text; the JUnit report is not returned but streamed to ``out`` (stdout by
    default), since a 100k-test report is tens of MiB that need never be held whole."""
    if fmt == "html":
        return html_report(run_dir, record)
    if fmt == "junit":
        stream_junit(run_dir, sys.stdout if out is None else out)
        return ""
    if fmt == "csv":
        flaky = run_flaky(run_dir, record.children, limit=100_000)[0]
        return cases_csv(run_results(run_dir), flaky={f.nodeid for f in flaky})
    data = summary_data(run_dir, record)
    if fmt == "json":
        return json.dumps(data, indent=2)
    return markdown(data)


JUNIT_CHUNK = 1 << 20  # bytes of the JUnit report read, decoded and written at a time


def stream_junit(run_dir: Path, out: TextIO) -> int:
    """Copy the run's JUnit report to ``out`` a chunk at a time, decoded as UTF-8 (what is not
    is replaced, a character split between chunks included), up to the cap the exchange copies
    it under (the live file of a run still going may be growing); the bytes copied."""
    handle = open_result(run_dir, JUNIT_FILE)
    if handle is None:
        return 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    copied = 0
    with handle:
        while copied < JUNIT_COPY_CAP and (chunk := handle.read(min(JUNIT_CHUNK, JUNIT_COPY_CAP - copied))):
            copied += len(chunk)
            out.write(decoder.decode(chunk))
        out.write(decoder.decode(b"", final=True))
    return copied


def html_report(run_dir: Path, record: RunRecord) -> str:
    """The run's self-contained HTML report, with each test's history from beside the runs."""
    from envctl.history import load  # noqa: PLC0415
    from envctl.report.html import render_html  # noqa: PLC0415
    from envctl.runs.history import history_file_of  # noqa: PLC0415
    from envctl.runs.html_data import html_run_from  # noqa: PLC0415

    children = [load_shard(run_dir.parent / child, record) for child in record.children]
    history = load(history_file_of(run_dir))
    return render_html(html_run_from(run_dir, record, history=history, children=children))
