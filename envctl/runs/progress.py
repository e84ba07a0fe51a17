"""Progress of a run: read from the plugin's small snapshot, or parsed from pytest's output."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from envctl.runs.exchange import read_snapshot
from envctl.runs.logfile import tail_lines
from envctl.runs.state import Counts
from envctl.runs.store import OUTPUT_LOG

_SUMMARY = re.compile(r"^=+ (?P<body>.*?) in (?P<secs>[\d.]+)s(?: \([^)]*\))? =+$")
# Numbers the test container prints are bounded (at most 9 digits): a line such as "collected
# <5000 digits> items" must not reach int() (Python refuses over 4300 digits) nor count as one.
_SUMMARY_PART = re.compile(
    r"(?<![0-9])([0-9]{1,9}) (passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?)")
# pytest's header: "collected 6164 items / 956 deselected / 3 skipped / 5208 selected" (errors
# and skips there are collectors', each one more result to come; deselected ones never run).
_COLLECTED = re.compile(r"collected ([0-9]{1,9}) items?\b((?: / [0-9]{1,9} [a-z]+)*)")
_COLLECTED_PART = re.compile(r" / ([0-9]{1,9}) ([a-z]+)")
_PERCENT = re.compile(r"\[\s*(\d{1,3})%\]\s*$")


@dataclass(frozen=True)
class Progress:
    """Counts so far, the test running now, and the pace."""

    counts: Counts
    current: str | None
    started: float | None
    updated: float | None
    source: str  # "plugin", "output" or "none"
    running: tuple[str, ...] = ()  # every test running now (one per xdist worker)
    flaky_tests: tuple[str, ...] = ()  # passed after a rerun (the first 50)

    @property
    def rate(self) -> float | None:
        """Tests per second so far."""
        if not self.started or not self.counts.done:
            return None
        elapsed = (self.updated or time.time()) - self.started
        rate = self.counts.done / elapsed if elapsed > 0 else None
        return rate if rate is not None and math.isfinite(rate) and rate > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left at the current pace."""
        rate = self.rate
        if rate is None or self.counts.total is None:
            return None
        eta = max(0.0, (self.counts.total - self.counts.done) / rate)
        return eta if math.isfinite(eta) else None

    @property
    def fraction(self) -> float | None:
        if not self.counts.total:
            return None
        return min(1.0, self.counts.done / self.counts.total)


def read_progress(run_dir: Path) -> Progress:
    """The plugin's snapshot when there is one, else what pytest's output tail says."""
    snapshot = read_snapshot(run_dir)
    if snapshot is not None:
        counts = Counts(**snapshot.counts)  # type: ignore[arg-type]  # validated: ints, total may be None
        return Progress(counts, snapshot.current, snapshot.started, snapshot.updated, "plugin",
                        snapshot.running, snapshot.flaky_tests)
    tail = tail_lines(run_dir, 200)
    parsed = counts_from_output(tail) or counts_from_percent(head_text(run_dir), tail)
    if parsed is not None:
        return Progress(parsed, None, None, None, "output")
    return Progress(Counts(), None, None, None, "none")


def head_text(run_dir: Path, max_bytes: int = 64 * 1024) -> str:
    """The start of the output log (where pytest says how many tests it collected)."""
    try:
        with (run_dir / OUTPUT_LOG).open("rb") as handle:
            return handle.read(max_bytes).decode("utf-8", errors="replace")
    except OSError:
        return ""


def collected_total(text: str) -> int | None:
    """The results a run is to give, from pytest's last "collected N items ..." line in
    ``text``: the tests selected, and each collector skipped or broken (pytest counts a module
    skipped at import as one skipped)."""
    matches = list(_COLLECTED.finditer(text))
    if not matches:
        return None
    found = matches[-1]
    parts = {word: int(number) for number, word in _COLLECTED_PART.findall(found[2])}
    selected = parts.get("selected", int(found[1]) - parts.get("deselected", 0))
    return max(0, selected) + parts.get("skipped", 0) + parts.get("error", 0) + parts.get("errors", 0)


def counts_from_percent(head: str, tail: list[str]) -> Counts | None:
    """While pytest runs without the plugin: its ``[ 42%]`` column and "collected N items"."""
    collected = collected_total(head)
    for line in reversed(tail):
        match = _PERCENT.search(line)
        if match is None:
            continue
        total = collected
        done = round(int(match[1]) * total / 100) if total else 0
        # Only the outcome letters between the file name and the [ NN%] column count.
        marks = [ln.rsplit("[", 1)[0].split(" ", 1)[-1] for ln in tail if _PERCENT.search(ln)]
        failed = sum(m.count("F") + m.count("E") for m in marks)
        return Counts(total=total, done=done, failed=min(failed, done))
    if collected is not None:
        return Counts(total=collected)
    return None


def counts_from_output(lines: list[str]) -> Counts | None:
    """Counts from pytest's terminal summary line (``== 3 failed, 10 passed in 2.1s ==``), in
    its own categories; the total from its "collected" line (``collected_total``)."""
    total = collected_total("\n".join(lines))
    for line in reversed(lines):
        match = _SUMMARY.match(line.strip())
        if match is None:
            continue
        counts = Counts(total=total)
        for number, word in _SUMMARY_PART.findall(match["body"]):
            key = {"error": "errors", "errors": "errors"}.get(word, word)
            if hasattr(counts, key):  # deselected too, once a run's counts hold it
                setattr(counts, key, int(number))
        # Each result once; a test that failed and then errored in teardown is two of them.
        ran = counts.passed + counts.failed + counts.errors + counts.skipped + counts.xfailed + counts.xpassed
        counts.done = min(ran, counts.total) if counts.total else ran
        counts.total = counts.total or counts.done
        return counts
    return None
