"""The report's values from a run directory: the log lines written while failures ran."""

from __future__ import annotations

from pathlib import Path

from envctl.report.html_model import LogLine
from envctl.runs.html_data import Spans, read_log_lines

T0 = 1_700_000_000.0


class _Counted(float):
    """A time that counts how often it is compared: the cost of one look-up, without a clock."""

    compared = 0

    def __lt__(self, other: object) -> bool:
        _Counted.compared += 1
        return float(self) < other  # type: ignore[operator]  # other is a float here

    def __le__(self, other: object) -> bool:
        _Counted.compared += 1
        return float(self) <= other  # type: ignore[operator]  # other is a float here


def test_spans_merge_overlaps_and_widen_by_the_slack() -> None:
    """Overlapping and touching windows become one span; each stop moves by the slack."""
    spans = Spans([(10.0, 12.0), (1.0, 2.0), (11.0, 15.0), (2.5, 3.0), (20.0, 19.0)], slack=0.5)
    assert (spans.starts, spans.stops) == ([1.0, 10.0, 20.0], [3.5, 15.5, 20.5])
    assert [at in spans for at in (0.9, 1.0, 2.2, 3.5, 3.6, 9.99, 15.5, 15.6, 20.5, 21.0)] == [
        False, True, True, True, False, False, True, False, True, False]


def test_a_time_is_placed_among_5000_windows_by_bisection() -> None:
    """One look-up among 5,000 windows costs at most 14 comparisons (a scan would cost thousands)."""
    spans = Spans([(T0 + 40 * j, T0 + 40 * j + 2) for j in range(5000)])
    _Counted.compared = 0
    assert _Counted(T0 + 40 * 4999 + 1) in spans
    assert 0 < _Counted.compared <= 14
    _Counted.compared = 0
    assert _Counted(T0 + 40 * 4999 + 3) not in spans
    assert 0 < _Counted.compared <= 14


def test_the_lines_of_5000_failures_in_a_200k_line_log(tmp_path: Path) -> None:
    """Line i arrived at T0 + i; failure j ran from T0 + 40j to T0 + 40j + 2 (failure 7 to
    + 41, over failure 8's start): exactly the lines of each window are picked, in log order."""
    lines = 200_000
    (tmp_path / "output.log").write_bytes(b"".join(b"line %d\n" % i for i in range(lines)))
    offsets, offset = [], 0
    for i in range(lines):
        offsets.append(f"{offset} {T0 + i!r}\n")
        offset += len(b"line %d\n" % i)
    (tmp_path / "output.times").write_text("".join(offsets))
    windows = [(T0 + 40 * j, T0 + 40 * j + (41 if j == 7 else 2)) for j in range(5000)]
    kept = read_log_lines(tmp_path, windows, slack=0.0)
    assert len(kept) == 5000 * 3 - 6 + 43  # failures 7 and 8 together: lines 280 to 322
    picked = {line.text for line in kept}
    for j in (0, 1, 2500, 4999):
        around = range(40 * j - 1, 40 * j + 4)
        assert [f"line {i}" in picked for i in around] == [False, True, True, True, False]
    assert [line.text for line in kept[:3]] == ["line 0", "line 1", "line 2"]
    assert kept[-1] == LogLine(T0 + 199_962, "line 199962")
    around_7 = [line.text for line in kept if line.at is not None and 280 <= line.at - T0 <= 330]
    assert around_7 == [f"line {i}" for i in range(280, 323)]


def test_a_line_is_the_failures_that_ended_it_or_else_began_it(tmp_path: Path) -> None:
    """A print finishing pytest's progress line (begun long before) goes with the failure it was
    printed in; a partial line a failure left, ended later, with that failure; a line neither
    begun nor ended in a failure is not kept."""
    chunks = [(T0, b"test_a.py .."), (T0 + 5, b"boom <b>\n"), (T0 + 6, b"."), (T0 + 9, b"x\n"),
              (T0 + 20, b"connecting"), (T0 + 30, b" F\n"), (T0 + 40, b"after\n")]
    (tmp_path / "output.log").write_bytes(b"".join(chunk for _at, chunk in chunks))
    offsets, offset = [], 0
    for at, chunk in chunks:
        offsets.append(f"{offset} {at!r}\n")
        offset += len(chunk)
    (tmp_path / "output.times").write_text("".join(offsets))
    kept = read_log_lines(tmp_path, [(T0 + 4.5, T0 + 5.5), (T0 + 19.5, T0 + 21)], slack=0.0)
    assert kept == [LogLine(T0 + 5, "test_a.py ..boom <b>"), LogLine(T0 + 20, "connecting F")]


def _xdist_run(tmp_path: Path) -> Path:
    """A run of three tests on two xdist workers, whose result events name their worker."""
    import json  # noqa: PLC0415

    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    (run_dir / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="t" name="test_a" file="t.py" time="1">'
        '<failure message="boom">x</failure></testcase>'
        + "".join(f'<testcase classname="t" name="test_{n}" file="t.py" time="1"/>' for n in "bc")
        + "</testsuite></testsuites>")
    events = [(T0, "start", "a", None), (T0 + 0.1, "start", "b", None), (T0 + 1, "result", "a", "gw1"),
              (T0 + 1.1, "start", "c", None), (T0 + 1.2, "result", "b", "gw0"),
              (T0 + 2, "result", "c", "gw1")]
    (run_dir / "events.jsonl").write_text("".join(
        json.dumps({"t": t, "kind": k, "nodeid": f"t.py::test_{n}", "outcome": "passed",
                    **({"worker": w} if w else {})}) + "\n" for t, k, n, w in events))
    return run_dir


def test_the_timeline_lanes_are_the_workers_the_plugin_named(tmp_path: Path) -> None:
    """Each test's lane is the xdist worker its result names (not a lane guessed from overlaps)."""
    from envctl.report.html_parts import lanes_of  # noqa: PLC0415
    from envctl.runs.html_data import html_run_from  # noqa: PLC0415
    from envctl.runs.state import Limits, RunRecord, RunState  # noqa: PLC0415

    run_dir = _xdist_run(tmp_path)
    record = RunRecord(id=run_dir.name, project="p", service="test", command=["pytest"],
                       limits=Limits(1 << 30, 1.0, 100), state=RunState.FAILED, finished_at=T0 + 5)
    run = html_run_from(run_dir, record)
    assert [c.worker for c in run.cases] == ["gw1", "gw0", "gw1"]
    assert lanes_of(run.cases) == (["gw0", "gw1"], [1, 0, 1])


def test_new_failures_need_an_earlier_run_of_the_command(tmp_path: Path) -> None:
    """With no earlier run of the same command in the history, no failure is called new; with
    one where it passed, it is."""
    from envctl.history import History, Outcome, command_key, load, record  # noqa: PLC0415
    from envctl.runs.html_data import html_run_from  # noqa: PLC0415
    from envctl.runs.state import Limits, RunRecord, RunState  # noqa: PLC0415

    run_dir = _xdist_run(tmp_path)
    run = RunRecord(id=run_dir.name, project="p", service="test", command=["pytest"],
                    limits=Limits(1 << 30, 1.0, 100), state=RunState.FAILED, finished_at=T0 + 5)
    assert html_run_from(run_dir, run, history=History()).new_failures == ()
    path = tmp_path / "history.jsonl"
    record(path, "20251231-000000-aaaa", command_key(["pytest"]), "",
           [Outcome("t.py::test_a", "passed", 1.0)], at=T0 - 100)
    assert html_run_from(run_dir, run, history=load(path)).new_failures == ("t.py::test_a",)
