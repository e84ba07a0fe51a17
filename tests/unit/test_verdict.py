"""What the history says of a run: new, old and flaky failures, the run's flaky tests, read the
same whether the run is recorded yet or not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from envctl.history import (
    FLAKY,
    NEW,
    OLD,
    History,
    Outcome,
    Verdict,
    code_key,
    command_key,
    load,
    record,
    verdict,
)
from envctl.history.verdict import merged_run_id

CMD = command_key(["pytest", "-q"])
OTHER = command_key(["pytest", "tests/unit"])


def _run(path: Path, run_id: str, outcomes: dict[str, str], *, code: str = "abc", command: str = CMD,
         at: float = 0.0) -> History:
    return record(path, run_id, command, code, [Outcome(n, o, 1.0) for n, o in outcomes.items()], at=at)


def _now(outcomes: dict[str, str]) -> list[Outcome]:
    return [Outcome(n, o, 1.0) for n, o in outcomes.items()]


def test_new_and_old_against_the_last_run_of_the_same_command(tmp_path: Path) -> None:
    """A failure is new unless the last run of the same command failed it too (another command's
    run between them does not count); a test that did not run then is new."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::old": "failed", "t::new": "passed"})
    _run(path, "r2", {"t::old": "passed", "t::new": "passed"}, command=OTHER)
    found = verdict(load(path), _now({"t::old": "failed", "t::new": "error", "t::ok": "passed",
                                      "t::unseen": "failed"}), run_id="r3", command=CMD, code="")
    assert found == Verdict(runs=2, previous="r1", new=("t::new", "t::unseen"), flaky=(),
                            marks={"t::old": OLD, "t::new": NEW, "t::unseen": NEW})


def test_without_a_previous_run_nothing_is_new_or_old(tmp_path: Path) -> None:
    """No run of the command recorded: the history cannot say, so no failure is marked."""
    found = verdict(History(), _now({"t::a": "failed"}), run_id="r1", command=CMD, code="c1")
    assert found == Verdict(runs=0, previous=None, new=(), flaky=(), marks={})
    assert found.mark("t::a") is None


def test_a_recorded_run_reads_as_before_its_record(tmp_path: Path) -> None:
    """Once the run is in the history, it is compared with the runs before it, with the code it
    was recorded at: the same verdict as before its record."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed", "t::b": "failed"}, code="c1")
    now = {"t::a": "failed", "t::b": "passed"}
    before = verdict(load(path), _now(now), run_id="r2", command=CMD, code="c1")
    _run(path, "r2", now, code="c1")
    _run(path, "r3", {"t::a": "failed"}, code="c2")
    after = verdict(load(path), _now(now), run_id="r2", command=CMD, code="unused: r2 says c1")
    assert before == Verdict(runs=1, previous="r1", new=("t::a",), flaky=("t::a", "t::b"),
                             marks={"t::a": FLAKY})
    assert after == replace(before, runs=2)  # r3 is compared with too, for flakiness


def test_a_run_no_longer_recorded_is_compared_with_the_runs_before_its_end(tmp_path: Path) -> None:
    """A run trimmed from the history (or not yet in it) is compared with runs that ended
    before it, not with later ones."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "failed"}, code="", at=100.0)
    _run(path, "r3", {"t::a": "passed"}, code="", at=300.0)
    found = verdict(load(path), _now({"t::a": "failed"}), run_id="r2", command=CMD, code="", before=200.0)
    assert (found.previous, found.mark("t::a")) == ("r1", OLD)


def test_flaky_needs_the_same_code_and_command(tmp_path: Path) -> None:
    """Failed and passed at one code (this run counting) is flaky; at different codes, or under
    another command, it is not; runs without a code never count."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::same": "failed"})
    _run(path, "r2", {"t::fixed": "failed"}, code="old")
    _run(path, "r3", {"t::fixed": "passed"}, code="def")
    _run(path, "r4", {"t::other": "passed"}, command=OTHER)
    _run(path, "r5", {"t::nocode": "failed"}, code="")
    now = _now({"t::same": "passed", "t::fixed": "passed", "t::other": "failed", "t::nocode": "passed"})
    assert verdict(load(path), now, run_id="r6", command=CMD, code="abc").flaky == ("t::same",)
    assert verdict(load(path), now, run_id="r6", command=CMD, code="").flaky == ()


def test_a_flaky_failure_is_marked_flaky(tmp_path: Path) -> None:
    """A failure that passed at this code before is flaky over the history, even when new."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed", "t::b": "passed"})
    found = verdict(load(path), _now({"t::a": "failed", "t::b": "failed"}), run_id="r2", command=CMD,
                    code="abc")
    assert (found.new, found.flaky, dict(found.marks)) == (("t::a", "t::b"), ("t::a", "t::b"),
                                                           {"t::a": FLAKY, "t::b": FLAKY})


def test_a_test_reported_twice_counts_as_failed(tmp_path: Path) -> None:
    """A call that passed and a teardown that errored is one failing test, never flaky alone."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed"}, code="other")
    now = [Outcome("t::a", "passed", 1.0), Outcome("t::a", "error", 0.0)]
    found = verdict(load(path), now, run_id="r2", command=CMD, code="abc")
    assert (found.new, found.flaky, found.mark("t::a")) == (("t::a",), (), NEW)


def test_a_pass_after_a_rerun_counts_as_passed(tmp_path: Path) -> None:
    """A test that failed at this code before and passes after a rerun now is flaky."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "failed"})
    now = [Outcome("t::a", "passed", 1.0, flaky=True)]
    assert verdict(load(path), now, run_id="r2", command=CMD, code="abc").flaky == ("t::a",)


def test_a_damaged_history_says_so(tmp_path: Path) -> None:
    """What the history file's reader found wrong is the verdict's problem."""
    path = tmp_path / "history.jsonl"
    path.write_text("not json\n")
    assert verdict(load(path), [], run_id="r1", command=CMD, code="").problem == "its header is damaged"


def test_the_code_key_comes_from_ci() -> None:
    """The commit CI names is the code key; none known is empty."""
    assert code_key({"GITHUB_SHA": "abc123"}) == "abc123"
    assert code_key({"ENVCTL_CODE": "v1", "GITHUB_SHA": "abc"}) == "v1"
    assert code_key({}) == ""


def test_a_merges_id_is_the_same_for_the_same_runs() -> None:
    """The same runs, in any order or named twice, give one id: a merge re-run replaces its record."""
    assert merged_run_id(["b", "a"]) == merged_run_id(["a", "b", "a"]) == "merge-7e18f737311b"
    assert merged_run_id(["a", "c"]) != "merge-7e18f737311b"
