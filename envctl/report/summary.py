"""Results rendered: a run's summary data as markdown, JUnit cases as CSV, a merged result."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import TYPE_CHECKING, Any

from envctl.history.verdict import MARK_WORDS
from envctl.report.junit import Results
from envctl.text import clean_text
from envctl.units import format_duration, format_size

if TYPE_CHECKING:
    from envctl.history.verdict import Verdict

FORMATS = ("md", "json", "csv", "junit", "html")
LIST_LIMIT = 50  # names a markdown list of tests (flaky, new failures) shows at least


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


def history_fields(verdict: Verdict | None) -> dict[str, Any] | None:
    """The report's ``history`` (JSON): the runs compared with, the last one of the same command,
    the failures new since it and the run's tests flaky over the history; None when there is no
    history to compare with (a merge of bare JUnit files)."""
    if verdict is None:
        return None
    return {"runs": verdict.runs, "previous_run": verdict.previous, "new_failures": list(verdict.new),
            "flaky": list(verdict.flaky), "problem": verdict.problem}


def with_history(data: dict[str, Any], verdict: Verdict | None) -> dict[str, Any]:
    """``data`` (a report's or a merge's) with its ``history`` and each failure's mark: "new",
    "old", "flaky" or None (the history cannot say)."""
    data["history"] = history_fields(verdict)
    for failure in data["failures"]:
        failure["history"] = verdict.mark(failure["test"]) if verdict is not None else None
    return data


def _failure_line(failure: dict[str, Any]) -> str:
    mark = MARK_WORDS.get(failure.get("history") or "")
    outcome = f"{failure['outcome']}, {mark}" if mark else failure["outcome"]
    return f"- {code_span(failure['test'])} ({outcome}): {_message(failure['message'])}"


def _listed(title: str, names: list[str], limit: int) -> list[str]:
    """A short section naming tests, with how many more there are; nothing when there are none."""
    if not names:
        return []
    lines = [f"### {title}", "", *(f"- {code_span(name)}" for name in names[:limit])]
    if len(names) > limit:
        lines.append(f"- ... and {len(names) - limit} more")
    return [*lines, ""]


def history_sections(history: dict[str, Any] | None, limit: int) -> list[str]:
    """The markdown sections of a report's ``history``, each only when it names a test."""
    if not history:
        return []
    previous = code_span(history["previous_run"]) if history["previous_run"] else "none"
    return (_listed(f"New failures (not failing in the last run of this command, {previous})",
                    history["new_failures"], limit)
            + _listed("Flaky over the history (failed and passed at the same code)", history["flaky"], limit))


def resources_lines(resources: dict[str, Any] | None) -> list[str]:
    """The report's resource use (``report.usage``): the test container's line, each service's,
    and a warning for each memory peak at 80% of its limit or more."""
    from envctl.report.usage import Resources, usage_line  # noqa: PLC0415

    found = Resources.from_json(resources)
    if found is None:
        return []
    lines = ["### Resources", ""]
    if found.test is not None:
        lines.append(f"- {found.tests_are.removeprefix('the ')}: {usage_line(found.test)}")
    lines += [f"- service {code_span(name)}: {usage_line(usage)}" for name, usage in found.services]
    warned = [f"> **Warning:** {text}" for text in found.warnings()]
    return [*lines, "", *warned, *([""] if warned else [])]


def growth_lines(growth: list[dict[str, Any]] | None) -> list[str]:
    """The tests during which the test container's memory grew the most, as a table."""
    from envctl.report.usage import binary_size  # noqa: PLC0415

    if not growth:
        return []
    lines = ["### Most memory growth", "", "| test | grew | at its start | at its end | new peak |",
             "|---|---|---|---|---|"]
    lines += [f"| {code_span(g['test'])} | {binary_size(g['grew'])} | {binary_size(g['before'])} | "
              f"{binary_size(g['after'])} | {binary_size(g['peak']) if g.get('peak') is not None else '-'} |"
              for g in growth]
    return [*lines, ""]


