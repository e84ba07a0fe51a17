"""What one pytest report counts as, which xdist worker ran it, and its traceback's tail (stdlib
only: loaded beside envctl_progress in the test container)."""

from __future__ import annotations

from typing import Any


def outcome_of(report: Any) -> str | None:
    """What a report counts as, or None when it counts as nothing (a passing setup). pytest's
    own rule: a report marked xfail is xfailed when skipped (in setup too: `pytest.xfail()` in a
    fixture, `xfail(run=False)`), xpassed when it passed."""
    if hasattr(report, "wasxfail") and (report.skipped or (report.passed and report.when == "call")):
        return "xfailed" if report.skipped else "xpassed"
    if report.when == "call":
        return report.outcome  # type: ignore[no-any-return]  # passed, failed, skipped, or a plugin's
    if report.when == "setup" and not report.passed:
        return "skipped" if report.skipped else "error"
    if report.when == "teardown" and report.failed:
        return "error"
    if report.when not in ("setup", "call", "teardown") and report.failed:
        return "failed"  # xdist's report for the test a crashed worker was running (when "???")
    return None


def worker_of(report: Any) -> str | None:
    """xdist's worker ("gw0") that ran the test, stamped on each report the controller gets."""
    node = getattr(report, "node", None)  # older xdist: no worker_id, the node's gateway names it
    worker = getattr(report, "worker_id", None) or getattr(getattr(node, "gateway", None), "id", None)
    return worker[:16] if isinstance(worker, str) else None


TAIL_LINES = 12
TAIL_WIDTH = 240


def traceback_tail(longrepr: object) -> list[str]:
    """The last lines of a failure's traceback (where it failed, and how), for a compact view.
    Read from the end of pytest's text, so a huge repr costs one slice."""
    text = str(longrepr)
    lines = [line for line in text[-(TAIL_LINES + 1) * TAIL_WIDTH:].splitlines() if line.strip()]
    return [line[:TAIL_WIDTH] for line in lines[-TAIL_LINES:]]
