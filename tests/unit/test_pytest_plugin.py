"""The injected plugin and runner, exercised with a real pytest in a subprocess (no Docker)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from envctl.pytest_plugin.envctl_events import Progress
from envctl.pytest_plugin.envctl_shards import SHARD_TESTS, split, split_properties
from envctl.report.junit import read_junit
from envctl.runs.container import GATE_WAIT, PLUGIN_DIR
from tests.unit import pytest_numbers

SUITE = """
import pytest

def test_pass():
    pass

def test_fail():
    assert 0, "boom"

@pytest.mark.skip(reason="later")
def test_skip():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("fixture")

def test_error(broken):
    pass
"""


def run_pytest(tmp_path: Path, run_dir: Path, *extra: str,
               extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {**os.environ, "PYTEST_PLUGINS": "envctl_progress", "PYTHONPATH": str(PLUGIN_DIR),
           "ENVCTL_PROGRESS_DIR": str(run_dir), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra,
                           str(tmp_path / "test_suite.py")], env=env, capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path)  # cwd: pytest's rootdir is tmp_path


def test_plugin_writes_events_and_snapshot(tmp_path: Path) -> None:
    """Collected total, each outcome, and the final exit status reach the run dir."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = run_pytest(tmp_path, run_dir)
    assert result.returncode == 1
    snapshot = json.loads((run_dir / "progress.json").read_text())
    assert snapshot["total"] == 4
    assert (snapshot["passed"], snapshot["failed"], snapshot["skipped"], snapshot["errors"]) == (1, 1, 1, 1)
    assert snapshot["exitstatus"] == 1
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events[:2]] == ["session", "collected"]
    assert events[0]["path"] == str(tmp_path)  # pytest's rootdir: what node ids are relative to
    assert events[-1]["kind"] == "finish"
    failure = next(json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()
                   if '"failed"' in line)
    assert "boom" in failure["message"]
    junit = (run_dir / "junit.xml").read_text()  # envctl's own, xunit1: each case names its file
    assert '<testcase classname="test_suite" name="test_fail" file="test_suite.py"' in junit


def test_the_users_junitxml_is_written_too(tmp_path: Path) -> None:
    """pytest keeps one --junitxml: the user's is theirs, envctl's is the plugin's own."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = run_pytest(tmp_path, run_dir, f"--junitxml={tmp_path / 'mine.xml'}")
    assert result.returncode == 1
    assert 'name="test_fail"' in (tmp_path / "mine.xml").read_text()
    assert 'name="test_fail" file="test_suite.py"' in (run_dir / "junit.xml").read_text()


def test_xdist_workers_write_nothing(tmp_path: Path) -> None:
    """In an xdist worker the plugin stays quiet: the controller receives every report."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = run_pytest(tmp_path, run_dir, extra_env={"PYTEST_XDIST_WORKER": "gw0"})
    assert result.returncode == 1
    assert list(run_dir.iterdir()) == []


def test_the_controller_counts_from_its_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under xdist: the total and the ids from the first worker's collection (once), every test
    running now, and a crashed worker's test named."""
    from envctl.pytest_plugin import envctl_progress as plugin  # noqa: PLC0415

    monkeypatch.setattr(plugin, "_progress", Progress(str(tmp_path)))
    monkeypatch.setattr(plugin, "_running", {})
    plugin.pytest_xdist_node_collection_finished(None, ["a", "b", "c"])
    plugin.pytest_xdist_node_collection_finished(None, ["a", "b", "c"])
    plugin.pytest_runtest_logstart("a", None)
    plugin.pytest_runtest_logstart("b", None)
    state = plugin._progress.state  # type: ignore[union-attr]
    assert (state["total"], state["running"], state["current"]) == (3, ["a", "b"], "b")
    teardown = _Report("passed", when="teardown")
    teardown.nodeid = "b"
    plugin.pytest_runtest_logreport(teardown)
    assert (state["running"], state["current"]) == (["a"], "a")
    crash = _Report("failed", longrepr="worker 'gw1' crashed while running 'a'")
    plugin.pytest_handlecrashitem("a", crash, None)
    plugin._progress.flush_events()  # type: ignore[union-attr]  # buffered, flushed every 0.1 s
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events] == ["collected", "tests", "start", "start", "crash"]
    assert events[1]["ids"] == ["a", "b", "c"]
    assert events[-1]["message"] == "worker 'gw1' crashed while running 'a'"


