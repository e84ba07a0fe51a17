"""The static parts of the HTML report (what shows without JavaScript) and the JSON blob the
script draws the rest from."""

from __future__ import annotations

import bisect
import shlex
import time
from collections.abc import Mapping, Sequence

from envctl.report.html_model import HtmlCase, HtmlRun, LogLine
from envctl.report.html_text import esc, esc_line
from envctl.units import format_duration, format_size

FAILURES_CAP = 2000  # failures listed; past it the count says how many more
TEXT_BUDGET = 6 << 20  # characters of tracebacks, output and log lines in all (the 15 MB page cap)
TRACEBACK_CAP = 16_000
OUTPUT_CAP = 8000
LOG_LINES_CAP = 80  # log lines shown with one failure
LOG_SLACK = 0.25  # seconds after a test's stop: the time index stamps a chunk when it arrives
SLOWEST = 20

OUTCOME_LETTER = {"passed": "p", "failed": "f", "error": "e", "skipped": "s", "xfailed": "x", "xpassed": "X"}
_LETTER_CLASS = {"p": "passed", "f": "failed", "e": "error", "s": "skipped", "x": "xfailed",
                 "X": "xpassed", "r": "flaky", "-": "none"}
_LETTER_NAME = {"p": "passed", "f": "failed", "e": "error", "s": "skipped", "x": "xfailed",
                "X": "xpassed", "r": "passed after a rerun", "-": "not run"}


def strip_html(strip: str, last: int = 20) -> str:
    """A test's last outcomes as a row of small colored cells (oldest first), or nothing."""
    if not strip:
        return ""
    cells = "".join(f'<i class="o-{_LETTER_CLASS.get(letter, "none")}" '
                    f'title="{_LETTER_NAME.get(letter, "?")}">{esc_line(letter, 1)}</i>'
                    for letter in strip[-last:])
    return f' <span class="strip" title="last outcomes, oldest first">{cells}</span>'


def _seconds(value: float | None) -> str:
    return format_duration(value) if value else "-"


def _count(counts: Mapping[str, int | None], key: str) -> int:
    value = counts.get(key)
    return value if isinstance(value, int) else 0


def overview_html(run: HtmlRun) -> str:
    """The run at a glance: state, exit code, counts, duration, limits, environment, command, shards."""
    counts = run.counts
    cells = "".join(
        f'<div class="count c-{key}"><b>{_count(counts, key)}</b> {label}</div>'
        for key, label in (("passed", "passed"), ("failed", "failed"), ("errors", "errors"),
                           ("skipped", "skipped"), ("xfailed", "xfailed"), ("xpassed", "xpassed"),
                           ("flaky", "flaky"))
        if key in ("passed", "failed", "errors") or _count(counts, key))
    total = counts.get("total")
    ran = sum(_count(counts, k) for k in ("passed", "failed", "errors", "skipped", "xfailed", "xpassed"))
    not_run = (f'<p class="warn">{int(total) - ran} not run: stopped at {ran} of {total}</p>'
               if isinstance(total, int) and total > ran else "")
    limits = run.limits
    memory = limits.get("memory")
    limit_text = ", ".join(
        part for part in (
            f"memory {format_size(memory)}" if isinstance(memory, int) else "",
            f"cpus {limits['cpus']:g}" if isinstance(limits.get("cpus"), (int, float)) else "",
            f"pids {limits['pids']}" if isinstance(limits.get("pids"), int) else "",
        ) if part) or "-"
    env = run.environment
    services = "".join(f"<li><code>{esc_line(name, 100)}</code> <code>{esc_line(image, 300)}</code></li>"
                       for name, image in env.services[:100])
    started = (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.started_at))
               if run.started_at else "-")
    rows = [
        ("Exit code", esc_line(run.exit_code if run.exit_code is not None else "-")),
        ("Started", started),
        ("Duration", _seconds(run.duration)),
        ("Limits", esc_line(limit_text)),
        ("Compose project", f"<code>{esc_line(env.project or '-', 200)}</code>"),
        ("Test service", f"<code>{esc_line(env.service or '-', 200)}</code>"),
        ("Engine", esc_line(env.engine or "-", 200)),
        ("Command", f"<code>{esc_line(shlex.join(run.command), 2000)}</code>" if run.command else "-"),
    ]
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    message = f'<p class="message"><code>{esc(run.message, 2000)}</code></p>' if run.message else ""
    problem = (f'<p class="warn">Results not read whole: <code>{esc_line(run.problem, 300)}</code></p>'
               if run.problem else "")
    state = esc_line(run.state, 40)
    return (f'<header><h1>envctl run <code>{esc_line(run.run_id, 100)}</code> '
            f'<span class="state s-{state}" id="state">{state}</span></h1>'
            f'<div class="counts" id="counts">{cells}<div class="count">of '
            f"<b>{total if total is not None else ran}</b></div></div>{not_run}{message}{problem}</header>"
            f'<section id="overview"><table class="facts">{table}</table>'
            + (f"<h3>Services</h3><ul>{services}</ul>" if services else "")
            + _shards_html(run) + "</section>")


