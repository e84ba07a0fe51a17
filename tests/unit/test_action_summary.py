"""The job summary's line for the HTML report in the action's artifact: the workflow run's
artifacts page, the artifact and the file named, never a link made of odd values."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.report.action_summary import artifacts_url, main, summary_line

RUNNER = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "octo/smoke",
          "GITHUB_RUN_ID": "123"}


def test_the_line_links_the_runs_artifacts_and_names_the_file() -> None:
    """GitHub cannot link into an artifact: the run's page at #artifacts, the artifact, the file."""
    assert summary_line("envctl-run", "report.html", RUNNER) == (
        "HTML report: `report.html` in the artifact `envctl-run` ([this workflow run's artifacts]"
        "(https://github.com/octo/smoke/actions/runs/123#artifacts)); download and unzip it, then open the "
        "file in a browser.")


@pytest.mark.parametrize("changed", [
    {"GITHUB_SERVER_URL": "javascript:alert(1)"}, {"GITHUB_REPOSITORY": "a/b) [x](http://evil"},
    {"GITHUB_RUN_ID": "12a"}, {"GITHUB_SERVER_URL": ""},
])
def test_odd_runner_values_give_no_link(changed: dict[str, str]) -> None:
    """A value that is not what the runner sets makes no link at all."""
    assert artifacts_url({**RUNNER, **changed}) is None
    assert "](" not in summary_line("envctl-run", "report.html", {**RUNNER, **changed})


def test_an_artifact_name_cannot_make_markdown() -> None:
    """The artifact's name (an input of the workflow) stays a code span."""
    line = summary_line("a`b|[x](http://evil)", "report.html", {})
    assert line == ("HTML report: `report.html` in the artifact `a'b\\|[x](http://evil)`; download and unzip "
                    "it, then open the file in a browser.")


def test_main_appends_the_line_once_the_report_is_written(tmp_path: Path) -> None:
    """Appended to $GITHUB_STEP_SUMMARY when the file has bytes; nothing for a missing or empty
    file or outside Actions; 2 for a usage error."""
    summary, report = tmp_path / "summary.md", tmp_path / "report.html"
    env = {**RUNNER, "GITHUB_STEP_SUMMARY": str(summary)}
    assert main(["envctl-run", str(report)], env) == 0
    report.write_text("")
    assert main(["envctl-run", str(report)], env) == 0
    assert not summary.exists()
    report.write_text("<!DOCTYPE html>")
    assert main(["envctl-run", str(report)], RUNNER) == 0
    assert main(["envctl-run", str(report)], env) == 0
    assert summary.read_text() == "\n" + summary_line("envctl-run", "report.html", RUNNER) + "\n"
    assert main(["envctl-run"], env) == 2
