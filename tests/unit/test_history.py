"""The compact test history: recording, bounds, queries, and damaged files."""

from __future__ import annotations

import json
from pathlib import Path

from envctl.history import History, Outcome, command_key, load, record, views

CMD = command_key(["pytest", "-q"])
OTHER = command_key(["pytest", "tests/unit"])


def _run(path: Path, run_id: str, outcomes: dict[str, str], *, code: str = "abc", command: str = CMD,
         duration: float = 1.0) -> History:
    return record(path, run_id, command, code,
                  [Outcome(n, o, duration) for n, o in outcomes.items()])


def test_missing_file_is_an_empty_history(tmp_path: Path) -> None:
    """No file: no runs, no tests, no problem."""
    history = load(tmp_path / "history.jsonl")
    assert (history.runs, history.tests, history.problem) == ([], {}, None)


def test_record_appends_one_column_per_run(tmp_path: Path) -> None:
    """Each run adds one letter per test; a test absent from a run gets '-'."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed", "t::b": "failed"})
    _run(path, "r2", {"t::a": "failed", "t::c": "skipped"})
    history = load(path)
    assert [r.run_id for r in history.runs] == ["r1", "r2"]
    assert history.last_outcomes("t::a") == "pf"
    assert history.last_outcomes("t::b") == "f-"
    assert history.last_outcomes("t::c") == "-s"
    assert history.last_outcomes("t::missing") == ""


def test_rerecording_a_run_replaces_it(tmp_path: Path) -> None:
    """Recording the same run id twice keeps one column, the latest."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed"})
    _run(path, "r1", {"t::a": "failed"})
    history = load(path)
    assert ([r.run_id for r in history.runs], history.last_outcomes("t::a")) == (["r1"], "f")


def test_flaky_rerun_letter(tmp_path: Path) -> None:
    """A pass after a rerun is recorded as 'r'."""
    path = tmp_path / "history.jsonl"
    record(path, "r1", CMD, "abc", [Outcome("t::a", "passed", 0.5, flaky=True)])
    assert load(path).last_outcomes("t::a") == "r"


def test_bounded_to_max_runs_and_tests_of_dropped_runs_go(tmp_path: Path) -> None:
    """Only the last max_runs runs stay; a test in none of them is dropped."""
    path = tmp_path / "history.jsonl"
    record(path, "r0", CMD, "", [Outcome("t::gone", "passed", 1.0)], max_runs=3)
    for i in range(1, 5):
        record(path, f"r{i}", CMD, "", [Outcome("t::a", "passed", 1.0)], max_runs=3)
    history = load(path)
    assert [r.run_id for r in history.runs] == ["r2", "r3", "r4"]
    assert list(history.tests) == ["t::a"]


def test_bounded_in_bytes(tmp_path: Path) -> None:
    """Past max_bytes the oldest runs go until the file fits."""
    path = tmp_path / "history.jsonl"
    cases = {f"tests/test_{i}.py::test_{i}": "passed" for i in range(200)}
    for i in range(8):
        record(path, f"r{i}", CMD, "", [Outcome(n, o, 1.0) for n, o in cases.items()], max_bytes=10_000)
    assert path.stat().st_size <= 10_000
    assert load(path).runs[-1].run_id == "r7"
    assert len(load(path).runs) < 8


def test_durations_p50_p95(tmp_path: Path) -> None:
    """p50 and p95 are nearest-rank percentiles over the runs the test ran in."""
    path = tmp_path / "history.jsonl"
    for i in range(1, 21):
        _run(path, f"r{i:02d}", {"t::a": "passed"}, duration=float(i))
    assert load(path).durations("t::a") == (10.0, 19.0)
    assert load(path).durations("t::none") is None


def test_flaky_needs_the_same_code(tmp_path: Path) -> None:
    """Failed and passed at the same code is flaky; at different codes it is not."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::same": "failed", "t::fixed": "failed"}, code="c1")
    _run(path, "r2", {"t::same": "passed"}, code="c1")
    _run(path, "r3", {"t::fixed": "passed"}, code="c2")
    assert load(path).flaky() == ["t::same"]


def test_flaky_ignores_runs_without_code(tmp_path: Path) -> None:
    """Runs with no code key never make a test flaky."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "failed"}, code="")
    _run(path, "r2", {"t::a": "passed"}, code="")
    assert load(path).flaky() == []