def _shards_html(run: HtmlRun) -> str:
    if not run.shards:
        return ""
    rows = "".join(
        f"<tr><td>{esc_line(s.label, 20)}</td><td><code>{esc_line(s.run_id, 100)}</code></td>"
        f'<td class="s-{esc_line(s.state, 40)}">{esc_line(s.state, 40)}</td>'
        f"<td>{esc_line(s.exit_code if s.exit_code is not None else '-')}</td>"
        f"<td>{_count(s.counts, 'passed')}</td><td>{_count(s.counts, 'failed')}</td>"
        f"<td>{_count(s.counts, 'errors')}</td><td>{_count(s.counts, 'skipped')}</td>"
        f"<td>{_seconds(s.duration)}</td></tr>" for s in run.shards)
    return ('<h3>Shards</h3><table class="grid" id="shards"><tr><th>shard</th><th>run</th><th>state</th>'
            "<th>exit</th><th>passed</th><th>failed</th><th>errors</th><th>skipped</th><th>duration</th>"
            f"</tr>{rows}</table>")


def failures_html(run: HtmlRun, failing: Sequence[HtmlCase]) -> str:
    """Each failure as a <details> (opens on a click, without JavaScript): message, traceback,
    captured output, and the log lines written while it ran."""
    if not failing:
        return '<section id="failures"><h2>Failures (0)</h2><p class="muted">None.</p></section>'
    times = [line.at if line.at is not None else -1.0 for line in run.log]
    budget = TEXT_BUDGET
    items = []
    for index, case in enumerate(failing[:FAILURES_CAP]):
        parts = []
        if budget > 0:
            for title, text, cap in (("Traceback", case.traceback, TRACEBACK_CAP),
                                     ("Captured stdout", case.system_out, OUTPUT_CAP),
                                     ("Captured stderr", case.system_err, OUTPUT_CAP)):
                if text:
                    shown = text[-cap:] if len(text) > cap else text  # a traceback ends where it failed
                    budget -= len(shown)
                    cut = f"(the first {len(text) - cap} characters cut)\n" if len(text) > cap else ""
                    parts.append(f"<h4>{title}</h4><pre>{esc(cut + shown)}</pre>")
            logs = _log_lines(run.log, times, case)
            if logs:
                budget -= sum(len(line.text) for line in logs)
                parts.append(f'<h4>Log lines while it ran ({len(logs)})</h4><pre class="log">'
                             + "\n".join(f'<span class="at">{_clock(line.at)}</span> {esc(line.text, 2000)}'
                                         for line in logs) + "</pre>")
        else:
            parts.append('<p class="muted">Details left out: the report holds enough text already.</p>')
        shard = f" · shard {esc_line(case.shard, 20)}" if case.shard else ""
        history = run.history.get(case.nodeid)
        items.append(
            f'<details class="failure" id="f{index}"><summary><span class="o-{esc_line(case.outcome, 20)}">'
            f"{esc_line(case.outcome, 20)}</span> <code>{esc_line(case.nodeid)}</code>"
            f"{strip_html(history.strip if history else '')}"
            f'<div class="msg">{esc_line(case.message, 500) or "(no message)"}</div></summary>'
            f'<div class="body"><p class="muted">{case.duration:.3f}s{shard}'
            f"{' · ' + esc_line(case.worker, 40) if case.worker else ''}</p>"
            f"<h4>Message</h4><pre>{esc(case.message, 4000)}</pre>{''.join(parts)}</div></details>")
    more = (f'<p class="muted">… and {len(failing) - FAILURES_CAP} more failures (in the list below).</p>'
            if len(failing) > FAILURES_CAP else "")
    return f'<section id="failures"><h2>Failures ({len(failing)})</h2>{"".join(items)}{more}</section>'


