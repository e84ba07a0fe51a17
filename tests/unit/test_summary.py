"""What the history says, in a report: the JSON fields, each failure's mark, and the markdown's two
short sections (only when they name a test), for a run and for a merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from envctl.history import FLAKY, NEW, OLD, Verdict
from envctl.report.junit import read_junit
from envctl.report.summary import history_fields, markdown, merged_render, with_history
from envctl.schemas import load

PREVIOUS = "20251231-000000-aaaa"
VERDICT = Verdict(runs=3, previous=PREVIOUS, new=("t.py::a",), flaky=("t.py::c", "t.py::ok"),
                  marks={"t.py::a": NEW, "t.py::b": OLD, "t.py::c": FLAKY})


def _data(**fields: Any) -> dict[str, Any]:
    """A run's summary data, as ui.report.summary_data gives it, with three failures."""
    failures = [{"test": f"t.py::{n}", "outcome": "failed", "message": f"boom {n}", "file": "t.py", "line": 1}
                for n in ("a", "b", "c")]
    return {"run": "20260101-000000-abcd", "state": "failed", "exit_code": 1, "message": "", "duration": 2.0,
            "counts": {"total": 4, "passed": 1, "failed": 3},
            "limits": {"memory": 1 << 30, "cpus": 1.0, "pids": 10},
            "failures": failures, "flaky": [], "slowest": [], "log": "output.log", "junit": None, **fields}


def test_the_history_fields_and_each_failures_mark() -> None:
    """Runs compared, the previous run, new failures, flaky tests; each failure new, old or flaky."""
    data = with_history(_data(), VERDICT)
    assert data["history"] == {"runs": 3, "previous_run": "20251231-000000-aaaa", "new_failures": ["t.py::a"],
                               "flaky": ["t.py::c", "t.py::ok"], "problem": None}
    assert [f["history"] for f in data["failures"]] == ["new", "old", "flaky"]
    assert history_fields(None) is None
    assert [f["history"] for f in with_history(_data(), None)["failures"]] == [None, None, None]


def test_the_markdown_says_what_each_failure_is_and_lists_both() -> None:
    """Each failure line says new, failed last time too, or flaky; then the two sections."""
    lines = markdown(with_history(_data(), VERDICT)).splitlines()
    assert "- `t.py::a` (failed, new): `boom a`" in lines
    assert "- `t.py::b` (failed, failed in the last run too): `boom b`" in lines
    assert "- `t.py::c` (failed, flaky over the history): `boom c`" in lines
    start = lines.index(f"### New failures (not failing in the last run of this command, `{PREVIOUS}`)")
    assert lines[start + 1:start + 4] == ["", "- `t.py::a`", ""]
    start = lines.index("### Flaky over the history (failed and passed at the same code)")
    assert lines[start + 1:start + 5] == ["", "- `t.py::c`", "- `t.py::ok`", ""]


def test_no_section_without_a_test_to_name() -> None:
    """An empty history (a first run) adds no section and no mark."""
    text = markdown(with_history(_data(), Verdict()))
    assert "New failures" not in text
    assert "over the history" not in text
    assert "- `t.py::a` (failed): `boom a`" in text


def test_the_sections_are_capped_with_a_count() -> None:
    """Past the cap (the failures shown, and at least 50), a section says how many more there are."""
    many = Verdict(runs=1, previous="r1", new=tuple(f"t.py::t{i}" for i in range(60)))
    text = markdown(with_history(_data(), many), max_failures=2)
    assert "- `t.py::t49`\n- ... and 10 more\n" in text
    assert "- `t.py::t50`" not in text


def test_a_job_summary_with_no_failure_still_names_the_flaky_tests() -> None:
    """`wait --ci` shows as many failures as there are (0 here): the lists of flaky tests still
    name theirs, up to 50."""
    verdict = Verdict(runs=1, previous="r1", flaky=("t.py::ok",))
    data = _data(failures=[], flaky=[{"test": "t.py::rerun", "file": "t.py"}])
    text = markdown(with_history(data, verdict), max_failures=0)
    assert "### Flaky over the history (failed and passed at the same code)\n\n- `t.py::ok`\n" in text
    assert "### Flaky tests (passed after a rerun)\n\n- `t.py::rerun`\n" in text


def test_a_merge_gives_its_history_in_json_and_markdown(tmp_path: Path) -> None:
    """`report merge`: the JSON (valid under its schema) and the markdown carry the verdict;
    without one (bare JUnit files) the history is null."""
    (tmp_path / "junit.xml").write_text(
        '<testsuites><testsuite><testcase classname="t" name="a" file="t.py" time="1">'
        '<failure message="boom a">x</failure></testcase>'
        '<testcase classname="t" name="ok" file="t.py" time="1"/></testsuite></testsuites>')
    results = read_junit(tmp_path / "junit.xml")
    data = json.loads(merged_render(results, "json", 1, VERDICT))
    jsonschema.Draft202012Validator(load("merged")).validate(data)
    assert (data["failures"][0]["history"], data["history"]["new_failures"]) == ("new", ["t.py::a"])
    assert json.loads(merged_render(results, "json", 1))["history"] is None
    text = merged_render(results, "md", 1, VERDICT)
    assert "- `t.py::a` (failed, new): `boom a`" in text
    assert "### Flaky over the history (failed and passed at the same code)\n\n- `t.py::c`\n" in text


def test_the_markdown_has_the_resources_and_the_tests_that_grew_memory() -> None:
    """The test container's and each service's line, a warning near the limit, then the tests
    whose memory grew the most as a table; neither section without figures."""
    mib = 1 << 20
    resources = {"at": 1.0, "samples": 3, "warnings": [],
                 "test": {"memory": 412 * mib, "working_set": None, "peak": 900 * mib, "limit": 1000 * mib,
                          "cpu": 180.0, "pids": 37},
                 "services": {"db": {"memory": 120 * mib, "peak": 130 * mib}}}
    growth = [{"test": "t.py::hungry", "grew": 290 * mib, "before": 40 * mib, "after": 41 * mib,
               "peak": 330 * mib},
              {"test": "t.py::leaky", "grew": 5 * mib, "before": 40 * mib, "after": 45 * mib, "peak": None}]
    lines = markdown(_data(resources=resources, memory_growth=growth)).splitlines()
    start = lines.index("### Resources")
    assert lines[start:start + 7] == [
        "### Resources", "",
        "- test container: memory 412 MiB (peak 900 MiB of 1000 MiB, 90%) cpu 180% pids 37",
        "- service `db`: memory 120 MiB (peak 130 MiB)", "",
        "> **Warning:** the test container's memory peaked at 900 MiB, 90% of its 1000 MiB limit", ""]
    start = lines.index("### Most memory growth")
    assert lines[start + 2:start + 6] == [
        "| test | grew | at its start | at its end | new peak |", "|---|---|---|---|---|",
        "| `t.py::hungry` | 290 MiB | 40 MiB | 41 MiB | 330 MiB |",
        "| `t.py::leaky` | 5 MiB | 40 MiB | 45 MiB | - |"]
    plain = markdown(_data(resources=None, memory_growth=[]))
    assert "### Resources" not in plain and "memory growth" not in plain
