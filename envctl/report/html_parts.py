"""The static parts of the HTML report (what shows without JavaScript): the overview, the
slowest tests, the history strips and the timeline's lanes. The failures are in
``html_failures``, the JSON blob the script draws the rest from in ``html_blob``."""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence

from envctl.report.html_model import HtmlCase, HtmlRun
from envctl.report.html_text import esc, esc_line
from envctl.units import format_duration, format_size

SLOWEST = 20
LANES_CAP = 200  # timeline lanes; the tests of any further ones share the last (hostile worker names)
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
    # The engine column only when shards were placed on engines (--engines): one engine is the
    # run's own, said once above.
    engines = any(s.engine for s in run.shards)
    rows = "".join(
        f"<tr><td>{esc_line(s.label, 20)}</td><td><code>{esc_line(s.run_id, 100)}</code></td>"
        + (f"<td><code>{esc_line(s.engine or '-', 200)}</code></td>" if engines else "") +
        f'<td class="s-{esc_line(s.state, 40)}">{esc_line(s.state, 40)}</td>'
        f"<td>{esc_line(s.exit_code if s.exit_code is not None else '-')}</td>"
        f"<td>{_count(s.counts, 'passed')}</td><td>{_count(s.counts, 'failed')}</td>"
        f"<td>{_count(s.counts, 'errors')}</td><td>{_count(s.counts, 'skipped')}</td>"
        f"<td>{_seconds(s.duration)}</td></tr>" for s in run.shards)
    return ('<h3>Shards</h3><table class="grid" id="shards"><tr><th>shard</th><th>run</th>'
            + ("<th>engine</th>" if engines else "") + "<th>state</th>"
            "<th>exit</th><th>passed</th><th>failed</th><th>errors</th><th>skipped</th><th>duration</th>"
            f"</tr>{rows}</table>")


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
    """The lanes (sorted by name, numbers in order) and each case's lane index; past LANES_CAP
    lanes, the tests of the rest share one last lane that says how many it holds."""
    index: dict[str, int] = {}
    raw = [index.setdefault(lane_key(c), len(index)) for c in cases]
    names = sorted(index, key=_natural)
    order = {index[name]: i for i, name in enumerate(names)}
    if len(names) > LANES_CAP:
        order = {lane: min(at, LANES_CAP - 1) for lane, at in order.items()}
        names = [*names[:LANES_CAP - 1], f"{len(names) - LANES_CAP + 1} more lanes"]
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
