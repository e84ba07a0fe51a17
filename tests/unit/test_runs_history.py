"""An ended run's outcomes go into the history beside the runs; shards and unended runs do not."""

from __future__ import annotations

from pathlib import Path

from envctl.history import HISTORY_FILE, load
from envctl.runs import lifecycle
from envctl.runs.history import code_key, record_history
from envctl.runs.state import Limits, RunRecord, RunState

JUNIT = """<testsuites><testsuite>
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" time="0.5"/>
<testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" time="1.5">
<failure message="boom">x</failure></testcase></testsuite></testsuites>"""


def _run(tmp_path: Path, run_id: str, state: RunState, parent: str | None = None) -> Path:
    run_dir = tmp_path / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "junit.xml").write_text(JUNIT)
    lifecycle.save(run_dir, RunRecord(id=run_id, project="p", service="test", command=["pytest", "-q"],
                                      limits=Limits(1, 1.0, 1), state=state, parent=parent,
                                      finished_at=100.0))
    return run_dir


def test_an_ended_run_is_recorded_with_each_test(tmp_path: Path) -> None:
    """Each case's outcome and duration, under the run's command; again it replaces, not adds."""
    run_dir = _run(tmp_path, "20260101-000000-abcd", RunState.FAILED)
    record_history(run_dir, RunRecord.load(run_dir))
    record_history(run_dir, RunRecord.load(run_dir))
    history = load(tmp_path / HISTORY_FILE)
    assert history.last_outcomes("tests/test_a.py::test_bad") == "f"
    assert history.last_outcomes("tests/test_a.py::test_ok") == "p"


def test_shards_and_running_runs_are_not_recorded(tmp_path: Path) -> None:
    """A shard (its parent records the suite) and a run still going leave no history."""
    shard = _run(tmp_path, "20260101-000000-aaaa", RunState.FAILED, parent="20260101-000000-bbbb")
    running = _run(tmp_path, "20260101-000000-cccc", RunState.RUNNING)
    record_history(shard, RunRecord.load(shard))
    record_history(running, RunRecord.load(running))
    assert not (tmp_path / HISTORY_FILE).exists()


def test_the_code_key_comes_from_ci() -> None:
    """The commit CI names is the code key; none known is empty."""
    assert code_key({"GITHUB_SHA": "abc123"}) == "abc123"
    assert code_key({"ENVCTL_CODE": "v1", "GITHUB_SHA": "abc"}) == "v1"
    assert code_key({}) == ""