def test_plugin_never_breaks_a_run_it_cannot_write_for(tmp_path: Path) -> None:
    """An unwritable run dir leaves the test run's result unchanged."""
    result = run_pytest(tmp_path, tmp_path / "missing-dir")
    assert result.returncode == 1
    assert "1 failed" in result.stdout


def test_runner_passes_the_exit_code_through(tmp_path: Path) -> None:
    """Without a timeout the runner exits with the command's own code."""
    runner = PLUGIN_DIR / "envctl_runner.py"
    result = subprocess.run([sys.executable, str(runner), "0", str(tmp_path), "--",
                             sys.executable, "-c", "raise SystemExit(3)"], timeout=60, check=False)
    assert result.returncode == 3


def test_the_runner_says_when_its_clock_started(tmp_path: Path) -> None:
    """clock.json in the exchange folder: the wall time it started, before the tests began."""
    runner = PLUGIN_DIR / "envctl_runner.py"
    before = time.time()
    result = subprocess.run([sys.executable, str(runner), "5", str(tmp_path), "--",
                             sys.executable, "-c", "pass"], timeout=60, check=False)
    assert result.returncode == 0
    started = json.loads((tmp_path / "clock.json").read_text())["started"]
    assert before <= started <= time.time()


INTERRUPTIBLE = """
import pathlib, sys, time
try:
    time.sleep(300)
except KeyboardInterrupt:
    pathlib.Path(sys.argv[1]).write_text("interrupted")
"""


def test_runner_enforces_the_timeout(tmp_path: Path) -> None:
    """At the deadline the command is interrupted (SIGINT, so pytest can write its reports),
    timeout.json is written, the code is 124."""
    runner = PLUGIN_DIR / "envctl_runner.py"
    marker = tmp_path / "marker"
    result = subprocess.run([sys.executable, str(runner), "1", str(tmp_path), "--",
                             sys.executable, "-c", INTERRUPTIBLE, str(marker)], timeout=60, check=False,
                            capture_output=True, text=True)
    assert result.returncode == 124
    assert marker.read_text() == "interrupted"  # stopped by the runner's SIGINT, not by its sleep's end
    assert json.loads((tmp_path / "timeout.json").read_text())["timeout"] == 1


@pytest.mark.parametrize(("environ", "seconds"), [
    ({}, 30.0), ({"ENVCTL_GATE_WAIT": "12.5"}, 12.5), ({"ENVCTL_GATE_WAIT": "0"}, 0.0),
    ({"ENVCTL_GATE_WAIT": "soon"}, 30.0), ({"ENVCTL_GATE_WAIT": "-1"}, 30.0),
    ({"ENVCTL_GATE_WAIT": "inf"}, 30.0), ({"ENVCTL_GATE_WAIT": "nan"}, 30.0)])
def test_the_runner_holds_the_gate_as_long_as_the_host_says(environ: dict[str, str], seconds: float) -> None:
    """The host passes the gate's wait; the runner's own default (the host's too) when it does not
    say, or says something that is not a duration."""
    from envctl.pytest_plugin import envctl_runner  # noqa: PLC0415

    assert envctl_runner.gate_wait(environ) == seconds
    assert envctl_runner.GATE_WAIT == GATE_WAIT  # one number on both sides of the container


class _Report:
    """A report as a plugin may hand it on: any outcome, any attribute missing or odd."""

    def __init__(self, outcome: str, when: str = "call", **extra: object) -> None:
        self.nodeid, self.when, self.outcome = "t.py::x", when, outcome
        self.duration: object = 0.1
        self.longrepr = None
        self.passed, self.failed = outcome == "passed", outcome == "failed"
        self.skipped = outcome == "skipped"
        self.__dict__.update(extra)


