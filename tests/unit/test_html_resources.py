"""The HTML report's resources section: the SVG curve with its limit, the figures and warnings,
the memory growth table, hostile names escaped, the section bounded and inside the page."""

from __future__ import annotations

import re

from envctl.report.html import render_html
from envctl.report.html_model import HtmlResources, HtmlRun
from envctl.report.html_resources import GROWTH_CAP, POINTS_CAP, SERVICES_CAP, curve_svg, resources_html

MIB = 1 << 20
EVIL = '<script>alert(1)</script>"\x1b[2J'


def resources(**changes: object) -> HtmlResources:
    values: dict[str, object] = {
        "series": ((100.0, 100 * MIB), (110.0, 300 * MIB), (130.0, 200 * MIB)), "limit": 400 * MIB,
        "test": "memory 200 MiB (peak 300 MiB of 400 MiB, 75%) cpu 90% pids 12",
        "services": (("db", "memory 40 MiB"),), "warnings": (),
        "growth": (("t.py::test_big", 150 * MIB, 100 * MIB, 250 * MIB),)}
    values.update(changes)
    return HtmlResources(**values)  # type: ignore[arg-type]


def test_the_curve_is_scaled_to_the_limit_and_the_run() -> None:
    """x from the first sample to the last, y from 0 to 5% over the limit; the limit dashed."""
    svg = curve_svg(((100.0, 0), (130.0, 400 * MIB)), 400 * MIB)
    assert '<polyline points="64.0,160.0 720.0,7.6"' in svg
    assert '<line x1="64" x2="720" y1="7.6" y2="7.6" stroke="#cf222e" stroke-dasharray="5 4"/>' in svg
    assert ">limit 400 MiB</text>" in svg
    assert 'aria-label="the test container&#x27;s memory over 30s: peak 400 MiB of a 400 MiB limit"' in svg


def test_one_sample_is_no_curve() -> None:
    """A run shorter than two samples says so instead of drawing a dot."""
    assert curve_svg(((1.0, MIB),), None) == '<p class="muted">Too few samples for a curve.</p>'


def test_the_section_holds_the_figures_the_services_and_the_growth() -> None:
    """The status line, a row per service, a row per test that grew memory, warnings in red."""
    html = resources_html(resources(warnings=("the test container's memory peaked at 390 MiB",)))
    assert html.startswith('<section id="resources"><h2>Resources</h2><p>Test container: memory 200 MiB '
                           "(peak 300 MiB of 400 MiB, 75%) cpu 90% pids 12</p>"
                           '<p class="warn">Warning: the test container&#x27;s memory peaked at 390 MiB</p>')
    assert "<tr><td><code>db</code></td><td>memory 40 MiB</td></tr>" in html
    assert ("<tr><td><code>t.py::test_big</code></td><td>150 MiB</td><td>100 MiB</td><td>250 MiB</td></tr>"
            in html)
    assert resources_html(None) == ""


def test_hostile_names_are_escaped_and_the_lists_bounded() -> None:
    """A test's or a service's name never becomes markup; thousands of rows are cut to the caps."""
    html = resources_html(resources(
        series=tuple((float(i), i) for i in range(5000)),
        services=tuple((EVIL, EVIL) for _ in range(100)),
        growth=tuple((f"{EVIL}{i}", i, 0, i) for i in range(1000))))
    assert "<script>" not in html and "\x1b" not in html
    assert html.count("<tr><td><code>") == SERVICES_CAP + GROWTH_CAP
    assert len(re.search(r'points="([^"]*)"', html).group(1).split()) == POINTS_CAP  # type: ignore[union-attr]
    assert len(html.encode()) < 100_000


def test_the_page_shows_the_section_between_the_slowest_tests_and_the_timeline() -> None:
    """Inside the report page, before the timeline; a run never sampled has no section."""
    run = HtmlRun(run_id="20260101-000000-abcd", state="passed", exit_code=0, counts={"total": 0},
                  resources=resources())
    page = render_html(run, generated_at=0.0)
    assert page.index('<section id="resources">') < page.index('<section id="timeline">')
    assert '<section id="resources">' not in render_html(HtmlRun(run_id="r", state="passed", exit_code=0,
                                                                 counts={}), generated_at=0.0)
