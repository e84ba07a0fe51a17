"""The HTML report's resources section: the test container's memory over the run as a small
inline SVG curve (no script, nothing fetched; drawn with presentation attributes, which the
page's Content-Security-Policy allows), its last figures and the services', the 80% warnings,
and the tests during which memory grew the most. Bounded: at most POINTS_CAP points, SERVICES_CAP
services and GROWTH_CAP tests, each name cut (a few tens of KB at worst)."""

from __future__ import annotations

from envctl.report.html_model import HtmlResources
from envctl.report.html_text import esc_line
from envctl.report.usage import binary_size
from envctl.units import format_duration

POINTS_CAP = 600
SERVICES_CAP = 32
GROWTH_CAP = 20
WIDTH, HEIGHT = 720, 160  # the plot's user units; the SVG scales to the page's width
LEFT = 64  # room for the axis labels


def resources_html(resources: HtmlResources | None) -> str:
    if resources is None:
        return ""
    parts = ['<section id="resources"><h2>Resources</h2>']
    if resources.test:
        parts.append(f"<p>Test container: {esc_line(resources.test, 200)}</p>")
    parts += [f'<p class="warn">Warning: {esc_line(text, 300)}</p>'
              for text in resources.warnings[:SERVICES_CAP]]
    parts.append(curve_svg(resources.series[-POINTS_CAP:], resources.limit))
    if resources.services:
        rows = "".join(f"<tr><td><code>{esc_line(name, 100)}</code></td><td>{esc_line(line, 200)}</td></tr>"
                       for name, line in resources.services[:SERVICES_CAP])
        parts.append('<h3>Services</h3><table class="grid"><tr><th>service</th><th>use</th></tr>'
                     f"{rows}</table>")
    if resources.growth:
        rows = "".join(f"<tr><td><code>{esc_line(test)}</code></td><td>{binary_size(grew)}</td>"
                       f"<td>{binary_size(before)}</td><td>{binary_size(after)}</td></tr>"
                       for test, grew, before, after in resources.growth[:GROWTH_CAP])
        parts.append('<h3>Most memory growth</h3><table class="grid" id="growth"><tr><th>test</th>'
                     f"<th>grew</th><th>before</th><th>after</th></tr>{rows}</table>")
    return "".join(parts) + "</section>"


def curve_svg(series: tuple[tuple[float, int], ...], limit: int | None) -> str:
    """The memory curve, with the limit as a dashed line when it is in view; a sentence instead
    when there are fewer than two points."""
    if len(series) < 2:
        return '<p class="muted">Too few samples for a curve.</p>'
    start, end = series[0][0], series[-1][0]
    span = max(end - start, 1e-3)
    peak = max(memory for _at, memory in series)
    top = max(peak, limit or 0, 1) * 1.05
    plot = WIDTH - LEFT

    def x(at: float) -> str:
        return f"{LEFT + (at - start) / span * plot:.1f}"

    def y(memory: float) -> str:
        return f"{HEIGHT - memory / top * HEIGHT:.1f}"

    points = " ".join(f"{x(at)},{y(memory)}" for at, memory in series)
    limit_line = (f'<line x1="{LEFT}" x2="{WIDTH}" y1="{y(limit)}" y2="{y(limit)}" stroke="#cf222e" '
                  f'stroke-dasharray="5 4"/><text x="{WIDTH - 4}" y="{float(y(limit)) - 4:.1f}" '
                  f'text-anchor="end" fill="#cf222e" font-size="11">limit {binary_size(limit)}</text>'
                  if limit else "")
    label = (f"the test container's memory over {format_duration(span)}: peak {binary_size(peak)}"
             + (f" of a {binary_size(limit)} limit" if limit else ""))
    return (f'<svg id="memory-curve" viewBox="0 0 {WIDTH} {HEIGHT + 18}" width="100%" role="img" '
            f'aria-label="{esc_line(label)}"><title>{esc_line(label)}</title>'
            f'<line x1="{LEFT}" x2="{LEFT}" y1="0" y2="{HEIGHT}" stroke="#d0d7de"/>'
            f'<line x1="{LEFT}" x2="{WIDTH}" y1="{HEIGHT}" y2="{HEIGHT}" stroke="#d0d7de"/>'
            f'<text x="{LEFT - 4}" y="10" text-anchor="end" fill="#656d76" font-size="11">'
            f"{binary_size(int(top))}</text>"
            f'<text x="{LEFT - 4}" y="{HEIGHT}" text-anchor="end" fill="#656d76" font-size="11">0</text>'
            f'<text x="{WIDTH}" y="{HEIGHT + 14}" text-anchor="end" fill="#656d76" font-size="11">'
            f"{format_duration(span)}</text>{limit_line}"
            f'<polyline points="{points}" fill="none" stroke="#0969da" stroke-width="1.5"/></svg>')
