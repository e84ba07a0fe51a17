"""`--rerun-failed` carries the first run's options over, and drops what selected its tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.runs.rerun import carried_options, recorded_pytest_args


@pytest.mark.parametrize(("args", "kept"), [
    (["-p", "no:randomly", "-o", "xfail_strict=true", "tests/api"],
     ["-p", "no:randomly", "-o", "xfail_strict=true"]),
    (["--reruns", "2", "-n", "4", "--timeout=30", "-x"], ["--reruns", "2", "-n", "4", "--timeout=30", "-x"]),
    (["-k", "slow and not db", "-m", "smoke", "--lf", "--deselect", "t.py::a", "t.py::b"], []),
    (["-kslow", "-pxdist", "-q"], ["-pxdist", "-q"]),
    (["--my-plugin-option", "value", "tests/x_test.py::T::test_a"], ["--my-plugin-option", "value"]),
    (["--strict-markers", "tests/unit"], ["--strict-markers"]),
    (["-v", "--", "-weird-file.py"], ["-v"]),
    (["--dist", "loadfile", "--ff", "--sw", "."], ["--dist", "loadfile"]),
])
def test_options_kept_and_selection_dropped(args: list[str], kept: list[str]) -> None:
    """Options that shape how tests run are kept; paths, node ids, -k, -m, --lf... are not."""
    assert carried_options(args) == kept


def test_a_flag_given_again_is_not_doubled() -> None:
    """`-q` carried and given now stays one `-q` (two would be pytest's quieter `-qq`)."""
    assert carried_options(["-q", "-x", "-p", "no:randomly"], given=["-q"]) == ["-x", "-p", "no:randomly"]


def test_recorded_arguments_come_from_the_start_record(tmp_path: Path) -> None:
    """A run's own start record (host-only) says what it was started with; a --shards parent's
    too; anything unreadable gives none."""
    (tmp_path / "start.json").write_text(json.dumps({"request": {"pytest_args": ["-p", "x", "t.py"]}}))
    assert recorded_pytest_args(tmp_path) == ["-p", "x", "t.py"]
    (tmp_path / "start.json").write_text(json.dumps({"durations_file": "d", "pytest_args": ["-q"]}))
    assert recorded_pytest_args(tmp_path) == ["-q"]
    (tmp_path / "start.json").write_text("not json")
    assert recorded_pytest_args(tmp_path) == []


@pytest.mark.parametrize(("text", "problem"), [
    (b"<html><body>not a report</body></html>", "not a JUnit XML report"),
    (b"x: 1\n", "syntax error"),
    (b"", "not a JUnit XML report"),
])
def test_a_file_that_is_not_junit_is_refused(tmp_path: Path, text: bytes, problem: str) -> None:
    """--rerun-failed on HTML, YAML or an empty file: a usage error (10), not "nothing failed"."""
    from envctl.errors import UsageError  # noqa: PLC0415
    from envctl.runs.rerun import failed_nodeids  # noqa: PLC0415
    from envctl.settings import Settings  # noqa: PLC0415

    path = tmp_path / "report.xml"
    path.write_bytes(text)
    with pytest.raises(UsageError, match=problem) as raised:
        failed_nodeids(Settings(project_dir=tmp_path, log_dir=tmp_path / "runs"), str(path))
    assert raised.value.exit_code == 10


def test_a_junit_report_with_no_failure_reruns_nothing(tmp_path: Path) -> None:
    """A real report in which everything passed: nothing to rerun, no error."""
    from envctl.runs.rerun import failed_nodeids  # noqa: PLC0415
    from envctl.settings import Settings  # noqa: PLC0415

    path = tmp_path / "junit.xml"
    path.write_text('<testsuites><testsuite name="pytest" tests="1"><testcase classname="test_a" '
                    'name="test_ok" file="test_a.py"/></testsuite></testsuites>')
    settings = Settings(project_dir=tmp_path, log_dir=tmp_path / "runs")
    assert failed_nodeids(settings, str(path)) == (str(path), [], [])
