"""The aggregated result of a run, rendered as markdown, JSON, CSV or passed through as JUnit."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from envctl.report.junit import Results, read_junit
from envctl.runs.state import RunRecord
from envctl.runs.store import JUNIT_FILE
from envctl.units import format_duration, format_size

FORMATS = ("md", "json", "csv", "junit")


def summary_data(run_dir: Path, record: RunRecord, results: Results | None = None) -> dict[str, Any]:
    results = results if results is not None else read_junit(run_dir / JUNIT_FILE)
    counts = asdict(record.counts)
    if results.cases:
        counts.update(total=len(results.cases), passed=results.count("passed"),
                      failed=results.count("failed"), errors=results.count("error"),
                      skipped=results.count("skipped"))
    return {
        "run": record.id,
        "state": record.state.value,
        "exit_code": record.exit_code,
        "message": record.message,
        "duration": record.duration,
        "counts": counts,
        "limits": asdict(record.limits),
        "failures": [{"test": c.nodeid, "outcome": c.outcome, "message": c.message,
                      "file": c.file, "line": c.line} for c in results.failures],
        "slowest": [{"test": c.nodeid, "duration": round(c.duration, 3)} for c in results.slowest(10)],
        "running_test": record.running_test,
        "log": str(run_dir / "output.log"),
        "junit": str(run_dir / JUNIT_FILE) if (run_dir / JUNIT_FILE).exists() else None,
    }


def render(run_dir: Path, record: RunRecord, fmt: str) -> str:
    if fmt == "junit":
        path = run_dir / JUNIT_FILE
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    data = summary_data(run_dir, record)
    if fmt == "json":
        return json.dumps(data, indent=2)
    if fmt == "csv":
        return _csv(run_dir)
    return markdown(data)


def _csv(run_dir: Path) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["test", "outcome", "duration", "message"])
    for case in read_junit(run_dir / JUNIT_FILE).cases:
        writer.writerow([case.nodeid, case.outcome, f"{case.duration:.4f}", case.message[:500]])
    return out.getvalue()


def markdown(data: dict[str, Any], *, max_failures: int = 50) -> str:
    counts = data["counts"]
    duration = format_duration(data["duration"]) if data["duration"] else "-"
    limits = data["limits"]
    lines = [
        f"## envctl run {data['run']}: {data['state']}",
        "",
        f"{counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
        f"{counts.get('errors', 0)} errors, {counts.get('skipped', 0)} skipped "
        f"of {counts.get('total') or 0} in {duration} (exit code {data['exit_code']})",
        "",
    ]
    if data["message"]:
        lines += [f"> {data['message']}", ""]
    lines += [f"Limits: memory {format_size(limits['memory'])}, cpus {limits['cpus']:g}, "
              f"pids {limits['pids']}", ""]
    if data["failures"]:
        lines += ["### Failures", ""]
        for failure in data["failures"][:max_failures]:
            message = " ".join(str(failure["message"]).split())[:300]
            lines.append(f"- `{failure['test']}` ({failure['outcome']}): {message}")
        if len(data["failures"]) > max_failures:
            lines.append(f"- ... and {len(data['failures']) - max_failures} more")
        lines.append("")
    if data["slowest"]:
        lines += ["### Slowest tests", "", "| test | seconds |", "|---|---|"]
        lines += [f"| `{s['test']}` | {s['duration']:.2f} |" for s in data["slowest"]]
        lines.append("")
    lines += [f"Log: `{data['log']}`" + (f"; JUnit: `{data['junit']}`" if data["junit"] else "")]
    return "\n".join(lines) + "\n"


def merged_render(results: Results, fmt: str, code: int) -> str:
    """A merged result (no single run record): md, json or csv."""
    counts = {"total": len(results.cases), "passed": results.count("passed"),
              "failed": results.count("failed"), "errors": results.count("error"),
              "skipped": results.count("skipped")}
    failures = [{"test": c.nodeid, "outcome": c.outcome, "message": c.message} for c in results.failures]
    slowest = [{"test": c.nodeid, "duration": round(c.duration, 3)} for c in results.slowest(10)]
    if fmt == "json":
        return json.dumps({"exit_code": code, "counts": counts, "failures": failures,
                           "slowest": slowest, "duration": results.duration}, indent=2) + "\n"
    if fmt in ("csv", "junit"):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["test", "outcome", "duration", "message"])
        for case in results.cases:
            writer.writerow([case.nodeid, case.outcome, f"{case.duration:.4f}", case.message[:500]])
        return out.getvalue()
    lines = [f"## envctl merged report: exit code {code}", "",
             f"{counts['passed']} passed, {counts['failed']} failed, {counts['errors']} errors, "
             f"{counts['skipped']} skipped of {counts['total']} "
             f"({format_duration(results.duration)} of test time)", ""]
    if failures:
        lines += ["### Failures", ""]
        lines += [f"- `{f['test']}` ({f['outcome']}): {' '.join(str(f['message']).split())[:300]}"
                  for f in failures[:200]]
        lines.append("")
    if slowest:
        lines += ["### Slowest tests", "", "| test | seconds |", "|---|---|"]
        lines += [f"| `{s['test']}` | {s['duration']:.2f} |" for s in slowest]
    return "\n".join(lines) + "\n"