def test_a_plugins_own_outcome_never_breaks_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-rerunfailures' `rerun` (once a KeyError and pytest's exit 3) is recorded, not
    counted; a report with a broken attribute is skipped; the real result is counted once."""
    from envctl.pytest_plugin import envctl_progress as plugin  # noqa: PLC0415

    monkeypatch.setattr(plugin, "_progress", Progress(str(tmp_path)))
    plugin.pytest_runtest_logreport(_Report("rerun"))
    plugin.pytest_runtest_logreport(_Report("failed", duration="not a number"))
    plugin.pytest_runtest_logreport(_Report("passed"))
    state = plugin._progress.state  # type: ignore[union-attr]
    assert (state["passed"], state["failed"], state["done"], state["flaky"]) == (1, 0, 1, 1)
    plugin._progress.flush_events()  # type: ignore[union-attr]  # buffered, flushed every 0.1 s
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events] == ["report", "result"]
    assert events[1]["flaky"] is True  # failed, rerun, then passed


def test_each_result_names_the_xdist_worker_that_ran_it(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """xdist's ``worker_id`` on a report (or its node's gateway id) goes with the result, so the
    timeline has a lane per real worker; a report without one (no xdist) names none, and an odd
    one never breaks the count."""
    from envctl.pytest_plugin import envctl_progress as plugin  # noqa: PLC0415

    class Gateway:
        id = "gw3"

    class Node:
        gateway = Gateway()

    monkeypatch.setattr(plugin, "_progress", Progress(str(tmp_path)))
    plugin.pytest_runtest_logreport(_Report("passed", worker_id="gw1"))
    plugin.pytest_runtest_logreport(_Report("failed", node=Node()))
    plugin.pytest_runtest_logreport(_Report("passed"))
    plugin.pytest_runtest_logreport(_Report("passed", worker_id=7))
    plugin._progress.flush_events()  # type: ignore[union-attr]  # buffered, flushed every 0.1 s
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e.get("worker") for e in events] == ["gw1", "gw3", None, None]
    assert plugin._progress.state["done"] == 4  # type: ignore[union-attr]


@pytest.mark.parametrize("nodeid", ["t.py::test_a[1]", 't.py::test_\u00e9["quote" \\ tab\t]',
                                    "t.py::\U0001f600"])
@pytest.mark.parametrize("worker", [None, "gw1"])
def test_the_ready_made_lines_are_what_json_dumps_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         nodeid: str, worker: str | None) -> None:
    """The start and plain result lines every test writes are put together by hand: byte for byte
    the lines emit (json.dumps) writes, odd characters in the node id included."""

    monkeypatch.setattr(time, "time", lambda: 1796685342.5604999)  # the plugin's clock
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    fast.mkdir()
    slow.mkdir()
    made, dumped = Progress(str(fast)), Progress(str(slow))
    made.emit_start(nodeid)
    made.emit_result(nodeid, "passed", "call", 0.0123, worker)
    dumped.emit("start", flush=True, nodeid=nodeid)
    if worker:
        dumped.emit("result", nodeid=nodeid, outcome="passed", when="call", duration=0.0123, worker=worker)
    else:
        dumped.emit("result", nodeid=nodeid, outcome="passed", when="call", duration=0.0123)
    made.flush_events()
    dumped.flush_events()
    assert (fast / "events.jsonl").read_bytes() == (slow / "events.jsonl").read_bytes()
    assert json.loads((fast / "events.jsonl").read_text().splitlines()[0]) == {
        "t": 1796685342.56, "kind": "start", "nodeid": nodeid}


class _OddFloat(float):
    """A float whose repr is no JSON number (as numpy's float64 prints itself)."""

    def __round__(self, ndigits: Any = None) -> Any:  # keeps its type, as numpy does
        return _OddFloat(float(self))

    def __repr__(self) -> str:
        return f"odd({float(self)})"


@pytest.mark.parametrize("clock", [float("nan"), float("inf"), _OddFloat(1796685342.5)])
def test_a_clock_a_test_replaced_still_gives_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  clock: float) -> None:
    """A test that replaced time.time (the plugin runs in its process) leaves lines that parse:
    json.dumps' way, never a repr of what the clock gave."""

    made = Progress(str(tmp_path))
    monkeypatch.setattr(time, "time", lambda: clock)
    made.emit_start("t.py::x")
    made.emit_result("t.py::x", "passed", "call", 0.5, "gw0")
    monkeypatch.undo()
    made.flush_events()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["start", "result"]


def test_a_result_with_an_odd_duration_is_still_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A duration json would write as NaN or Infinity takes json.dumps' way, never a repr."""
    from envctl.pytest_plugin import envctl_progress as plugin  # noqa: PLC0415

    monkeypatch.setattr(plugin, "_progress", Progress(str(tmp_path)))
    plugin.pytest_runtest_logreport(_Report("passed", duration=float("inf")))
    plugin._progress.flush_events()  # type: ignore[union-attr]  # buffered, flushed every 0.1 s
    line = (tmp_path / "events.jsonl").read_text()
    assert '"duration": Infinity' in line


