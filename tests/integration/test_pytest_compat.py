"""Suites as people run them, on the real engine, with the plugins installed in the test image:
pytest-xdist, -rerunfailures, -timeout, -asyncio (auto mode), -randomly; unittest classes,
doctests, subprocesses, nested packages with `*_test.py` files; on pytest 7.4, 8.x and 9.x."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Project

FAILED = {"tests/pkg/sub/things_test.py::TestThing::test_fails", "tests/test_plugins.py::test_times_out"}
FLAKY = "tests/test_plugins.py::test_flaky_passes_on_its_second_try"
LINES = [("9", "pytest>=9,<10"), ("8", "pytest>=8,<9"), ("7", "pytest==7.4.*")]


def as_json(project: Project, *args: str, env: dict[str, str]) -> Any:
    result = project.envctl(*args, extra_env=env)
    assert result.returncode == 0, result.output
    return json.loads(result.stdout)


def run_dir_of(project: Project, run_id: str) -> Path:
    return Path(project.env["ENVCTL_LOG_DIR"]) / run_id


@pytest.mark.parametrize(("line", "spec"), LINES)
def test_the_usual_plugins_on_each_pytest_line(make_project: Any, line: str, spec: str) -> None:
    """`-n 2` with every plugin active: each test counted once (total from collection, one
    finish), the flaky test counted and named, pytest-timeout's timeout named in its failure,
    exact node ids for a nested `*_test.py` class, and the user's own --junitxml written too."""
    project = make_project("plugins")
    env = {"PYTEST_LINE": line, "PYTEST_SPEC": spec}
    result = project.envctl("test", "--", "-n", "2", "--doctest-modules", "--junitxml=/suite/mine.xml",
                            extra_env=env, timeout=900)
    assert result.returncode == 1, result.output
    status = as_json(project, "status", "--json", env=env)
    progress = status["progress"]
    assert (progress["total"], progress["done"], progress["passed"], progress["failed"],
            progress["skipped"], progress["flaky"]) == (29, 29, 26, 2, 1, 1)
    assert progress["flaky_tests"] == [FLAKY]
    events = (run_dir_of(project, status["run"]) / "events.jsonl").read_text().splitlines()
    assert sum('"kind": "finish"' in event for event in events) == 1
    failures = as_json(project, "failures", "--json", env=env)["failures"]
    assert {f["test"] for f in failures} == FAILED
    timed_out = next(f for f in failures if f["test"].endswith("test_times_out"))
    assert "Timeout" in timed_out["message"]
    report = as_json(project, "report", "--format", "json", env=env)
    assert {f["test"] for f in report["failures"]} == FAILED  # from envctl's xunit1 JUnit: exact
    assert report["flaky"] == [{"test": FLAKY, "file": "tests/test_plugins.py"}]
    assert 'name="test_fails"' in (project.path / "suite" / "mine.xml").read_text()
    markdown = project.envctl("report", extra_env=env).stdout
    assert "### Flaky tests (passed after a rerun)" in markdown
    if line != "9":
        return
    # The rest once, on pytest 9: reruns carry the options; collection errors, crashed xdist
    # workers, -x, -p no:cacheprovider and PYTEST_DISABLE_PLUGIN_AUTOLOAD.
    rerun = project.envctl("test", "--rerun-failed", "latest", extra_env=env, timeout=600)
    assert rerun.returncode == 1, rerun.output
    assert "rerunning 2 failed test(s)" in rerun.stderr
    assert "with the options: -n 2 --doctest-modules --junitxml=/suite/mine.xml" in rerun.stderr
    again = as_json(project, "status", "--json", env=env)["progress"]
    assert (again["total"], again["failed"]) == (2, 2)

    last_failed = project.envctl("test", "--", "--lf", "-p", "no:randomly", extra_env=env, timeout=600)
    assert last_failed.returncode == 1, last_failed.output  # pytest's own cache, in the suite's folder
    assert as_json(project, "status", "--json", env=env)["progress"]["total"] == 2

    ini = project.path / "suite" / "pytest.ini"
    ini.write_text(ini.read_text() + "addopts = -n 2 --dist loadfile\n")  # xdist from the user's addopts
    from_addopts = project.envctl("test", "--", "-k", "many", extra_env=env, timeout=600)
    assert from_addopts.returncode == 0, from_addopts.output
    status = as_json(project, "status", "--json", env=env)
    counts = status["progress"]
    assert (counts["total"], counts["done"], counts["passed"]) == (20, 20, 20)
    stream = (run_dir_of(project, status["run"]) / "events.jsonl").read_text()
    assert stream.count('"kind": "finish"') == 1
    assert stream.count('"outcome": "passed"') == 20
    ini.write_text(ini.read_text().replace("addopts = -n 2 --dist loadfile\n", ""))

    (project.path / "suite" / "broken").mkdir()
    (project.path / "suite" / "broken" / "test_broken.py").write_text("def test_never(:\n    pass\n")
    broken = project.envctl("test", "--", "broken", extra_env=env, timeout=600)
    assert broken.returncode == 2, broken.output
    errors = as_json(project, "failures", "--json", env=env)["failures"]
    assert [(f["test"], f["outcome"]) for f in errors] == [("broken/test_broken.py", "error")]
    assert "SyntaxError" in errors[0]["message"]

    crash = project.envctl("test", "--", "-n", "2", "crash", extra_env=env, timeout=600)
    assert crash.returncode == 1, crash.output
    crashed = as_json(project, "failures", "--json", env=env)["failures"]
    assert [f["test"] for f in crashed] == ["crash/test_crash.py::test_kills_its_worker"]
    assert "crashed while running 'crash/test_crash.py::test_kills_its_worker'" in crashed[0]["message"]

    off = {**env, "AUTOLOAD_OFF": "1"}
    stopped = project.envctl("test", "--", "-x", "-p", "no:cacheprovider",
                             "tests/pkg/sub/things_test.py::TestThing::test_fails",
                             "tests/test_plugins.py::test_many", extra_env=off, timeout=600)
    assert stopped.returncode == 1, stopped.output
    progress = as_json(project, "status", "--json", env=off)["progress"]
    assert (progress["total"], progress["done"], progress["failed"]) == (21, 1, 1)
    assert "20 not run: stopped at 1 of 21" in project.envctl("report", extra_env=off).stdout