def shards_lines(shards: list[dict[str, Any]] | None) -> list[str]:
    """A parent's shards as a table: the engine column only when the shards were placed on
    engines, and a shard run again by --retry-infra says where it ran first and how that ended."""
    if not shards:
        return []
    engines = any(row.get("engine") for row in shards)
    column = (" engine |", "---|") if engines else ("", "")
    lines = ["### Shards", "", f"| shard | run |{column[0]} state | exit | results |",
             f"|---|---|{column[1]}---|---|---|"]
    for row in shards:
        engine = f" {code_span(row.get('engine') or '-')} |" if engines else ""
        again = "".join(f"; first ran as {code_span(e['run'])}"
                        + (f" on {code_span(e['engine'])}" if e.get("engine") else "") + f": {e['state']}"
                        for e in row.get("earlier") or [])
        exit_code = row["exit_code"] if row["exit_code"] is not None else "-"
        lines.append(f"| {row['shard'] or '?'} | {code_span(row['run'])} |{engine} {row['state']} | "
                     f"{exit_code} | {counts_text(row['counts'])}{again} |")
    return [*lines, ""]


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
    if data.get("engine"):
        lines += [f"Engine: {code_span(data['engine'])}", ""]
    lines += shards_lines(data.get("shards"))
    lines += resources_lines(data.get("resources"))
    if data["failures"]:
        lines += ["### Failures", ""]
        lines += [_failure_line(failure) for failure in data["failures"][:max_failures]]
        if len(data["failures"]) > max_failures:
            lines.append(f"- ... and {len(data['failures']) - max_failures} more")
        lines.append("")
    # The other lists show at least LIST_LIMIT names: `wait --ci` sets max_failures to the
    # failures' count, which is 0 in a run that passed with flaky tests.
    listed = max(max_failures, LIST_LIMIT)
    lines += history_sections(data.get("history"), listed)
    if data.get("flaky"):
        lines += ["### Flaky tests (passed after a rerun)", ""]
        lines += [f"- {code_span(f['test'])}" for f in data["flaky"][:listed]]
        if len(data["flaky"]) > listed:
            lines.append(f"- ... and {len(data['flaky']) - listed} more")
        lines.append("")
    if data["slowest"]:
        lines += ["### Slowest tests", "", "| test | seconds |", "|---|---|"]
        lines += [f"| {code_span(s['test'])} | {s['duration']:.2f} |" for s in data["slowest"]]
        lines.append("")
    lines += growth_lines(data.get("memory_growth"))
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


def merged_render(results: Results, fmt: str, code: int, verdict: Verdict | None = None) -> str:
    """A merged result (no single run record): md, json, csv, junit or html; ``verdict``: what
    the history says of it (None: nothing to compare with)."""
    counts = results.counts()
    failures = [{"test": c.nodeid, "outcome": c.outcome, "message": c.message} for c in results.failures]
    slowest = [{"test": c.nodeid, "duration": round(c.duration, 3)} for c in results.slowest(10)]
    data = with_history({"failures": failures}, verdict)
    if fmt == "json":
        return json.dumps({"schema": "envctl/merged/1", "exit_code": code, "counts": counts,
                           "failures": failures, "slowest": slowest, "duration": results.duration,
                           "problem": results.problem, "history": data["history"]},
                          indent=2) + "\n"
    if fmt == "junit":
        from envctl.report.merge import junit_text  # noqa: PLC0415

        return junit_text(results)
    if fmt == "csv":
        return cases_csv(results)
    if fmt == "html":
        from envctl.report.html import merged_html  # noqa: PLC0415

        return merged_html(results, code, verdict)
    lines = [f"## envctl merged report: exit code {code}", "",
             f"{counts_text(counts)} of {counts['total']} "
             f"({format_duration(results.duration)} of test time)", ""]
    if results.problem:
        lines += [f"> not a whole result: {code_span(results.problem, 4000)}", ""]
    if failures:
        lines += ["### Failures", ""]
        lines += [_failure_line(f) for f in failures[:200]]
        lines.append("")
    lines += history_sections(data["history"], 200)
    if slowest:
        lines += ["### Slowest tests", "", "| test | seconds |", "|---|---|"]
        lines += [f"| {code_span(s['test'])} | {s['duration']:.2f} |" for s in slowest]
    return "\n".join(lines) + "\n"