def test_new_failures_against_the_last_run_of_the_same_command(tmp_path: Path) -> None:
    """A failure is new unless the last run of the same command failed it too."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::old": "failed", "t::new": "passed"})
    _run(path, "r2", {"t::old": "passed", "t::new": "passed"}, command=OTHER)
    history = load(path)
    now = [Outcome("t::old", "failed", 1.0), Outcome("t::new", "error", 1.0), Outcome("t::ok", "passed", 1.0),
           Outcome("t::unseen", "failed", 1.0)]
    assert history.new_failures(now, CMD) == ["t::new", "t::unseen"]


def test_new_failures_excludes_the_current_run(tmp_path: Path) -> None:
    """With the current run already recorded, it is skipped when looking for the last run."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed"})
    _run(path, "r2", {"t::a": "failed"})
    history = load(path)
    now = [Outcome("t::a", "failed", 1.0)]
    assert history.new_failures(now, CMD, exclude_run="r2") == ["t::a"]
    assert history.new_failures(now, CMD) == []


def test_new_failures_without_a_previous_run(tmp_path: Path) -> None:
    """With no run of that command recorded, every failure is new."""
    assert History().new_failures([Outcome("t::a", "failed", 1.0)], CMD) == ["t::a"]


def test_damaged_lines_are_skipped(tmp_path: Path) -> None:
    """A cut or edited line is skipped and said; the rest is read."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed", "t::b": "failed", "t::c": "passed"})
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:7]
    lines.append('["t::d","zz",[1,2]]')
    path.write_text("\n".join(lines) + "\n")
    history = load(path)
    assert sorted(history.tests) == ["t::a", "t::c"]
    assert history.problem == "2 damaged lines skipped"


def test_damaged_header_gives_an_empty_history(tmp_path: Path) -> None:
    """A header that is not envctl's gives no runs and says so, never an exception."""
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\x00\xff garbage\n[1,2,3]\n")
    history = load(path)
    assert (history.runs, history.tests, history.problem) == ([], {}, "its header is damaged")


def test_recording_over_a_damaged_file_starts_afresh(tmp_path: Path) -> None:
    """Recording over a damaged file keeps what could be read, and writes a good one."""
    path = tmp_path / "history.jsonl"
    path.write_text("not json\n")
    _run(path, "r1", {"t::a": "passed"})
    assert (load(path).last_outcomes("t::a"), load(path).problem) == ("p", None)


def test_a_link_is_not_followed(tmp_path: Path) -> None:
    """A history file that is a symlink is not read."""
    target = tmp_path / "elsewhere.jsonl"
    _run(target, "r1", {"t::a": "passed"})
    link = tmp_path / "history.jsonl"
    link.symlink_to(target)
    history = load(link)
    assert (history.tests, history.problem) == ({}, "not read: is a symbolic link")


def test_file_is_private_and_compact(tmp_path: Path) -> None:
    """The file is 0600, and one test over one run is one short line."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed"}, duration=0.25)
    assert path.stat().st_mode & 0o777 == 0o600
    header, line = path.read_text().splitlines()
    assert json.loads(header)["runs"] == [{"run": "r1", "command": CMD, "code": "abc", "at": 0.0}]
    assert line == '["t::a","p",[250]]'


def test_control_characters_in_names_are_cleaned(tmp_path: Path) -> None:
    """Node ids from the container lose their control characters on the way in."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a\x1b[31m\n": "passed"})
    assert list(load(path).tests) == ["t::a?[31m?"]


def test_views_for_the_report(tmp_path: Path) -> None:
    """views() gives strip, p50 and p95 for the tests asked about that it knows."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed"}, duration=2.0)
    assert dict(views(load(path), ["t::a", "t::b"])) == {"t::a": ("p", 2.0, 2.0)}


def test_command_key_is_stable() -> None:
    """The same argv gives the same key; another gives another."""
    assert command_key(["pytest", "-q"]) == CMD
    assert command_key(["pytest"]) != CMD
    assert len(CMD) == 16
