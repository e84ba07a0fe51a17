"""`envctl report --format html`: one self-contained page (styles, script and data inline, no
request of any kind) from an ``HtmlRun``.

Without JavaScript the page shows what matters first: the state, the counts, the failures (each
a <details> with its message, traceback, output and the log lines written while it ran), the
slowest and flaky tests, as static HTML. With JavaScript it adds the timeline and the full list
of tests (filtered, sorted, and drawn only as far as it is scrolled), read from one JSON blob,
so a 100,000-test run opens at once.

The page never passes PAGE_CAP (15 MB) of UTF-8, whatever the run holds: each part is measured
as it is written (escaped, so a `<` counts as the four bytes of `&lt;`). The overview, the lists
and the timeline's lanes are bounded (a few MB at the very worst); the failures get at most
FAILURES_BUDGET of the rest (``html_failures``) and the tests' blob what is left
(``html_blob``). What is left out is said where it would have been; the counts stay exact.
"""

from __future__ import annotations

import base64
import hashlib
import time
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from envctl.report.html_blob import blob_text, tests_blob
from envctl.report.html_failures import CAP_WORDS, failures_html
from envctl.report.html_model import HtmlCase, HtmlRun
from envctl.report.html_parts import lanes_of, overview_html, slowest_html, strip_html
from envctl.report.html_resources import resources_html
from envctl.report.html_text import esc, esc_line, script_json, size, well_formed
from envctl.report.junit import Results

if TYPE_CHECKING:
    from envctl.history.verdict import Verdict

PAGE_CAP = 15_000_000  # bytes of the whole page
FAILURES_BUDGET = 6_000_000  # of them for the failures section at most; the tests' blob gets the rest
_NOTE_RESERVE = 400  # bytes kept for the line that says the blob holds only some of the tests


@lru_cache(maxsize=4)
def asset(name: str) -> str:
    """A file of html_assets/ (shipped in the wheel with the envctl package)."""
    return resources.files("envctl.report").joinpath("html_assets").joinpath(name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def csp(script: str, style: str) -> str:
    """The page's Content-Security-Policy: nothing may be fetched (default-src 'none', no form
    target, no base), and only envctl's own script and style, by hash, may run: were an escape
    ever missed, injected markup could still neither run script nor reach the network."""
    return (f"default-src 'none'; script-src {_hash(script)}; style-src {_hash(style)}; "
            "img-src data:; base-uri 'none'; form-action 'none'")


def render_html(run: HtmlRun, *, generated_at: float | None = None, page_cap: int = PAGE_CAP) -> str:
    """The whole report page for ``run`` (a pure function of its values), in at most
    ``page_cap`` bytes of UTF-8 (when its bounded parts alone fit, as they do in 15 MB)."""
    script, style = asset("report.js"), asset("report.css")
    cases = run.cases
    failing = [c for c in cases if c.outcome in ("failed", "error")]
    lanes, lane_of = lanes_of(cases)
    stamp = generated_at if generated_at is not None else time.time()
    head = "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{csp(script, style)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>envctl run {esc_line(run.run_id, 100)}: {esc_line(run.state, 40)}</title>",
        f"<style>{style}</style></head><body>",
        overview_html(run),
        _lists_html(run),
    ])
    middle = (slowest_html(run) + resources_html(run.resources)
              + _timeline_html(lanes, any(c.start is not None for c in cases)))
    tail = (f'<footer>envctl report, written {time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))} UTC'
            '</footer><script type="application/json" id="envctl-data">')
    end = f"</script><script>{script}</script></body></html>\n"
    room = page_cap - _NOTE_RESERVE - sum(size(part) for part in (
        head, middle, _tests_html(len(cases), len(cases)), tail, end))
    empty = size(script_json(tests_blob(run, lanes, lane_of, 0, ())))
    failures, shown = failures_html(run, failing, min(FAILURES_BUDGET, room - empty))
    blob, kept = blob_text(run, lanes, lane_of, shown, room - size(failures))
    return well_formed("".join([head, failures, middle, _tests_html(len(cases), kept), tail, blob, end]))


