"""One small run as the plugin leaves it, for checking that every view gives pytest's numbers.

pytest's own line for it: "1 failed, 2 passed, 2 skipped, 1 deselected, 2 xfailed, 1 xpassed"
(header: "collected 8 items / 1 deselected / 1 skipped / 7 selected"): a module skipped at
collection (one skipped), a test skipped as it ran, two xfailed, one xpassed. The texts are what
envctl's plugin wrote for that suite (tests/unit/test_pytest_plugin.py checks it still does).
"""

from __future__ import annotations

import json
from pathlib import Path

from envctl.runs import exchange, lifecycle
from envctl.runs.outcome import EndFacts
from envctl.runs.progress import read_progress
from envctl.runs.state import Limits, RunRecord

RUN_ID = "20260101-000000-abcd"
PYTEST_LINE = "1 failed, 2 passed, 2 skipped, 1 deselected, 2 xfailed, 1 xpassed"
COLLECTED_LINE = "collected 8 items / 1 deselected / 1 skipped / 7 selected"
# pytest's numbers, as a run's counts name them: 7 tests selected and the skipped module.
NUMBERS = {"total": 8, "done": 8, "passed": 2, "failed": 1, "errors": 0, "skipped": 2, "xfailed": 2,
           "xpassed": 1}

JUNIT = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" '
    'skipped="4" tests="8" time="0.054" timestamp="2026-12-07T05:54:42.762727+00:00" hostname="vm">'
    '<testcase classname="" name="test_skipped_module" file="test_skipped_module.py" time="0.000">'
    "<skipped message=\"collection skipped\">('/tmp/t14/test_skipped_module.py', 2, 'Skipped: no backend')"
    "</skipped></testcase>"
    '<testcase classname="test_main" name="test_pass_one" file="test_main.py" line="2" time="0.001" />'
    '<testcase classname="test_main" name="test_pass_two" file="test_main.py" line="5" time="0.000" />'
    '<testcase classname="test_main" name="test_fail" file="test_main.py" line="8" time="0.000">'
    '<failure message="assert 0">def test_fail():\n&gt;       assert 0\nE       assert 0\n\n'
    "test_main.py:10: AssertionError</failure></testcase>"
    '<testcase classname="test_main" name="test_skip_inside" file="test_main.py" line="11" time="0.001">'
    '<skipped type="pytest.skip" message="not here">/tmp/t14/test_main.py:13: not here</skipped></testcase>'
    '<testcase classname="test_main" name="test_xfail_one" file="test_main.py" line="14" time="0.000">'
    '<skipped type="pytest.xfail" message="known" /></testcase>'
    '<testcase classname="test_main" name="test_xfail_two" file="test_main.py" line="18" time="0.000">'
    '<skipped type="pytest.xfail" message="known" /></testcase>'
    '<testcase classname="test_main" name="test_xpass" file="test_main.py" line="22" time="0.000">'
    '<properties><property name="envctl.outcome" value="xpassed" /></properties></testcase>'
    "</testsuite></testsuites>")

PROGRESS: dict[str, object] = {
    "total": 8, "done": 8, "passed": 2, "failed": 1, "skipped": 2, "errors": 0, "xfailed": 2, "xpassed": 1,
    "flaky": 0, "deselected": 1, "current": None, "running": [], "flaky_tests": [], "started": 1000.0,
    "updated": 1000.5, "exitstatus": 1}

EVENTS = [
    {"t": 1000.0, "kind": "session", "path": "/tmp/t14"},
    {"t": 1000.1, "kind": "result", "nodeid": "test_skipped_module.py", "outcome": "skipped",
     "when": "collect", "duration": 0.0, "message": "no backend"},
    {"t": 1000.1, "kind": "collected", "total": 7},
    *({"t": 1000.2, "kind": "result", "nodeid": f"test_main.py::{name}", "outcome": outcome, "when": "call",
       "duration": 0.0001} for name, outcome in (
        ("test_pass_one", "passed"), ("test_pass_two", "passed"), ("test_skip_inside", "skipped"),
        ("test_xfail_one", "xfailed"), ("test_xfail_two", "xfailed"), ("test_xpass", "xpassed"))),
    {"t": 1000.3, "kind": "result", "nodeid": "test_main.py::test_fail", "outcome": "failed", "when": "call",
     "duration": 0.0001, "message": "assert 0", "path": "/tmp/t14/test_main.py", "line": 10},
    {"t": 1000.5, "kind": "finish", "exitstatus": 1},
]


def leave_results(run_dir: Path) -> None:
    """What the test container hands back: the JUnit, the snapshot and the events."""
    exchange.create_dirs(run_dir)
    (exchange.box(run_dir) / "junit.xml").write_text(JUNIT)
    (exchange.box(run_dir) / "progress.json").write_text(json.dumps(PROGRESS))
    (exchange.box(run_dir) / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))


def ended_run(root: Path, run_id: str = RUN_ID) -> Path:
    """The run, ended and collected as the collector does it: the counts from the snapshot, the
    results copied into the run directory."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    leave_results(run_dir)
    lifecycle.create(run_dir, RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                                        limits=Limits(1 << 30, 1.0, 100), created_at=1000.0))
    lifecycle.mark_running(run_dir)
    (run_dir / "output.log").write_text(f"{COLLECTED_LINE}\n\n== {PYTEST_LINE} in 0.05s ==\n")
    exchange.copy_results(run_dir)
    lifecycle.finish(run_dir, EndFacts(exit_code=1), counts=read_progress(run_dir).counts)
    lifecycle.mark_cleaned(run_dir)
    return run_dir
