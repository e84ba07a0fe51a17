"""Progress from the plugin's snapshot, from pytest's own output, and the interrupted test."""

import json

from envctl.runs.exchange import box, create_dirs, running_test
from envctl.runs.progress import collected_total, counts_from_output, read_progress
from tests.unit import pytest_numbers


def test_snapshot_gives_counts_rate_and_eta(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """progress.json is the source: done/total, rate and ETA follow from it."""
    create_dirs(tmp_path)
    (box(tmp_path) / "progress.json").write_text(json.dumps({
        "total": 100, "done": 25, "passed": 24, "failed": 1, "skipped": 0, "errors": 0,
        "current": "t.py::x", "started": 1000.0, "updated": 1010.0}))
    progress = read_progress(tmp_path)
    assert progress.source == "plugin"
    assert progress.counts.failed == 1
    assert progress.rate == 2.5
    assert progress.eta == 30.0
    assert progress.fraction == 0.25
    assert progress.current == "t.py::x"


def test_output_fallback_parses_the_summary_line() -> None:
    """Without the plugin, pytest's last line gives the counts."""
    counts = counts_from_output(["collected 7 items", "...",
                                 "===== 2 failed, 4 passed, 1 skipped, 3 warnings in 1.20s ====="])
    assert counts is not None
    assert (counts.total, counts.passed, counts.failed, counts.skipped) == (7, 4, 2, 1)
    assert counts_from_output(["no summary"]) is None


def test_running_test_after_an_interrupt(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The test with a start and no result is named, even after the session finished."""
    events = [{"kind": "start", "nodeid": "a"}, {"kind": "result", "nodeid": "a", "outcome": "passed"},
              {"kind": "start", "nodeid": "b"}, {"kind": "finish", "exitstatus": 2}]
    create_dirs(tmp_path)
    (box(tmp_path) / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    assert running_test(tmp_path) == "b"


def test_no_running_test_after_a_clean_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every started test reported: nothing was running."""
    events = [{"kind": "start", "nodeid": "a"}, {"kind": "result", "nodeid": "a", "outcome": "passed"},
              {"kind": "finish", "exitstatus": 0}]
    create_dirs(tmp_path)
    (box(tmp_path) / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    assert running_test(tmp_path) is None


def test_percent_column_gives_progress_without_the_plugin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No snapshot, run still going: done/total from pytest's own [ NN%] column."""
    (tmp_path / "output.log").write_text("collected 200 items\n\ntests/test_a.py ....F..... [ 25%]\n"
                                         "tests/test_b.py ....                        [ 50%]\n")
    progress = read_progress(tmp_path)
    assert progress.source == "output"
    assert (progress.counts.total, progress.counts.done, progress.counts.failed) == (200, 100, 1)


def test_numbers_without_bound_are_not_counts() -> None:
    """'collected <5000 digits> items' and a summary with such a number give no count, not a crash."""
    from envctl.runs.progress import counts_from_percent  # noqa: PLC0415
    from envctl.runs.state import Counts  # noqa: PLC0415

    huge = "9" * 5000
    assert counts_from_percent(f"collected {huge} items", ["tests/test_a.py .. [ 50%]"]) == Counts(
        total=None, done=0, failed=0)
    counts = counts_from_output([f"collected {huge} items", f"== {huge} passed, 2 failed in 1.0s =="])
    assert counts is not None
    assert (counts.total, counts.passed, counts.failed, counts.done) == (2, 0, 2, 2)


def test_output_fallback_gives_pytests_numbers() -> None:
    """Without the plugin: the header's selected tests and the module skipped at collection make
    the total, the summary line pytest's categories, and the ended run's done is its total."""
    counts = counts_from_output([pytest_numbers.COLLECTED_LINE, "",
                                 f"==== {pytest_numbers.PYTEST_LINE} in 0.05s ===="])
    assert counts is not None
    assert {key: getattr(counts, key) for key in pytest_numbers.NUMBERS} == pytest_numbers.NUMBERS
    assert collected_total("collected 12 items / 2 errors") == 14
    assert collected_total("collected 5 items / 3 deselected") == 2
    assert collected_total("no header") is None
