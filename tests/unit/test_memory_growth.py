"""The tests during which memory grew the most, and the plugin's peak, read from the events the
test container wrote (untrusted: bounded, cleaned, never above the limit)."""

from __future__ import annotations

import json
from pathlib import Path

from envctl.report.usage import Growth
from envctl.runs import exchange
from envctl.runs.memory_growth import parse_memory_event, plugin_peak, read_growth

MIB = 1 << 20


def with_events(tmp_path: Path, lines: list[object]) -> Path:
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    exchange.create_dirs(run_dir)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (exchange.box(run_dir) / exchange.EVENTS_FILE).write_text(text)
    return run_dir


def memory(nodeid: str, before: int, after: int, peak: int | None = None) -> dict[str, object]:
    event: dict[str, object] = {"t": 1.0, "kind": "memory", "nodeid": nodeid, "before": before,
                                "after": after}
    if peak is not None:
        event["peak"] = peak
    return event


def test_the_largest_growths_come_first_ties_in_run_order(tmp_path: Path) -> None:
    """The top ones by growth (to a new peak when the test set one), most first; equal growths
    keep the order they ran in."""
    run_dir = with_events(tmp_path, [
        {"kind": "start", "nodeid": "t.py::a"}, memory("t.py::a", 0, 5 * MIB),
        memory("t.py::b", 0, 50 * MIB, peak=60 * MIB), memory("t.py::c", 10 * MIB, 15 * MIB),
        memory("t.py::d", 100 * MIB, 20 * MIB, peak=107 * MIB), memory("t.py::e", 0, 7 * MIB),
    ])
    growth, peak = read_growth(run_dir, top=3)
    assert [(g.test, g.grew) for g in growth] == [("t.py::b", 60 * MIB), ("t.py::d", 7 * MIB),
                                                  ("t.py::e", 7 * MIB)]
    assert growth[0] == Growth("t.py::b", 0, 50 * MIB, 60 * MIB)
    assert peak == 107 * MIB


def test_a_test_that_allocates_and_frees_grew_to_its_peak(tmp_path: Path) -> None:
    """Its usage at the end is back where it started; the peak it set says how far it went."""
    run_dir = with_events(tmp_path, [memory("t.py::hungry", 40 * MIB, 41 * MIB, peak=330 * MIB)])
    assert read_growth(run_dir)[0][0].grew == 290 * MIB
    capped = read_growth(run_dir, limit=256 * MIB)
    assert (capped[0][0].grew, capped[1]) == (216 * MIB, 256 * MIB)


def test_hostile_events_are_skipped(tmp_path: Path) -> None:
    """Numbers out of bounds, wrong types, no node id, odd kinds, overlong or broken lines."""
    run_dir = with_events(tmp_path, [
        memory("t.py::neg", -1, MIB), memory("t.py::bool", 0, True),
        {"kind": "memory", "nodeid": "t.py::float", "before": 0, "after": 1.5e9},
        {"kind": "memory", "nodeid": 5, "before": 0, "after": MIB},
        {"kind": "result", "nodeid": "t.py::other", "before": 0, "after": MIB, "note": "memory"},
        memory("t.py::huge", 0, 10**30), "{\"kind\": \"memory\", broken",
        json.dumps(memory("t.py::long", 0, MIB)) + " " * 5000,
        memory("t.py::esc\x1b[2J", 0, 2 * MIB, peak=10**19),
    ])
    growth, peak = read_growth(run_dir)
    assert growth == [Growth("t.py::esc?[2J", 0, 2 * MIB)]  # its peak is past any size: none
    assert peak is None  # 10**19 is past any size


def test_the_plugins_peak_is_never_above_the_limit(tmp_path: Path) -> None:
    """A test that claims more than the limit allowed is cut to the limit; without a limit, unknown."""
    run_dir = with_events(tmp_path, [memory("t.py::a", 0, MIB, peak=4 << 30)])
    assert plugin_peak(run_dir, 1 << 30) == 1 << 30
    assert plugin_peak(run_dir, 8 << 30) == 4 << 30
    assert plugin_peak(run_dir, None) is None


def test_no_events_no_growth(tmp_path: Path) -> None:
    """A run without the plugin (or before its first event) has nothing to list."""
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    assert read_growth(run_dir) == ([], None)
    assert plugin_peak(run_dir, 1 << 30) is None


def test_an_event_is_parsed_with_its_peak() -> None:
    """One line: the growth and the peak then."""
    line = json.dumps(memory("t.py::a", 1, 3, peak=9)).encode()
    assert parse_memory_event(line) == (Growth("t.py::a", 1, 3, 9), 9)
    assert parse_memory_event(b'{"kind": "start", "nodeid": "t.py::a"}') is None