def test_a_failure_records_the_end_of_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last non-blank lines of the failure's text go with its result, each cut to a width."""
    from envctl.pytest_plugin import envctl_progress as plugin  # noqa: PLC0415

    monkeypatch.setattr(plugin, "_progress", Progress(str(tmp_path)))
    longrepr = "\n".join(f"line {i}" for i in range(40)) + "\n\nE   " + "x" * 500 + "\n"
    plugin.pytest_runtest_logreport(_Report("failed", longrepr=longrepr))
    plugin._progress.flush_events()  # type: ignore[union-attr]  # buffered, flushed every 0.1 s
    event = json.loads((tmp_path / "events.jsonl").read_text().splitlines()[-1])
    assert event["tail"] == [*(f"line {i}" for i in range(29, 40)), "E   " + "x" * 236]


NESTED = '''
import subprocess, sys

pytest_plugins = ["pytester"]

def test_outer_fails():
    assert 0, "outer"

def test_runs_pytest_in_a_subprocess(tmp_path):
    (tmp_path / "test_sub.py").write_text("def test_sub_inner():\\n    pass\\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout

def test_runs_pytest_inline(pytester):
    pytester.makepyfile(test_inline="def test_inline_inner():\\n    pass\\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
'''


def test_a_pytest_the_tests_start_records_nothing(tmp_path: Path) -> None:
    """pytest run by the tests (a subprocess, or pytester inline) inherits envctl's environment:
    only the outer session is recorded, in the events, the snapshot and envctl's JUnit."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    suite = tmp_path / "outer"
    suite.mkdir()
    (suite / "test_outer.py").write_text(NESTED)
    env = {**os.environ, "PYTEST_PLUGINS": "envctl_progress", "PYTHONPATH": str(PLUGIN_DIR),
           "ENVCTL_PROGRESS_DIR": str(run_dir)}
    env.pop("ENVCTL_PROGRESS_OWNER", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "no:randomly", str(suite)],
                            env=env, capture_output=True, text=True, timeout=120, check=False, cwd=suite)
    assert result.returncode == 1, result.stdout[-2000:]
    snapshot = json.loads((run_dir / "progress.json").read_text())
    assert (snapshot["total"], snapshot["passed"], snapshot["failed"], snapshot["exitstatus"]) == (3, 2, 1, 1)
    junit = read_junit(run_dir / "junit.xml")
    assert sorted((c.nodeid, c.outcome) for c in junit.cases) == [
        ("test_outer.py::test_outer_fails", "failed"),
        ("test_outer.py::test_runs_pytest_in_a_subprocess", "passed"),
        ("test_outer.py::test_runs_pytest_inline", "passed")]
    events = (run_dir / "events.jsonl").read_text()
    assert "inner" not in events
    assert sorted(p.name for p in run_dir.iterdir()) == ["events.jsonl", "junit.xml", "progress.json"]


# ---- pytest's own numbers: collectors skipped at import, xfails in setup, shards ----

NUMBERS_SUITE = {
    "test_main.py": '''
import pytest

def test_pass_one():
    pass

def test_pass_two():
    pass

def test_fail():
    assert 0

def test_skip_inside():
    pytest.skip("not here")

@pytest.mark.xfail(reason="known")
def test_xfail_one():
    assert 0

@pytest.fixture
def known_bug():
    pytest.xfail("known")

def test_xfail_two(known_bug):
    pass

@pytest.mark.xfail(reason="may")
def test_xpass():
    pass

def test_deselected():
    pass
''',
    "test_skipped_module.py": 'import pytest\npytest.importorskip("no_such_backend_module")\n\n'
                              "def test_never():\n    pass\n",
}


def run_suite(tmp_path: Path, run_dir: Path, *extra: str,
              extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    for name, body in NUMBERS_SUITE.items():
        (tmp_path / name).write_text(body)
    run_dir.mkdir()
    env = {**os.environ, "PYTEST_PLUGINS": "envctl_progress", "PYTHONPATH": str(PLUGIN_DIR),
           "ENVCTL_PROGRESS_DIR": str(run_dir), **(extra_env or {})}
    env.pop("ENVCTL_PROGRESS_OWNER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "--deselect", "test_main.py::test_deselected", *extra],
                          env=env, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)


def test_the_plugin_counts_as_pytest_does(tmp_path: Path) -> None:
    """A module skipped at import (`importorskip`), a runtime skip, an xfail in a fixture, an
    xpass, a deselected test: the snapshot and the JUnit give pytest's own line, the skipped
    module among the skipped and in the total, and done equals total at the end."""
    run_dir = tmp_path / "run"
    result = run_suite(tmp_path, run_dir)
    assert result.returncode == 1
    assert pytest_numbers.COLLECTED_LINE in result.stdout
    assert f"== {pytest_numbers.PYTEST_LINE} in " in result.stdout
    snapshot = json.loads((run_dir / "progress.json").read_text())
    assert {key: snapshot[key] for key in pytest_numbers.NUMBERS} == pytest_numbers.NUMBERS
    assert snapshot["deselected"] == 1
    assert read_junit(run_dir / "junit.xml").counts() == pytest_numbers.NUMBERS
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    reason = "could not import 'no_such_backend_module': No module named 'no_such_backend_module'"
    assert events[1] == {**events[1], "kind": "result", "nodeid": "test_skipped_module.py",
                         "outcome": "skipped", "when": "collect", "message": reason}


def test_a_collection_error_is_one_error_in_the_total(tmp_path: Path) -> None:
    """A file that cannot be imported (run on with --continue-on-collection-errors): one error,
    counted in done and total as pytest counts it."""
    (tmp_path / "test_broken.py").write_text("import no_such_module_for_envctl\n")
    run_dir = tmp_path / "run"
    result = run_suite(tmp_path, run_dir, "--continue-on-collection-errors")
    assert "1 failed, 2 passed, 2 skipped, 1 deselected, 2 xfailed, 1 xpassed, 1 error in " in result.stdout
    snapshot = json.loads((run_dir / "progress.json").read_text())
    assert (snapshot["errors"], snapshot["done"], snapshot["total"]) == (1, 9, 9)


def test_each_shard_says_what_its_split_came_from(tmp_path: Path) -> None:
    """Under ENVCTL_SHARD the JUnit suite carries the shard, the checksums of the split's inputs
    (what -k and --deselect left, with the durations used) and how many tests it was to run."""
    durations = tmp_path / "durations.json"
    durations.write_text(json.dumps({"test_main.py::test_fail": 5.0, "elsewhere.py::test_x": 1.0}))
    run_dir = tmp_path / "run"
    run_suite(tmp_path, run_dir, extra_env={"ENVCTL_SHARD": "2/2", "ENVCTL_DURATIONS": str(durations)})
    selected = [f"test_main.py::{name}" for name in (
        "test_pass_one", "test_pass_two", "test_fail", "test_skip_inside", "test_xfail_one", "test_xfail_two",
        "test_xpass")]
    used = {"test_main.py::test_fail": 5.0}
    expected = {**split_properties(selected, 2, 2, used), SHARD_TESTS: str(len(split(selected, 2, used)[1]))}
    assert read_junit(run_dir / "junit.xml").properties == expected


def test_an_xdist_controller_writes_its_workers_split(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Under xdist the workers split (the controller collects nothing): the first worker's
    properties, handed back in its workeroutput, go into the controller's JUnit."""
    from envctl.pytest_plugin import envctl_progress as plugin  # noqa: PLC0415
    from envctl.pytest_plugin.envctl_junit import JUnitWriter  # noqa: PLC0415

    monkeypatch.setattr(plugin, "_progress", Progress(str(tmp_path)))
    monkeypatch.setattr(plugin, "_SHARD", "1/2")
    xml = JUnitWriter(str(tmp_path / "junit.xml"))
    monkeypatch.setattr(plugin, "_junit", {"xml": xml})
    plugin.pytest_xdist_node_collection_finished(None, ["t.py::a", "t.py::b"])
    first, second = _Node({"envctl_split": {"envctl.shard": "1/2", "envctl.split.tests": "aa"}}), \
        _Node({"envctl_split": {"envctl.shard": "1/2", "envctl.split.tests": "bb"}})
    plugin.pytest_testnodedown(first, None)
    plugin.pytest_testnodedown(second, None)
    xml.pytest_sessionfinish()
    assert read_junit(tmp_path / "junit.xml").properties == {
        "envctl.shard.tests": "2", "envctl.shard": "1/2", "envctl.split.tests": "aa"}


class _Node:
    """An xdist worker node as the controller's hooks see it."""

    def __init__(self, workeroutput: dict[str, object]) -> None:
        self.workeroutput = workeroutput
