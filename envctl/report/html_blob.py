"""The JSON blob of the HTML report: every test, column by column, that the page's script draws
the full list and the timeline from, within its share of the page's bytes.

A 100,000-test run is ~12 MB of it. Past its share (a bigger suite, hostile names of 1,000
``<`` each, which JSON in a <script> writes as 6 bytes apiece), the blob holds the tests that
matter most (failures, then flaky and new ones, then the rest in order) and the page says how
many it holds; the counts elsewhere stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence

from envctl.report.html_failures import FAILURES_CAP
from envctl.report.html_model import HtmlCase, HtmlRun
from envctl.report.html_text import script_json, size

OUTCOME_LETTER = {"passed": "p", "failed": "f", "error": "e", "skipped": "s", "xfailed": "x", "xpassed": "X"}
MESSAGE_CHARS = 300  # of a failure's message in the blob (its whole text is in the static list)


def tests_blob(run: HtmlRun, lanes: list[str], lane_of: list[int], details: int,
               indices: Sequence[int] | None = None) -> dict[str, object]:
    """The tests at ``indices`` of ``run.cases`` (all by default), column by column (a list of
    names, a string of outcome letters, numbers in milliseconds). ``details``: how many of the
    failures have their <details id="f<n>"> on the page (the first ones)."""
    every = run.cases
    chosen = range(len(every)) if indices is None else indices
    cases = [every[i] for i in chosen]
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
    number = _failure_numbers(every)
    failing = [(at, number[i]) for at, i in enumerate(chosen) if i in number]
    return {
        "v": 1,
        "t0": round(t0, 3),
        "n": [c.nodeid for c in cases],
        "o": "".join(OUTCOME_LETTER.get(c.outcome, "-") for c in cases),
        "k": "".join(flags),
        "d": [round(c.duration * 1000) for c in cases],
        "s": [round((c.start - t0) * 1000) if c.start is not None else -1 for c in cases],
        "e": [round((c.stop - t0) * 1000) if c.stop is not None else -1 for c in cases],
        "l": [lane_of[i] for i in chosen],
        "lanes": lanes,
        "sh": [shard_index[c.shard] if c.shard else -1 for c in cases],
        "shards": shards,
        "m": {str(at): cases[at].message[:MESSAGE_CHARS] for at, n in failing if n < FAILURES_CAP},
        "f": {str(at): n for at, n in failing if n < details},  # index -> its <details id="f<n>">
        "h": [history[c.nodeid].strip[-20:] if c.nodeid in history else "" for c in cases] if history else [],
        "p": [_percentiles(run, c.nodeid) for c in cases] if history else [],
    }


def _failure_numbers(cases: Sequence[HtmlCase]) -> dict[int, int]:
    """Each failing case's index -> its number among the failures (its <details id>)."""
    failing = [i for i, c in enumerate(cases) if c.outcome in ("failed", "error")]
    return {i: n for n, i in enumerate(failing)}


def _percentiles(run: HtmlRun, nodeid: str) -> list[int] | int:
    found = run.history.get(nodeid)
    if found is None or found.p50 is None or found.p95 is None:
        return 0
    return [round(found.p50 * 1000), round(found.p95 * 1000)]


def blob_text(run: HtmlRun, lanes: list[str], lane_of: list[int], details: int,
              budget: int) -> tuple[str, int]:
    """The blob as script-safe JSON in at most ``budget`` bytes (when even an empty one fits),
    and how many tests it holds."""
    blob = tests_blob(run, lanes, lane_of, details)
    text = script_json(blob)
    if size(text) <= budget:
        return text, len(run.cases)
    # Too big: keep what fits, the tests that matter first, each costed by its own row's JSON
    # (an upper bound of what it adds to the columns).
    empty = size(script_json(tests_blob(run, lanes, lane_of, details, ())))
    rank = _ranks(run)
    order = sorted(range(len(run.cases)), key=rank.__getitem__)
    costs = _row_costs(blob, len(run.cases))
    room, kept = budget - empty, []
    for i in order:
        if costs[i] > room:
            break
        room -= costs[i]
        kept.append(i)
    while True:  # the costs bound the blob from above: one round, in practice
        kept.sort()
        text = script_json(tests_blob(run, lanes, lane_of, details, kept))
        if size(text) <= budget or not kept:
            return text, len(kept)
        kept = sorted(kept, key=rank.__getitem__)[:len(kept) * 9 // 10]


def _ranks(run: HtmlRun) -> list[int]:
    """Which tests the blob keeps first: failures (0), then flaky ones and unexpected passes (1),
    then the rest (2)."""
    flaky = run.flaky | set(run.flaky_history)
    return [0 if c.outcome in ("failed", "error") else 1 if c.nodeid in flaky or c.outcome == "xpassed" else 2
            for c in run.cases]


def _row_costs(blob: dict[str, object], count: int) -> list[int]:
    """Each test's bytes in ``blob`` (of every test), from above: its values as one JSON row
    (its brackets and commas outweigh the columns' commas), its two letters, and the keys of
    its entries in "m" and "f" (``"123":`` each, and "f"'s number)."""
    columns = [blob[key] for key in ("n", "d", "s", "e", "l", "sh", "h", "p")]
    messages: dict[str, str] = blob["m"]  # type: ignore[assignment]  # built by tests_blob
    details: dict[str, int] = blob["f"]  # type: ignore[assignment]
    costs = []
    for i in range(count):
        key = str(i)
        row = [column[i] for column in columns if isinstance(column, list) and column]
        message = messages.get(key)
        cost = size(script_json([*row, message] if message is not None else row)) + 2
        if message is not None:
            cost += len(key) + 3
        if key in details:
            cost += len(key) + len(str(details[key])) + 4
        costs.append(cost)
    return costs
