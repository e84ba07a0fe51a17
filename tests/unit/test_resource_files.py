"""resources.json and resources.jsonl: written by the collector, read in constant time by status,
the series capped by halving, everything read back bounded."""

from __future__ import annotations

import json
from pathlib import Path

from envctl.report.html_model import HtmlResources
from envctl.report.usage import Resources, Usage
from envctl.runs import exchange
from envctl.runs.resource_files import (
    RESOURCES_CAP,
    RESOURCES_FILE,
    SERIES_FILE,
    Point,
    Series,
    html_resources,
    read_resources,
    read_series,
    report_fields,
    write_resources,
)

MIB = 1 << 20


def test_the_figures_are_replaced_whole_and_read_back(tmp_path: Path) -> None:
    """Each write replaces the file (no temp file left), 0600, and reads back the same."""
    first = Resources(at=1.5, test=Usage(memory=MIB), samples=1)
    second = Resources(at=3.5, test=Usage(memory=2 * MIB, peak=2 * MIB), samples=2)
    write_resources(tmp_path, first)
    write_resources(tmp_path, second)
    assert read_resources(tmp_path) == second
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESOURCES_FILE]
    assert (tmp_path / RESOURCES_FILE).stat().st_mode & 0o777 == 0o600


def test_missing_damaged_or_oversized_figures_are_none(tmp_path: Path) -> None:
    """No file, a damaged one, one past the cap or a link: no figures, never a crash."""
    assert read_resources(tmp_path) is None
    (tmp_path / RESOURCES_FILE).write_text("{not json")
    assert read_resources(tmp_path) is None
    (tmp_path / RESOURCES_FILE).write_text(json.dumps({"x": "y" * RESOURCES_CAP}))
    assert read_resources(tmp_path) is None
    (tmp_path / RESOURCES_FILE).unlink()
    (tmp_path / "elsewhere.json").write_text(json.dumps(Resources(samples=4).to_json()))
    (tmp_path / RESOURCES_FILE).symlink_to(tmp_path / "elsewhere.json")
    assert read_resources(tmp_path) is None


def test_the_series_halves_when_full_and_keeps_every_other_sample_after(tmp_path: Path) -> None:
    """At the cap every other line goes and the stride doubles: the file stays under it."""
    series = Series(tmp_path, cap=4)
    for tick in range(8):
        series.add(Usage(memory=tick, working_set=tick), float(tick + 1))
    # Ticks 0-3 fill it (halved to 0, 2), then every other tick: 4, 6 (full again: halved to 0, 4).
    assert [p.memory for p in read_series(tmp_path, points=None)] == [0, 4]
    assert (series.stride, series.lines) == (4, 2)


def test_a_series_taken_over_goes_on_from_what_is_there(tmp_path: Path) -> None:
    """A collector that takes over appends to the series, halving it first when it is full."""
    first = Series(tmp_path, cap=10)
    for tick in range(5):
        first.add(Usage(memory=tick), float(tick + 1))
    again = Series(tmp_path, cap=5)
    assert (again.lines, again.stride) == (3, 2)
    assert [p.memory for p in read_series(tmp_path, points=None)] == [0, 2, 4]


def test_a_sample_with_no_memory_adds_no_point(tmp_path: Path) -> None:
    """Only figures make a point."""
    Series(tmp_path).add(Usage(pids=3), 1.0)
    assert read_series(tmp_path) == []


def test_reading_the_series_skips_what_is_not_a_point(tmp_path: Path) -> None:
    """Damaged lines, odd numbers and overlong lines are skipped; the rest reads in order."""
    lines = [b'{"t":1.0,"m":5,"w":4}', b"garbage", b'{"t":-1,"m":5}', b'{"t":2.0,"m":-3}', b"[1,2]",
             b'{"t":3.0,"m":7,"w":"x"}', b'{"t":4.0,"m":' + b"9" * 600 + b"}", b'{"t":5.0,"m":8}']
    (tmp_path / SERIES_FILE).write_bytes(b"\n".join(lines) + b"\n")
    assert read_series(tmp_path) == [Point(1.0, 5, 4), Point(3.0, 7, None), Point(5.0, 8, None)]


def test_a_long_series_is_thinned_with_its_highest_point_kept(tmp_path: Path) -> None:
    """About the points asked for, evenly spaced, and the peak always among them."""
    text = "".join(json.dumps({"t": float(i + 1), "m": 1000 if i == 77 else i}) + "\n" for i in range(1000))
    (tmp_path / SERIES_FILE).write_text(text)
    points = read_series(tmp_path, points=100)
    assert len(points) == 101
    assert max(p.memory for p in points) == 1000
    assert points[0].at == 1.0


def run_dir_with_growth(tmp_path: Path) -> Path:
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    exchange.create_dirs(run_dir)
    events = [{"kind": "memory", "nodeid": "t.py::test_big", "before": 10 * MIB, "after": 210 * MIB,
               "peak": 300 * MIB}]
    (exchange.box(run_dir) / exchange.EVENTS_FILE).write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_dir


def test_the_report_fields_hold_the_figures_and_the_growth(tmp_path: Path) -> None:
    """The report's two fields: the last figures with warnings, the tests that grew memory."""
    run_dir = run_dir_with_growth(tmp_path)
    assert report_fields(run_dir) == {"resources": None, "memory_growth": [
        {"test": "t.py::test_big", "grew": 290 * MIB, "before": 10 * MIB, "after": 210 * MIB,
         "peak": 300 * MIB}]}
    write_resources(run_dir, Resources(at=2.0, test=Usage(memory=MIB, peak=900 * MIB, limit=1000 * MIB)))
    assert report_fields(run_dir)["resources"] == {
        "at": 2.0, "samples": 0, "services": {},
        "test": {"memory": MIB, "working_set": None, "peak": 900 * MIB, "limit": 1000 * MIB, "cpu": None,
                 "pids": None},
        "warnings": ["the test container's memory peaked at 900 MiB, 90% of its 1000 MiB limit"],
        "on_host": False}


def test_the_html_values_are_built_from_the_run_folder(tmp_path: Path) -> None:
    """The curve's points, the lines, the warning and the growth; none for a run never sampled."""
    run_dir = run_dir_with_growth(tmp_path)
    assert html_resources(run_dir) is None
    write_resources(run_dir, Resources(at=2.0, test=Usage(memory=MIB, peak=900 * MIB, limit=1000 * MIB),
                                       services=(("db", Usage(memory=2 * MIB)),)))
    Series(run_dir).add(Usage(memory=MIB), 1.0)
    assert html_resources(run_dir) == HtmlResources(
        series=((1.0, MIB),), limit=1000 * MIB, test="memory 1 MiB (peak 900 MiB of 1000 MiB, 90%)",
        services=(("db", "memory 2 MiB"),),
        warnings=("the test container's memory peaked at 900 MiB, 90% of its 1000 MiB limit",),
        growth=(("t.py::test_big", 290 * MIB, 10 * MIB, 210 * MIB),))
    assert oct((run_dir / SERIES_FILE).stat().st_mode & 0o777) == "0o600"
