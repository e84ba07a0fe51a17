"""Results rendered: a run's summary data as markdown, JUnit cases as CSV, a merged result."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from envctl.report.junit import Results
from envctl.text import clean_text
from envctl.units import format_duration, format_size

FORMATS = ("md", "json", "csv", "junit", "html")


def code_span(text: object, limit: int = 1000) -> str:
    """``text`` as a markdown code span on one line, whatever it holds (backticks, pipes): what
    the test container wrote (names, messages) never becomes a link, an image or HTML."""
    return "`" + clean_text(text, limit).replace("`", "'").replace("|", "\\|") + "`"


def _message(text: object) -> str:
    """A failure's message on one line, fenced (it comes from the test container)."""
    return code_span(" ".join(str(text).split()), 300)


RAN = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")  # pytest's categories of a result


def _not_run(counts: dict[str, Any]) -> str:
    """How far a run got, when it stopped before the end (a cancelled job, a timeout)."""
    ran = sum(int(counts.get(k) or 0) for k in RAN)
    total = int(counts.get("total") or 0)
    return f" ({total - ran} not run: stopped at {ran} of {total})" if total > ran else ""


def counts_text(counts: dict[str, Any]) -> str:
    """pytest's numbers in its words: passed, failed, errors and skipped always; xfailed,
    xpassed, deselected (when known) and flaky (passed after a rerun, among the passed) when
    there are any."""
    always = ("passed", "failed", "errors", "skipped")
    text = ", ".join(f"{int(counts.get(key) or 0)} {key}" for key in always)
    for key in ("xfailed", "xpassed", "deselected", "flaky"):
        if counts.get(key):
            text += f", {int(counts[key])} {key}"
    return text


def markdown(data: dict[str, Any], *, max_failures: int = 50) -> str:
    counts = data["counts"]
    duration = format_duration(data["duration"]) if data["duration"] else "-"
    limits = data["limits"]
    lines = [
        f"## envctl run {data['run']}: {data['state']}",
        "",
        f"{counts_text(counts)} of {counts.get('total') or 0}{_not_run(counts)} in {duration} "
        f"(exit code {data['exit_code']})",
        "",
    ]
    if data["message"]:
        lines += [f"> {code_span(data['message'])}", ""]
    if data.get("dependency_events"):
        lines += ["### The environment during the run", ""]
        for event in data["dependency_events"]:
            at = time.strftime("%H:%M:%S", time.gmtime(event["at"]))
            exit_code = f" (exit {event['exit_code']})" if event.get("exit_code") is not None else ""
            during = f", while {code_span(event['running_test'])} ran" if event.get("running_test") else ""
            verb = "was OOM-killed" if event["action"] == "oom" else "died"
            lines.append(f"- {at} UTC: service {code_span(event['service'])} {verb}{exit_code}{during}")
        lines.append("")
    lines += [f"Limits: memory {format_size(limits['memory'])}, cpus {limits['cpus']:g}, "
              f"pids {limits['pids']}", ""]
    if data["failures"]:
        lines += ["### Failures", ""]
        for failure in data["failures"][:max_failures]:
            test, outcome = code_span(failure["test"]), failure["outcome"]
            lines.append(f"- {test} ({outcome}): {_message(failure['message'])}")
        if len(data["failures"]) > max_failures:
            lines.append(f"- ... and {len(data['failures']) - max_failures} more")
        lines.append("")
    if data.get("flaky"):
        lines += ["### Flaky tests (passed after a rerun)", ""]
        lines += [f"- {code_span(f['test'])}" for f in data["flaky"][:max_failures]]
        if len(data["flaky"]) > max_failures:
            lines.append(f"- ... and {len(data['flaky']) - max_failures} more")
        lines.append("")
    if data["slowest"]:
        lines += ["### Slowest tests", "", "| test | seconds |", "|---|---|"]
        lines += [f"| {code_span(s['test'])} | {s['duration']:.2f} |" for s in data["slowest"]]
        lines.append("")
    lines += [f"Log: `{data['log']}`" + (f"; JUnit: `{data['junit']}`" if data["junit"] else "")]
    return "\n".join(lines) + "\n"


def cases_csv(results: Results, flaky: set[str] | frozenset[str] = frozenset()) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["test", "outcome", "duration", "message", "flaky"])
    for case in results.cases:
        writer.writerow([case.nodeid, case.outcome, f"{case.duration:.4f}", case.message[:500],
                         "true" if case.nodeid in flaky else "false"])
    return out.getvalue()


def merged_render(results: Results, fmt: str, code: int) -> str:
    """A merged result (no single run record): md, json or csv."""
    counts = results.counts()
    failures = [{"test": c.nodeid, "outcome": c.outcome, "message": c.message} for c in results.failures]
    slowest = [{"test": c.nodeid, "duration": round(c.duration, 3)} for c in results.slowest(10)]
    if fmt == "json":
        return json.dumps({"schema": "envctl/merged/1", "exit_code": code, "counts": counts,
                           "failures": failures, "slowest": slowest, "duration": results.duration,
                           "problem": results.problem},
                          indent=2) + "\n"
    if fmt == "junit":
        from envctl.report.merge import junit_text  # noqa: PLC0415

        return junit_text(results)
    if fmt == "csv":
        return cases_csv(results)
    if fmt == "html":
        from envctl.report.html import merged_html  # noqa: PLC0415

        return merged_html(results, code)
    lines = [f"## envctl merged report: exit code {code}", "",
             f"{counts_text(counts)} of {counts['total']} "
             f"({format_duration(results.duration)} of test time)", ""]
    if results.problem:
        lines += [f"> not a whole result: {code_span(results.problem, 4000)}", ""]
    if failures:
        lines += ["### Failures", ""]
        lines += [f"- {code_span(f['test'])} ({f['outcome']}): {_message(f['message'])}"
                  for f in failures[:200]]
        lines.append("")
    if slowest:
        lines += ["### Slowest tests", "", "| test | seconds |", "|---|---|"]
        lines += [f"| {code_span(s['test'])} | {s['duration']:.2f} |" for s in slowest]
    return "\n".join(lines) + "\n"
