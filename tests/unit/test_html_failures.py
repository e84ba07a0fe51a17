"""The failures section within its bytes: heads, then tracebacks, then output and log lines."""

from __future__ import annotations

import re

from envctl.report.html_failures import FAILURES_CAP, failures_html
from envctl.report.html_model import HtmlCase, HtmlRun, LogLine
from envctl.report.html_text import size

T0 = 1_700_000_000.0
LEFT_OUT = "Left out (the page is kept under 15 MB): "


def _run(cases: tuple[HtmlCase, ...], log: tuple[LogLine, ...] = ()) -> HtmlRun:
    return HtmlRun(run_id="r", state="failed", exit_code=1, counts={}, cases=cases, log=log)


def _failing(count: int = 3, traceback: int = 1000, output: int = 1000) -> tuple[HtmlCase, ...]:
    return tuple(HtmlCase(f"t.py::test_{i}", "failed", 1.0, message=f"boom {i}", traceback="t" * traceback,
                          system_out="o" * output) for i in range(count))


def _details(section: str) -> list[str]:
    return re.findall(r'<details class="failure".*?</details>', section)


def test_with_room_for_all_nothing_is_left_out() -> None:
    """A budget the section fits in shows every failure whole, and says nothing is left out."""
    cases = _failing()
    section, shown = failures_html(_run(cases), cases, 10**9)
    assert shown == 3
    shown_parts = [("<h4>Traceback</h4>" in d, "<h4>Captured stdout</h4>" in d, LEFT_OUT in d)
                   for d in _details(section)]
    assert shown_parts == [(True, True, False)] * 3


def test_one_byte_short_drops_the_last_output_first() -> None:
    """The last failure's captured output is the least important detail: it goes first, said."""
    cases = _failing()
    full, _ = failures_html(_run(cases), cases, 10**9)
    section, shown = failures_html(_run(cases), cases, size(full) - 1)
    assert size(section) <= size(full) - 1
    assert shown == 3
    assert [("<h4>Traceback</h4>" in d, "<h4>Captured stdout</h4>" in d) for d in _details(section)] == [
        (True, True), (True, True), (True, False)]
    said = f'<p class="muted left-out">{LEFT_OUT}captured output or log lines.</p></div></details>'
    assert _details(section)[2].endswith(said)


def test_tracebacks_come_before_any_output() -> None:
    """With room for some tracebacks only, no failure's output is shown before every traceback is."""
    cases = _failing(traceback=500, output=3000)
    bare = tuple(HtmlCase(c.nodeid, c.outcome, c.duration, message=c.message) for c in cases)
    heads, _ = failures_html(_run(bare), bare, 10**9)
    traceback_block = len("<h4>Traceback</h4><pre></pre>") + 500
    reserves = 300 + 3 * 100  # the "more failures" line, and a "left out" line for each
    budget = size(heads) + reserves + 2 * traceback_block + traceback_block // 2
    section, shown = failures_html(_run(cases), cases, budget)
    assert shown == 3
    assert [("<h4>Traceback</h4>" in d, "<h4>Captured stdout</h4>" in d) for d in _details(section)] == [
        (True, False), (True, False), (False, False)]
    assert f"{LEFT_OUT}traceback, captured output or log lines." in _details(section)[2]


def test_every_budget_is_kept_and_the_order_holds() -> None:
    """For budgets from the heading's size to the whole section's, the section fits, and an
    output is shown only when every shown failure's traceback is."""
    cases = _failing(count=5, traceback=700, output=900)
    full, _ = failures_html(_run(cases), cases, 10**9)
    for budget in range(600, size(full) + 1, 97):
        section, shown = failures_html(_run(cases), cases, budget)
        details = _details(section)
        assert size(section) <= budget and len(details) == shown
        if any("<h4>Captured stdout</h4>" in d for d in details):
            assert all("<h4>Traceback</h4>" in d for d in details)
        assert f"… and {5 - shown} more failures" in section if shown < 5 else "more failures" not in section


def test_past_the_cap_of_failures_the_rest_are_counted() -> None:
    """Past FAILURES_CAP failures the section says how many more there are."""
    cases = _failing(count=FAILURES_CAP + 1, traceback=0, output=0)
    section, shown = failures_html(_run(cases), cases, 10**9)
    assert shown == FAILURES_CAP
    assert section.startswith(f"<section id=\"failures\"><h2>Failures ({FAILURES_CAP + 1})</h2>")
    assert ('<p class="muted" id="failures-more">… and 1 more failures (the first 2000 are shown; the list '
            "of all tests below holds the failures first).</p></section>") in section


def test_log_lines_keep_the_last_ones_that_fit() -> None:
    """A failure's log lines are bounded in bytes: the oldest go, and the heading says so."""
    log = tuple(LogLine(T0 + i * 0.01, f"{i:02d}" + "<" * 1000) for i in range(80))
    cases = (HtmlCase("t.py::test", "failed", 1.0, start=T0, stop=T0 + 1),)
    section, _ = failures_html(_run(cases, log), cases, 10**9)
    assert "<h4>Log lines while it ran (80) (the last 11 shown)</h4>" in section
    assert "69&lt;" in section and "68&lt;" not in section and "79&lt;" in section
