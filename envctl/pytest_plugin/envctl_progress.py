"""envctl's progress plugin, loaded in the test container through PYTEST_PLUGINS.

Stdlib only. It appends one JSON line per event to ``events.jsonl`` and rewrites a small
``progress.json`` snapshot at most a few times a second, so ``envctl status`` reads one small
file however long the run. It must never break a test run: every write error is swallowed and
the plugin then goes quiet.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

_DIR = os.environ.get("ENVCTL_PROGRESS_DIR", "")
_SNAPSHOT_EVERY = 0.25  # seconds between progress.json rewrites


class _Progress:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.events = None
        self.broken = False
        self.started = time.time()
        self.last_snapshot = 0.0
        self.state: dict[str, Any] = {"total": None, "done": 0, "passed": 0, "failed": 0, "skipped": 0,
                      "errors": 0, "xfailed": 0, "xpassed": 0, "current": None,
                      "started": self.started, "updated": self.started, "exitstatus": None}
        try:
            self.events = open(os.path.join(directory, "events.jsonl"), "a", buffering=1,
                               encoding="utf-8")
        except OSError:
            self.broken = True

    def emit(self, kind: str, **data: object) -> None:
        if self.broken or self.events is None:
            return
        try:
            self.events.write(json.dumps({"t": round(time.time(), 3), "kind": kind, **data}) + "\n")
        except (OSError, ValueError):
            self.broken = True

    def snapshot(self, force: bool = False) -> None:
        now = time.time()
        if self.broken or (not force and now - self.last_snapshot < _SNAPSHOT_EVERY):
            return
        self.last_snapshot = now
        self.state["updated"] = now
        path = os.path.join(self.directory, "progress.json")
        tmp = path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(self.state, handle)
            os.replace(tmp, path)
        except OSError:
            self.broken = True


_progress = _Progress(_DIR) if _DIR and os.path.isdir(_DIR) else None


def pytest_collection_finish(session):  # type: ignore[no-untyped-def]
    if _progress is None:
        return
    total = len(session.items)
    _progress.state["total"] = total
    _progress.emit("collected", total=total)
    _progress.snapshot(force=True)


def pytest_runtest_logstart(nodeid, location):  # type: ignore[no-untyped-def]
    if _progress is None:
        return
    _progress.state["current"] = nodeid
    _progress.emit("start", nodeid=nodeid)
    _progress.snapshot()


def pytest_runtest_logreport(report):  # type: ignore[no-untyped-def]
    if _progress is None:
        return
    state = _progress.state
    outcome = None
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        else:
            outcome = report.outcome  # passed, failed, skipped
    elif report.when == "setup" and not report.passed:
        outcome = "skipped" if report.skipped else "error"
    elif report.when == "teardown" and report.failed:
        outcome = "error"
    if outcome is None:
        return
    key = {"passed": "passed", "failed": "failed", "skipped": "skipped", "error": "errors",
           "xfailed": "xfailed", "xpassed": "xpassed"}[outcome]
    state[key] += 1
    if report.when != "teardown":
        state["done"] += 1
    message = None
    if outcome in ("failed", "error"):
        crash = getattr(report.longrepr, "reprcrash", None)
        message = getattr(crash, "message", None) or str(report.longrepr)[-500:]
    _progress.emit("result", nodeid=report.nodeid, outcome=outcome,
                   duration=round(report.duration, 4), message=message)
    _progress.snapshot(force=outcome in ("failed", "error"))


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    if _progress is None:
        return
    _progress.state["exitstatus"] = int(exitstatus)
    _progress.state["current"] = None
    _progress.emit("finish", exitstatus=int(exitstatus))
    _progress.snapshot(force=True)
