"""The compact test history: recording, bounds, queries, and damaged files."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

import pytest

from envctl.errors import EnvironmentFailedError
from envctl.files import write_private
from envctl.history import History, Outcome, command_key, load, record, store, views

CMD = command_key(["pytest", "-q"])


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


def _hostile_file(path: Path, header_runs: str, *rows: str) -> None:
    header = '{"schema":"envctl/history/1","runs":[' + header_runs + "]}\n"
    path.write_text(header + "".join(row + "\n" for row in rows))


def test_hostile_numbers_in_the_header_are_no_crash(tmp_path: Path) -> None:
    """A 400-digit, boolean, NaN or negative "at" or "cut" reads as 0; load never raises on them."""
    path = tmp_path / "history.jsonl"
    huge = "1" + "0" * 400
    _hostile_file(path, f'{{"run":"r1","at":{huge},"cut":{huge}}},{{"run":"r2","at":true,"cut":true}},'
                        '{"run":"r3","at":NaN,"cut":-1},{"run":"r4","at":-5,"command":7,"code":[1]},'
                        '{"run":"r5","at":1700000000.5,"cut":3}',
                  '["t::a","ppppp",[1,2,3,4,5]]')
    history = load(path)
    assert [(r.run_id, r.command, r.code, r.at, r.cut) for r in history.runs] == [
        ("r1", "", "", 0.0, 0), ("r2", "", "", 0.0, 0), ("r3", "", "", 0.0, 0), ("r4", "", "", 0.0, 0),
        ("r5", "", "", 1700000000.5, 3)]
    assert (history.last_outcomes("t::a"), history.problem) == ("ppppp", None)


def test_hostile_numbers_in_a_line_are_skipped_or_dropped(tmp_path: Path) -> None:
    """Durations that are bools, huge ints, floats or negative read as unknown; a line whose
    name is a number is skipped; the rest is read."""
    path = tmp_path / "history.jsonl"
    _hostile_file(path, '{"run":"r1"},{"run":"r2"},{"run":"r3"},{"run":"r4"},{"run":"r5"}',
                  f'["t::a","ppppp",[true,{"9" * 400},1.5,-1,250]]', '[12,"ppppp",[1,2,3,4,5]]')
    history = load(path)
    assert history.tests == {"t::a": ("ppppp", [None, None, None, None, 250])}
    assert history.problem == "1 damaged lines skipped"


def test_recording_over_a_hostile_header_keeps_the_history_going(tmp_path: Path) -> None:
    """A huge "at" no longer stops every later record: the next run is added to what was read."""
    path = tmp_path / "history.jsonl"
    _hostile_file(path, '{"run":"r1","at":1' + "0" * 400 + "}", '["t::a","f",[5]]')
    _run(path, "r2", {"t::a": "passed"})
    history = load(path)
    assert ([r.run_id for r in history.runs], history.last_outcomes("t::a")) == (["r1", "r2"], "fp")


def test_hostile_durations_and_times_are_recorded_as_unknown(tmp_path: Path) -> None:
    """A NaN, infinite or 400-digit duration (or end time) from a report is stored as unknown,
    never raises, and the file stays strict JSON."""
    path = tmp_path / "history.jsonl"
    cases = [Outcome("t::inf", "passed", float("inf")), Outcome("t::nan", "passed", float("nan")),
             Outcome("t::huge", "passed", 10**400), Outcome("t::neg", "passed", -2.0),
             Outcome("t::ok", "passed", 0.5)]
    record(path, "r1", CMD, "", cases, at=float("inf"))
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    history = load(path)
    assert history.runs[0].at == 0.0
    assert {n: d for n, (_, d) in history.tests.items()} == {
        "t::inf": [None], "t::nan": [None], "t::huge": [None], "t::neg": [0], "t::ok": [500]}


def test_a_run_larger_than_the_cap_is_kept_cut_with_a_marker(tmp_path: Path) -> None:
    """One run whose tests alone pass max_bytes is cut to fit, its failures first, and its
    header entry says how many tests were left out; the file never passes the cap."""
    path = tmp_path / "history.jsonl"
    _run(path, "r0", {"t::old": "passed"})
    cases = [Outcome(f"t::test_{i:03d}", "failed" if i % 50 == 49 else "passed", 1.0) for i in range(300)]
    record(path, "r1", CMD, "abc", cases, max_bytes=2000)
    assert path.stat().st_size == 113 + 69 * 27  # the header, and 69 lines of 27 bytes: 1976 <= 2000
    history = load(path)
    assert [(r.run_id, r.cut) for r in history.runs] == [("r1", 231)]
    assert json.loads(path.read_text().splitlines()[0])["runs"][0]["cut"] == 231
    kept = list(history.tests)
    assert len(kept) == 69
    assert kept[:6] == ["t::test_000", "t::test_001", "t::test_002", "t::test_003", "t::test_004",
                        "t::test_005"]
    failed = [f"t::test_{i:03d}" for i in (49, 99, 149, 199, 249, 299)]
    assert [n for n in kept if history.tests[n][0] == "f"] == failed


def test_a_cap_too_small_for_one_header_writes_nothing(tmp_path: Path) -> None:
    """A byte cap that cannot hold even the run's header is said, and the file is left as it was."""
    path = tmp_path / "history.jsonl"
    _run(path, "r0", {"t::a": "passed"})
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"the history's byte cap \(50\) cannot hold one run's header"):
        record(path, "r1", CMD, "abc", [Outcome("t::a", "passed", 1.0)], max_bytes=50)
    assert path.read_bytes() == before


