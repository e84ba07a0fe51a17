"""What a run did not finish, read from its events (written here as the plugin writes them)."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from envctl.runs import remainder
from envctl.runs.exchange import EVENTS_FILE, INPUT_DIR, box, create_dirs
from envctl.runs.remainder import SEGMENTS_CAP, SELECT_FILE, read_seen, remainder_of, write_selection

IDS = [f"tests/test_a.py::test_{n}" for n in range(1, 6)]


def events(*lines: dict[str, object]) -> bytes:
    return b"".join(json.dumps({"t": 1.0, **line}).encode() + b"\n" for line in lines)


def cut_short(collected: list[str], finished: list[str], running: list[str]) -> bytes:
    """A run's events: its collection, the tests that reported, those started and not reported."""
    lines: list[dict[str, object]] = [{"kind": "session", "path": "/src"},
                                      {"kind": "collected", "total": len(collected)},
                                      {"kind": "tests", "ids": collected}]
    for nodeid in finished:
        lines += [{"kind": "start", "nodeid": nodeid},
                  {"kind": "result", "nodeid": nodeid, "outcome": "passed", "when": "call", "duration": 0.1}]
    lines += [{"kind": "start", "nodeid": nodeid} for nodeid in running]
    return events(*lines)


def run_dir_with(tmp_path: Path, data: bytes) -> Path:
    run_dir = tmp_path / "runs" / "20260101-000000-abcd"
    run_dir.mkdir(parents=True)
    (run_dir / EVENTS_FILE).write_bytes(data)
    return run_dir


def test_the_remainder_is_what_never_started_and_what_was_running(tmp_path: Path) -> None:
    """Finished tests are left out; one running when the run ended and ones never started are
    run, in collection order."""
    run_dir = run_dir_with(tmp_path, cut_short(IDS, finished=IDS[:2], running=[IDS[2]]))
    left = remainder_of(read_seen(run_dir))
    assert left.nodeids == tuple(IDS[2:])
    assert (left.running, left.never_started, left.collected, left.finished, left.refused) == (1, 2, 5, 2, ())


def test_a_failed_setup_or_skip_counts_as_finished(tmp_path: Path) -> None:
    """A test whose outcome came at setup (error, skip) finished: only a test with no outcome is left."""
    run_dir = run_dir_with(tmp_path, events(
        {"kind": "collected", "total": 3}, {"kind": "tests", "ids": IDS[:3]},
        {"kind": "start", "nodeid": IDS[0]},
        {"kind": "result", "nodeid": IDS[0], "outcome": "error", "when": "setup"},
        {"kind": "start", "nodeid": IDS[1]},
        {"kind": "result", "nodeid": IDS[1], "outcome": "skipped", "when": "setup"}))
    assert remainder_of(read_seen(run_dir)).nodeids == (IDS[2],)


def test_the_live_exchange_file_is_read_before_the_copy_exists(tmp_path: Path) -> None:
    """No host copy yet: the container's events in the exchange folder are read."""
    run_dir = tmp_path / "runs" / "20260101-000000-abcd"
    run_dir.mkdir(parents=True)
    create_dirs(run_dir)
    (box(run_dir) / EVENTS_FILE).write_bytes(cut_short(IDS[:2], finished=IDS[:1], running=[]))
    assert remainder_of(read_seen(run_dir)).nodeids == (IDS[1],)


def test_hostile_ids_are_refused_never_run(tmp_path: Path) -> None:
    """Ids that are options, argument files, absolute paths, with control characters or too long
    are refused: listed, never selected; a non-string id is ignored."""
    hostile = ["-p evil", "@args", "/etc/passwd", "t.py::x\nthe next line", "t.py::" + "x" * 1000]
    run_dir = run_dir_with(tmp_path, events({"kind": "collected", "total": 7},
                                            {"kind": "tests", "ids": [IDS[0], *hostile, 7, IDS[1]]}))
    seen = read_seen(run_dir)
    left = remainder_of(seen)
    assert left.nodeids == (IDS[0], IDS[1])
    assert left.refused == tuple(hostile)
    assert seen.listed is True


