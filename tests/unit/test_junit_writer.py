"""envctl's streamed JUnit reads exactly as pytest's own xunit1 report of the same run."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from envctl.pytest_plugin.envctl_junit import JUnitWriter, names_of
from envctl.report.junit import read_junit
from envctl.runs.container import PLUGIN_DIR

SUITE = {
    "test_outcomes.py": '''
import sys
import pytest

def test_pass():
    print("to stdout")

def test_fail():
    print("said before failing")
    assert 1 + 1 == 3, "arithmetic <is> & \\"broken\\""

def test_odd_characters():
    assert "\\x1b[31m\\x00" == "", "control \\x07 characters"

@pytest.mark.skip(reason="later")
def test_skip_marker():
    pass

def test_skip_inside():
    pytest.skip("not here")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert 0

@pytest.mark.xfail(strict=True, reason="should fail")
def test_xpass_strict():
    pass

@pytest.mark.xfail(reason="may fail")
def test_xpass():
    pass

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup broke")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_setup_error(broken_setup):
    pass

def test_teardown_error(broken_teardown):
    pass

def test_fail_and_teardown_error(broken_teardown):
    assert 0, "call broke"

@pytest.mark.parametrize("value", ["a/b", "x::y", "[z]"])
def test_params(value):
    assert value != "x::y"

class TestGroup:
    def test_in_class(self):
        sys.stderr.write("to stderr\\n")
        assert False
''',
    "pkg/sub/checks_test.py": "class TestNested:\n    def test_deep(self):\n        pass\n",
    "pkg/__init__.py": "",
    "pkg/sub/__init__.py": "",
    "test_broken.py": "import nonexistent_module_for_envctl\n",
}


def run_both(tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    """The suite once, with envctl's plugin and pytest's own xunit1 --junitxml beside it."""
    for name, body in SUITE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    theirs = tmp_path / "theirs.xml"
    env = {**os.environ, "PYTEST_PLUGINS": "envctl_progress", "PYTHONPATH": str(PLUGIN_DIR),
           "ENVCTL_PROGRESS_DIR": str(run_dir)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "-o", "junit_family=xunit1",
                           "-o", "python_files=*_test.py test_*.py", f"--junitxml={theirs}",
                           "--continue-on-collection-errors", *extra],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    return run_dir / "junit.xml", theirs


def comparable(path: Path) -> list[tuple[object, ...]]:
    results = read_junit(path, keep_text=True)
    assert (results.suites, results.problem) == (1, None)
    return sorted((c.nodeid, c.outcome, c.message, c.file, c.line, c.body, c.system_out, c.system_err)
                  for c in results.cases)


def suite_counts(path: Path) -> dict[str, str]:
    suite = ET.parse(path).getroot().find("testsuite")  # noqa: S314  # our own test's output
    assert suite is not None
    return {k: suite.get(k, "") for k in ("name", "tests", "failures", "errors", "skipped")}


@pytest.mark.parametrize("logging", ["no", "all", "out-err"])
def test_the_report_reads_as_pytests_own(tmp_path: Path, logging: str) -> None:
    """Every outcome pytest reports (skips, xfails, setup and teardown errors, a collection error,
    odd characters, classes, *_test.py in packages), with junit_logging as set: the same cases,
    messages, files, lines, bodies and output as pytest's xunit1 --junitxml, and the same counts;
    but where pytest's writes an xpassed test as a pass, envctl's marks it xpassed."""
    ours, theirs = run_both(tmp_path, "-o", f"junit_logging={logging}")
    xpass = "test_outcomes.py::test_xpass"
    assert comparable(ours) == [(c[0], "xpassed", *c[2:]) if c[0] == xpass else c for c in comparable(theirs)]
    assert suite_counts(ours) == suite_counts(theirs)
    assert not ours.with_name("junit.xml.part").exists()
    assert len(comparable(ours)) == 18  # 16 tests, a failed call with a failed teardown (2), the broken file


def test_call_durations_only_when_asked(tmp_path: Path) -> None:
    """junit_duration_report = call: a test's time is its call's, not its fixtures'."""
    (tmp_path / "conftest.py").write_text(
        "import pytest, time\n@pytest.fixture\ndef slow():\n    time.sleep(0.3)\n")
    (tmp_path / "test_slow.py").write_text("def test_uses(slow):\n    pass\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {**os.environ, "PYTEST_PLUGINS": "envctl_progress", "PYTHONPATH": str(PLUGIN_DIR),
           "ENVCTL_PROGRESS_DIR": str(run_dir)}
    for report, expect_slow in (("total", True), ("call", False)):
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-o", f"junit_duration_report={report}"], env=env, cwd=tmp_path,
                       capture_output=True, timeout=60, check=True)
        (case,) = read_junit(run_dir / "junit.xml").cases
        assert (case.duration >= 0.3) is expect_slow


@pytest.mark.parametrize(("nodeid", "names"), [
    ("tests/a_test.py::TestX::test_y[1]", ("tests.a_test.TestX", "test_y[1]")),
    ("test_a.py::test_b[x::y/z.py]", ("test_a", "test_b[x::y/z.py]")),
    ("pkg/mod.py", ("", "pkg.mod")),
])
def test_names_are_pytests(nodeid: str, names: tuple[str, str]) -> None:
    """A node id splits into JUnit's classname and name as pytest's mangle_test_address does."""
    assert names_of(nodeid) == names


def attempt(nodeid: str, call: str, *, teardown: bool = True) -> list[SimpleNamespace]:
    """One attempt's reports as pytest-rerunfailures hands them on: setup, call (``rerun`` when
    the test runs again) and, from 16.6.1 on, a rerun attempt's teardown too."""
    def report(when: str, outcome: str) -> SimpleNamespace:
        return SimpleNamespace(nodeid=nodeid, location=("test_f.py", 1, "test_f"), when=when,
                               outcome=outcome, duration=0.5, longrepr=None, sections=[],
                               passed=outcome == "passed", failed=False, skipped=False)
    return [report("setup", "passed"), report("call", call),
            *([report("teardown", "passed")] if teardown else [])]


@pytest.mark.parametrize("reports_rerun_teardown", [True, False])
def test_a_test_passed_on_its_rerun_is_one_case(tmp_path: Path, reports_rerun_teardown: bool) -> None:
    """A flaky test (rerun once, then passed) is one passing case, whether or not the rerun
    plugin reports the first attempt's teardown (16.6.1 and on do): never two."""
    path = tmp_path / "junit.xml"
    writer = JUnitWriter(str(path))
    for report in [*attempt("test_f.py::test_f", "rerun", teardown=reports_rerun_teardown),
                   *attempt("test_f.py::test_f", "passed")]:
        writer.pytest_runtest_logreport(report)
    writer.pytest_sessionfinish()
    results = read_junit(path)
    assert [(case.nodeid, case.outcome) for case in results.cases] == [("test_f.py::test_f", "passed")]
    assert ' tests="1" ' in path.read_text()