def test_the_file_is_written_under_its_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the new file is written, the lock file beside it is held: another recorder waits."""
    path = tmp_path / "history.jsonl"
    seen: list[bool] = []

    def probing_write(target: Path, text: str) -> Path:
        fd = os.open(store.lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(False)
        except BlockingIOError:
            seen.append(True)
        finally:
            os.close(fd)
        return write_private(target, text)

    monkeypatch.setattr(store, "write_private", probing_write)
    _run(path, "r1", {"t::a": "passed"})
    assert (seen, store.lock_path(path).name) == ([True], "history.jsonl.lock")


def test_a_recorder_held_up_too_long_gives_up_and_writes_nothing(tmp_path: Path) -> None:
    """With the lock held elsewhere past the deadline, record raises and leaves the file alone."""
    path = tmp_path / "history.jsonl"
    _run(path, "r1", {"t::a": "passed"})
    before = path.read_bytes()
    fd = os.open(store.lock_path(path), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(EnvironmentFailedError, match="another envctl has been recording the test hist"):
            record(path, "r2", CMD, "", [Outcome("t::a", "failed", 1.0)], lock_timeout=0.0)
    finally:
        os.close(fd)
    assert path.read_bytes() == before


def test_concurrent_recorders_lose_no_run(tmp_path: Path) -> None:
    """Eight recorders at once (threads, each its own lock descriptor): every run is in the file."""
    path = tmp_path / "history.jsonl"
    start = threading.Barrier(8)

    def one(i: int) -> None:
        start.wait()
        _run(path, f"r{i}", {f"t::test_{i}": "passed", "t::shared": "failed"})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = load(path)
    assert sorted(r.run_id for r in history.runs) == [f"r{i}" for i in range(8)]
    assert history.last_outcomes("t::shared") == "f" * 8


def test_only_the_tests_asked_for_are_read(tmp_path: Path) -> None:
    """``only``: the lines of other tests are not parsed past their node id (a damaged one among
    them costs nothing); a node id with quotes and escapes is found as recorded."""
    path = tmp_path / "history.jsonl"
    odd = 't.py::test_x["a\\"b"]'
    _run(path, "r1", {"t::a": "passed", odd: "failed", "t::c": "passed"})
    with path.open("a") as handle:
        handle.write('["t::damaged", 3]\n["t::a" broken\n')
    history = load(path, {odd, "t::missing"})
    assert (list(history.tests), history.problem) == ([odd], None)
    assert history.last_outcomes(odd) == "f"
    assert load(path).problem == "2 damaged lines skipped"