def _lists_html(run: HtmlRun) -> str:
    """New failures and flaky tests: short static lists (names only), each capped."""
    parts: list[str] = []
    for title, names, css in (
        ("New failures (against the last run of the same command)", run.new_failures, "new"),
        ("Flaky in this run (passed after a rerun)", sorted(run.flaky), "flaky"),
        ("Flaky over the history (failed and passed at the same code)", run.flaky_history, "flaky"),
    ):
        if not names:
            continue
        items = []
        for name in list(names)[:LIST_CAP]:
            strip = run.history.get(name)
            items.append(f"<li><code>{esc_line(name)}</code>{strip_html(strip.strip if strip else '')}</li>")
        more = f"<li>… and {len(names) - LIST_CAP} more</li>" if len(names) > LIST_CAP else ""
        parts.append(f'<section class="{css}"><h2>{title} ({len(names)})</h2><ul>{"".join(items)}{more}'
                     "</ul></section>")
    return "".join(parts)


LIST_CAP = 200


def _timeline_html(lanes: list[str], timed: bool) -> str:
    if not timed:
        return ('<section id="timeline"><h2>Timeline</h2><p class="muted">No start and stop times: '
                "the run's events carry none.</p></section>")
    rows = "".join(f'<div class="lane" data-lane="{i}"><span class="lane-name">{esc_line(name, 80)}</span>'
                   f'<canvas class="lane-bars" height="18"></canvas></div>' for i, name in enumerate(lanes))
    return (f'<section id="timeline"><h2>Timeline ({len(lanes)} lanes)</h2>'
            '<noscript><p class="muted">The timeline is drawn by JavaScript.</p></noscript>'
            f'<div id="lanes">{rows}</div><div id="axis" class="muted"></div>'
            '<div id="tip" class="muted" aria-live="polite"></div></section>')


def _tests_html(total: int, kept: int) -> str:
    cut = (f'<p class="warn" id="tests-cut">The list and the timeline hold {kept} of {total} tests, '
           f"failures first ({CAP_WORDS}); the counts above are exact.</p>" if kept < total else "")
    return (f'<section id="tests"><h2>All tests ({total})</h2>{cut}'
            '<noscript><p class="muted">The full list is drawn by JavaScript; the failures are above.'
            "</p></noscript>"
            '<div id="filters" hidden>'
            '<input id="q" type="search" placeholder="name contains…" aria-label="filter by name">'
            '<input id="qfile" type="search" placeholder="file contains…" aria-label="filter by file">'
            '<select id="qout" aria-label="filter by outcome"><option value="">any outcome</option>'
            + "".join(f'<option value="{o}">{o}</option>'
                      for o in ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "flaky"))
            + '</select><select id="qshard" aria-label="filter by shard"><option value="">any shard</option>'
            '</select><span id="shown" class="muted"></span></div>'
            '<div id="head" class="row head" hidden>'
            '<button data-sort="n">test</button><button data-sort="o">outcome</button>'
            '<button data-sort="d">seconds</button><button data-sort="p">p50 / p95</button>'
            '<span>last runs</span><button data-sort="l">lane</button>'
            '<button data-sort="s">start</button></div>'
            '<div id="rows" hidden><div id="spacer"></div></div><div id="detail"></div></section>')


__all__ = ["HtmlCase", "HtmlRun", "asset", "csp", "esc", "render_html", "strip_html"]


def merged_html(results: Results, code: int, verdict: Verdict | None = None) -> str:
    """`report merge --format html`: the merged cases as one report (no run record, no log);
    ``verdict``: the history's new failures and flaky tests, when there is one."""
    cases = tuple(HtmlCase(nodeid=c.nodeid, outcome=c.outcome, duration=c.duration, message=c.message,
                           traceback=c.body or "\n".join(c.tail), system_out=c.system_out,
                           system_err=c.system_err) for c in results.cases)
    counts = {"total": len(results.cases), "passed": results.count("passed"),
              "failed": results.count("failed"), "errors": results.count("error"),
              "skipped": results.count("skipped")}
    state = {0: "passed", 1: "failed", 5: "no-tests"}.get(code, "error")
    return render_html(HtmlRun(run_id="merged", state=state, exit_code=code, counts=counts,
                               duration=results.duration, cases=cases, problem=results.problem,
                               new_failures=verdict.new if verdict else (),
                               flaky_history=verdict.flaky if verdict else ()))
