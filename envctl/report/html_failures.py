"""The failures section of the HTML report, within its share of the page's bytes.

Each failure is a <details> (it opens on a click, without JavaScript): its name and message,
then its traceback, captured output and the log lines written while it ran. Every text is cut
to a bound on its escaped bytes (escaping grows text up to sixfold), and the section as a whole
stays within the bytes it is given: the failures' heads come first, then their tracebacks, then
their output and log lines, each in the failures' order; what does not fit is left out and the
page says so, failure by failure. The counts stay exact.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from envctl.report.html_model import HtmlCase, HtmlRun, LogLine
from envctl.report.html_parts import strip_html
from envctl.report.html_text import esc, esc_fit, esc_line, size

FAILURES_CAP = 2000  # failures listed; past it the count says how many more
TRACEBACK_CHARS = 16_000  # of one traceback, its end
TRACEBACK_BYTES = 48_000  # of the page for it, escaped
OUTPUT_CHARS = 8000  # of each captured stream, its end
OUTPUT_BYTES = 24_000
MESSAGE_CHARS = 4000
MESSAGE_BYTES = 12_000
LOG_LINES_CAP = 80  # log lines shown with one failure (the last ones)
LOG_BYTES = 48_000  # of the page for them; the oldest go first
LOG_SLACK = 0.25  # seconds after a test's stop: the time index stamps a chunk when it arrives
CAP_WORDS = "the page is kept under 15 MB"
_SECTION_END = "</section>"
_MORE_RESERVE = 300  # bytes kept for the closing "… and N more failures" line
_TRACEBACK = "traceback"
_REST = "captured output or log lines"


@dataclass
class _Item:
    head: str  # from <details> to the message, inclusive
    traceback: str = ""
    rest: list[str] = field(default_factory=list)  # captured output, log lines
    left_out: list[str] = field(default_factory=list)  # what the budget left out, in words


def failures_html(run: HtmlRun, failing: Sequence[HtmlCase], budget: int) -> tuple[str, int]:
    """The failures section in at most ``budget`` bytes of the page (when even its heading
    fits); and how many failures it shows (each ``<details id="f<n>">``, n from 0)."""
    if not failing:
        return '<section id="failures"><h2>Failures (0)</h2><p class="muted">None.</p></section>', 0
    opening = f'<section id="failures"><h2>Failures ({len(failing)})</h2>'
    room = budget - size(opening) - size(_SECTION_END) - _MORE_RESERVE
    items: list[_Item] = []
    for index, case in enumerate(failing[:FAILURES_CAP]):
        item = _Item(_head(run, index, case))
        # A head is kept with room for its closing tags and the widest "left out" line.
        cost = size(item.head) + size(_tail([_TRACEBACK, _REST]))
        if cost > room:
            break
        room -= cost
        items.append(item)
    _add_details(run, failing, items, room)
    body = "".join(item.head + item.traceback + "".join(item.rest) + _tail(item.left_out) for item in items)
    more = ""
    if len(items) < len(failing):
        why = (f"the first {FAILURES_CAP} are shown" if len(items) == FAILURES_CAP
               else f"{len(items)} are shown: {CAP_WORDS}")
        more = (f'<p class="muted" id="failures-more">… and {len(failing) - len(items)} more failures '
                f"({why}; the list of all tests below holds the failures first).</p>")
    return opening + body + more + _SECTION_END, len(items)


def _add_details(run: HtmlRun, failing: Sequence[HtmlCase], items: list[_Item], room: int) -> int:
    """The shown failures' tracebacks first (they say why), then their output and log lines,
    each in the failures' order while ``room`` bytes last; the room left."""
    for item, case in zip(items, failing, strict=False):
        if case.traceback:
            text = esc_fit(case.traceback, TRACEBACK_CHARS, TRACEBACK_BYTES, end=True)
            block = f"<h4>Traceback</h4><pre>{text}</pre>"
            if size(block) <= room:
                item.traceback, room = block, room - size(block)
            else:
                item.left_out.append(_TRACEBACK)
    times = [line.at if line.at is not None else -1.0 for line in run.log]
    for item, case in zip(items, failing, strict=False):
        fitted = True
        for block in _rest(run, times, case):
            if size(block) <= room:
                item.rest.append(block)
                room -= size(block)
            else:
                fitted = False
        if not fitted:
            item.left_out.append(_REST)
    return room


def _head(run: HtmlRun, index: int, case: HtmlCase) -> str:
    shard = f" · shard {esc_line(case.shard, 20)}" if case.shard else ""
    history = run.history.get(case.nodeid)
    return (f'<details class="failure" id="f{index}"><summary><span class="o-{esc_line(case.outcome, 20)}">'
            f"{esc_line(case.outcome, 20)}</span> <code>{esc_line(case.nodeid)}</code>"
            f"{strip_html(history.strip if history else '')}"
            f'<div class="msg">{esc_line(case.message, 500) or "(no message)"}</div></summary>'
            f'<div class="body"><p class="muted">{case.duration:.3f}s{shard}'
            f"{' · ' + esc_line(case.worker, 40) if case.worker else ''}</p>"
            f"<h4>Message</h4><pre>{esc_fit(case.message, MESSAGE_CHARS, MESSAGE_BYTES)}</pre>")


def _tail(left_out: list[str]) -> str:
    said = (f'<p class="muted left-out">Left out ({CAP_WORDS}): {", ".join(left_out)}.</p>'
            if left_out else "")
    return said + "</div></details>"


def _rest(run: HtmlRun, times: list[float], case: HtmlCase) -> list[str]:
    """The captured output and log lines of ``case``, each block bounded."""
    blocks = [f"<h4>{title}</h4><pre>{esc_fit(text, OUTPUT_CHARS, OUTPUT_BYTES, end=True)}</pre>"
              for title, text in (("Captured stdout", case.system_out), ("Captured stderr", case.system_err))
              if text]
    logs = _log_lines(run.log, times, case)
    if logs:
        shown: list[str] = []
        room = LOG_BYTES
        for line in reversed(logs):  # the last lines first: the oldest go when they do not fit
            text = f'<span class="at">{_clock(line.at)}</span> {esc(line.text, 2000)}'
            if size(text) + 1 > room:
                break
            shown.append(text)
            room -= size(text) + 1
        cut = f" (the last {len(shown)} shown)" if len(shown) < len(logs) else ""
        blocks.append(f'<h4>Log lines while it ran ({len(logs)}){cut}</h4><pre class="log">'
                      + "\n".join(reversed(shown)) + "</pre>")
    return blocks


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