def test_a_list_shorter_than_the_collection_is_not_whole(tmp_path: Path) -> None:
    """A collection of 3 that lists 2 ids (cut, or an envctl without the list) is not whole; nor is
    one whose total is no number."""
    short = run_dir_with(tmp_path, events({"kind": "collected", "total": 3},
                                          {"kind": "tests", "ids": IDS[:2]}))
    assert read_seen(short).listed is False
    odd = run_dir_with(tmp_path / "odd", events({"kind": "collected", "total": "3"},
                                                {"kind": "tests", "ids": IDS[:3]}))
    assert read_seen(odd).listed is False
    assert read_seen(tmp_path / "absent").listed is False


def test_ids_before_any_collection_are_not_taken(tmp_path: Path) -> None:
    """A ``tests`` line with no ``collected`` before it belongs to no collection: ignored."""
    run_dir = run_dir_with(tmp_path, events({"kind": "tests", "ids": IDS}, {"kind": "collected", "total": 0}))
    seen = read_seen(run_dir)
    assert (list(seen.collected), seen.listed) == ([], True)


def test_collections_past_the_cap_are_not_kept_and_not_whole(tmp_path: Path) -> None:
    """More ``collected`` lines than a run makes: SEGMENTS_CAP kept, the events not whole."""
    run_dir = run_dir_with(tmp_path, cut_short(IDS[:1], finished=[], running=[])
                           + b'{"kind":"collected","total":0}\n' * (SEGMENTS_CAP + 5))
    seen = read_seen(run_dir)
    assert (len(seen.segments), seen.cut, seen.listed) == (SEGMENTS_CAP, True, False)


def test_results_past_the_cap_are_not_kept_and_not_whole(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Results for more tests than IDS_CAP: the first IDS_CAP kept, the events not whole."""
    monkeypatch.setattr(remainder, "IDS_CAP", 3)
    run_dir = run_dir_with(tmp_path, cut_short(IDS[:2], finished=IDS, running=[]))
    seen = read_seen(run_dir)
    assert (seen.finished, seen.cut, seen.listed) == (set(IDS[:3]), True, False)


def test_starts_of_tests_never_collected_are_not_kept(tmp_path: Path) -> None:
    """A ``start`` is kept only for a collected test (the only ones it is asked of)."""
    strays: list[dict[str, object]] = [{"kind": "start", "nodeid": f"x.py::t{n}"} for n in range(100)]
    data = cut_short(IDS[:2], finished=[], running=[IDS[1]]) + events(*strays)
    assert read_seen(run_dir_with(tmp_path, data)).started == {IDS[1]}


def test_memory_stays_with_the_ids_kept(tmp_path: Path) -> None:
    """20,000 ``collected`` lines and 20,000 starts of tests never collected (about 1 MiB of
    events) leave the reading's peak under 512 KiB."""
    data = (cut_short(IDS[:1], finished=[], running=[]) + b'{"kind":"collected"}\n' * 20_000
            + b"".join(b'{"kind":"start","nodeid":"t.py::t%d"}\n' % n for n in range(20_000)))
    run_dir = run_dir_with(tmp_path, data)
    tracemalloc.start()
    try:
        read_seen(run_dir)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 << 10


def test_broken_lines_are_skipped(tmp_path: Path) -> None:
    """Lines that are not JSON objects change nothing."""
    run_dir = run_dir_with(tmp_path, b"not json\n[1, 2]\n" + cut_short(IDS[:1], finished=[], running=[]))
    assert remainder_of(read_seen(run_dir)).nodeids == (IDS[0],)


def test_the_selection_is_readable_by_any_uid_and_never_through_a_link(tmp_path: Path) -> None:
    """input/select.json: the ids as a JSON list, 0644; a planted link is not followed."""
    run_dir = tmp_path / "run"
    (run_dir / INPUT_DIR).mkdir(parents=True)
    write_selection(run_dir, tuple(IDS[:2]))
    path = run_dir / INPUT_DIR / SELECT_FILE
    assert json.loads(path.read_text()) == IDS[:2]
    assert path.stat().st_mode & 0o777 == 0o644
    other = tmp_path / "other"
    (other / INPUT_DIR).mkdir(parents=True)
    (other / INPUT_DIR / SELECT_FILE).symlink_to(tmp_path / "target")
    with pytest.raises(FileExistsError):
        write_selection(other, ("x",))
    assert not os.path.lexists(tmp_path / "target")