def _clock(at: float | None) -> str:
    if at is None:
        return "--:--:--.---"
    return time.strftime("%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}"


def _log_lines(log: Sequence[LogLine], times: list[float], case: HtmlCase) -> Sequence[LogLine]:
    """The log lines that arrived while ``case`` ran (the log is in arrival order)."""
    if case.start is None or case.stop is None or not log:
        return ()
    first = bisect.bisect_left(times, case.start)
    last = bisect.bisect_right(times, case.stop + LOG_SLACK)
    lines = log[first:last]
    return lines[-LOG_LINES_CAP:] if len(lines) > LOG_LINES_CAP else lines


def slowest_html(run: HtmlRun) -> str:
    slow = sorted(run.cases, key=lambda c: c.duration, reverse=True)[:SLOWEST]
    if not slow:
        return ""
    rows = []
    for case in slow:
        history = run.history.get(case.nodeid)
        p50 = f"{history.p50:.2f}" if history and history.p50 is not None else "-"
        p95 = f"{history.p95:.2f}" if history and history.p95 is not None else "-"
        strip = strip_html(history.strip if history else "")
        rows.append(f"<tr><td><code>{esc_line(case.nodeid)}</code></td><td>{case.duration:.2f}</td>"
                    f"<td>{p50}</td><td>{p95}</td><td>{strip}</td></tr>")
    return ('<section id="slowest"><h2>Slowest tests</h2><table class="grid"><tr><th>test</th>'
            "<th>seconds</th><th>p50</th><th>p95</th><th>last runs</th></tr>"
            f"{''.join(rows)}</table></section>")


def lane_key(case: HtmlCase) -> str:
    """The timeline lane a test ran in: its shard and its worker."""
    parts = [f"shard {case.shard}" if case.shard else "", case.worker or ""]
    return " · ".join(p for p in parts if p) or "main"


def lanes_of(cases: Sequence[HtmlCase]) -> tuple[list[str], list[int]]:
    """The lanes (sorted by name, numbers in order) and each case's lane index."""
    index: dict[str, int] = {}
    raw = [index.setdefault(lane_key(c), len(index)) for c in cases]
    names = sorted(index, key=_natural)
    order = {index[name]: i for i, name in enumerate(names)}
    return names, [order[i] for i in raw]


def _natural(name: str) -> list[object]:
    """"gw10" after "gw9"."""
    out: list[object] = []
    number = ""
    for char in name + " ":
        if char.isdigit():
            number += char
            continue
        if number:
            out.append((0, int(number), ""))
            number = ""
        out.append((1, 0, char))
    return out


def tests_blob(run: HtmlRun, lanes: list[str], lane_of: list[int]) -> dict[str, object]:
    """Every test, column by column (a list of names, a string of outcome letters, numbers in
    milliseconds): a 100,000-test run is a few MB and parses in a blink."""
    cases = run.cases
    starts = [c.start for c in cases if c.start is not None]
    t0 = min(starts) if starts else 0.0
    shards = sorted({c.shard for c in cases if c.shard})
    shard_index = {s: i for i, s in enumerate(shards)}
    flags = []
    new, history_flaky = set(run.new_failures), set(run.flaky_history)
    for c in cases:
        flags.append("r" if c.nodeid in run.flaky else "n" if c.nodeid in new
                     else "h" if c.nodeid in history_flaky else ".")
    history = run.history
    failing = [i for i, c in enumerate(cases) if c.outcome in ("failed", "error")][:FAILURES_CAP]
    return {
        "v": 1,
        "t0": round(t0, 3),
        "n": [c.nodeid for c in cases],
        "o": "".join(OUTCOME_LETTER.get(c.outcome, "-") for c in cases),
        "k": "".join(flags),
        "d": [round(c.duration * 1000) for c in cases],
        "s": [round((c.start - t0) * 1000) if c.start is not None else -1 for c in cases],
        "e": [round((c.stop - t0) * 1000) if c.stop is not None else -1 for c in cases],
        "l": lane_of,
        "lanes": lanes,
        "sh": [shard_index[c.shard] if c.shard else -1 for c in cases],
        "shards": shards,
        "m": {str(i): cases[i].message[:300] for i in failing},  # the rest is in the static list
        "f": {str(i): n for n, i in enumerate(failing)},  # case index -> its <details id="f<n>">
        "h": [history[c.nodeid].strip[-20:] if c.nodeid in history else "" for c in cases] if history else [],
        "p": [_percentiles(run, c.nodeid) for c in cases] if history else [],
    }


def _percentiles(run: HtmlRun, nodeid: str) -> list[int] | int:
    found = run.history.get(nodeid)
    if found is None or found.p50 is None or found.p95 is None:
        return 0
    return [round(found.p50 * 1000), round(found.p95 * 1000)]
