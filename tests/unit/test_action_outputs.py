"""The GitHub Action's outputs from a run's or a merge's report JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.report.action_outputs import main, outputs
from envctl.report.merge import exit_code, merge
from envctl.report.summary import merged_render
from envctl.runs.state import RunRecord
from envctl.ui.report import render
from tests.unit.pytest_numbers import ended_run


def test_a_runs_report_gives_every_output(tmp_path: Path) -> None:
    """State, exit code, pytest's counts and the two paths, from `envctl report --format json`."""
    (tmp_path / "junit.xml").write_text("<testsuites/>")
    (tmp_path / "report.md").write_text("## envctl run\n")
    report = {"schema": "envctl/report/1", "state": "failed", "exit_code": 1,
              "counts": {"passed": 4, "failed": 1, "errors": 0, "skipped": 2, "xfailed": 3}}
    assert outputs(report, tmp_path / "junit.xml", tmp_path / "report.md") == {
        "exit-code": "1", "state": "failed", "passed": "4", "failed": "1", "errors": "0",
        "skipped": "2", "xfailed": "3", "xpassed": "0", "junit-path": str(tmp_path / "junit.xml"),
        "report-path": str(tmp_path / "report.md")}


def test_a_merge_is_named_by_its_exit_code(tmp_path: Path) -> None:
    """A merged report has no state of its own: 0 passed, 1 failed, 5 no-tests, else error."""
    merged = {"schema": "envctl/merged/1", "exit_code": 5, "counts": {"passed": 0}}
    assert outputs(merged, tmp_path / "none.xml", tmp_path / "none.md")["state"] == "no-tests"
    assert outputs({**merged, "exit_code": 3}, tmp_path / "n", tmp_path / "n")["state"] == "error"


def test_nothing_in_a_report_starts_another_output_line(tmp_path: Path) -> None:
    """A state or count that is not what envctl writes becomes empty or 0, never a new line."""
    hostile = {"state": "failed\nstate=passed", "exit_code": True, "counts": {"passed": "9\nx=1"}}
    found = outputs(hostile, tmp_path / "none.xml", tmp_path / "none.md")
    assert (found["state"], found["exit-code"], found["passed"]) == ("", "", "0")


def test_main_prints_github_output_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The module prints key=value lines; a missing report gives empty outputs, exit 0."""
    (tmp_path / "r.json").write_text(json.dumps({"state": "passed", "exit_code": 0, "counts": {}}))
    assert main([str(tmp_path / "r.json"), str(tmp_path / "j.xml"), str(tmp_path / "r.md")]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["exit-code=0", "state=passed"]
    assert main([str(tmp_path / "missing.json"), "j", "r"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "exit-code="


def test_a_run_and_its_merge_give_pytests_numbers(tmp_path: Path) -> None:
    """A module skipped at collection, xfails and an xpass: the outputs of the run's report and
    of its merge are pytest's numbers (2 skipped, 2 xfailed, 1 xpassed), not xfails counted twice."""
    run_dir = ended_run(tmp_path / "runs")
    record = RunRecord.load(run_dir)
    merged = merge([run_dir])
    for report in (json.loads(render(run_dir, record, "json")),
                   json.loads(merged_render(merged, "json", exit_code(merged)))):
        found = outputs(report, run_dir / "junit.xml", run_dir / "none.md")
        assert {key: found[key] for key in ("exit-code", "state", "passed", "failed", "errors", "skipped",
                                            "xfailed", "xpassed")} == {
            "exit-code": "1", "state": "failed", "passed": "2", "failed": "1", "errors": "0", "skipped": "2",
            "xfailed": "2", "xpassed": "1"}
