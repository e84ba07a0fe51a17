"""What the test container hands back is read without following links, capped and cleaned."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from envctl.files import open_regular, read_regular
from envctl.runs import exchange
from envctl.runs.progress import read_progress
from envctl.runs.results import run_failures


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    exchange.create_dirs(path)
    return path


def box(run_dir: Path) -> Path:
    return exchange.box(run_dir)


def test_folders_are_writable_by_any_uid_inside_a_private_folder(run_dir: Path) -> None:
    """The exchange folder is 0777 (any container uid writes) inside a 0700 folder, outside the
    run dir; input/ is 0755 inside the 0700 run dir."""
    assert exchange.box(run_dir) == run_dir.parent / ".exchange" / run_dir.name
    assert exchange.box(run_dir).stat().st_mode & 0o777 == 0o777
    assert exchange.box(run_dir).parent.stat().st_mode & 0o777 == 0o700
    assert (run_dir / "input").stat().st_mode & 0o777 == 0o755
    assert run_dir.stat().st_mode & 0o777 == 0o700


def test_a_link_is_refused(run_dir: Path, tmp_path: Path) -> None:
    """A symlink to a host file is never opened."""
    secret = tmp_path / "secret"
    secret.write_text("host")
    (box(run_dir) / "junit.xml").symlink_to(secret)
    assert exchange.open_result(run_dir, "junit.xml") is None
    with pytest.raises(OSError, match="symbolic link"):
        open_regular(box(run_dir) / "junit.xml")


def test_a_fifo_is_refused_at_once(run_dir: Path) -> None:
    """A FIFO as events.jsonl does not hang the reader (no writer ever comes)."""
    os.mkfifo(box(run_dir) / "events.jsonl")
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(run_failures(run_dir)), daemon=True)
    reader.start()
    reader.join(5)  # a bound for a broken reader, not a measure: alive after it means it hung
    assert not reader.is_alive()
    assert result == [([], 0)]


def test_dev_zero_as_progress_does_not_exhaust_memory(run_dir: Path) -> None:
    """A link to /dev/zero as progress.json is refused; progress falls back to the log."""
    (box(run_dir) / "progress.json").symlink_to("/dev/zero")
    assert exchange.read_snapshot(run_dir) is None
    assert read_progress(run_dir).source == "none"


def test_a_hard_link_is_refused(run_dir: Path, tmp_path: Path) -> None:
    """A second name of some other file (st_nlink 2) is not read as the container's own."""
    other = tmp_path / "other"
    other.write_text("x")
    os.link(other, box(run_dir) / "junit.xml")
    assert exchange.open_result(run_dir, "junit.xml") is None


def test_reads_are_capped(run_dir: Path) -> None:
    """A file past its cap is an error, not a read into memory."""
    (box(run_dir) / "progress.json").write_bytes(b" " * (exchange.PROGRESS_CAP + 1))
    with pytest.raises(OSError, match="larger than"):
        read_regular(box(run_dir) / "progress.json", exchange.PROGRESS_CAP)
    assert exchange.read_snapshot(run_dir) is None


def test_the_snapshot_gives_pytests_deselected(run_dir: Path) -> None:
    """The plugin's "deselected" (-k, -m, --deselect, the other shards' tests) is read as a count."""
    (box(run_dir) / "progress.json").write_text(json.dumps({"total": 2, "done": 2, "passed": 2,
                                                            "deselected": 7}))
    snapshot = exchange.read_snapshot(run_dir)
    assert snapshot is not None
    assert (snapshot.counts["deselected"], snapshot.counts["total"]) == (7, 2)


def test_snapshot_values_are_validated_and_names_cleaned(run_dir: Path) -> None:
    """Wrong types become 0, and a test name cannot carry a newline into a CI log line."""
    (box(run_dir) / "progress.json").write_text(json.dumps({
        "total": "many", "done": -5, "passed": 3, "failed": True, "errors": 10**12,
        "current": "t.py::x\n::error::pwned", "started": "nan", "updated": 12.5}))
    snapshot = exchange.read_snapshot(run_dir)
    assert snapshot is not None
    assert snapshot.counts == {"total": 0, "done": 0, "passed": 3, "failed": 0, "skipped": 0,
                               "errors": 0, "xfailed": 0, "xpassed": 0, "flaky": 0, "deselected": 0}
    assert snapshot.current == "t.py::x?::error::pwned"
    assert (snapshot.started, snapshot.updated) == (None, 12.5)


def test_events_parse_and_skip_junk(run_dir: Path) -> None:
    """Broken lines are skipped; outcomes outside pytest's are dropped; node ids are cleaned."""
    lines = [b"not json", json.dumps({"kind": "result", "nodeid": "a.py::t\r", "outcome": "failed",
                                      "message": "boom", "path": "/s/a.py", "line": 3}).encode(),
             json.dumps({"kind": "result", "nodeid": "b.py::t", "outcome": "rerun"}).encode(), b"[]"]
    (box(run_dir) / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    failures, total = run_failures(run_dir)
    assert total == 1
    assert [(f.nodeid, f.outcome, f.message, f.file) for f in failures] == [
        ("a.py::t?", "failed", "boom", "a.py")]


@pytest.mark.parametrize(("nodeid", "ok"), [
    ("tests/test_a.py::test_x[1-2]", True), ("test_b_test.py::TestC::test_d", True),
    ("-pevil_plugin", False), ("--co", False), ("@args.txt", False), ("/etc/passwd::x", False),
    ("t.py::x\n-p", False), ("", False), (" t.py", False),
])
def test_rerun_arguments_are_never_options(nodeid: str, ok: bool) -> None:
    """A node id from the container becomes a pytest argument only if it cannot be an option."""
    assert (exchange.rerun_argument(nodeid) == nodeid) is ok


def test_copy_results_makes_host_copies_and_is_idempotent(run_dir: Path) -> None:
    """Collected results are copied into the run dir; a second copy replaces the first."""
    (box(run_dir) / "junit.xml").write_text("<testsuites/>")
    assert exchange.copy_results(run_dir) == []
    assert exchange.copy_results(run_dir) == []
    assert (run_dir / "junit.xml").read_text() == "<testsuites/>"
    assert (run_dir / "junit.xml").stat().st_mode & 0o777 == 0o600


def test_each_result_is_copied_under_its_own_cap_and_a_cut_is_said(run_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """JUnit past the JUnit reader's cap (small here), progress past its own: each cut and
    said, as the record's problems; events within theirs: whole."""
    assert exchange.RESULT_CAPS == {"junit.xml": 256 << 20, "events.jsonl": 512 << 20,
                                    "progress.json": 1 << 20}
    monkeypatch.setitem(exchange.RESULT_CAPS, "junit.xml", 10)
    monkeypatch.setitem(exchange.RESULT_CAPS, "progress.json", 5)
    for name in ("junit.xml", "events.jsonl", "progress.json"):
        (box(run_dir) / name).write_text("y" * 12)
    assert exchange.copy_results(run_dir) == ["junit.xml: larger than 10 bytes (0 MiB), cut there",
                                               "progress.json: larger than 5 bytes (0 MiB), cut there"]
    names = ("junit.xml", "events.jsonl", "progress.json")
    assert [len((run_dir / name).read_bytes()) for name in names] == [10, 12, 5]


def test_a_box_with_what_the_host_cannot_remove_stays_and_is_found_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder a non-root container left (0700, its uid: the host user cannot empty it; unit
    tests run as root, so the removal is faked): the box stays, and once its run is gone it is
    an orphan; a box whose run is there, or a name that is no run's, is not."""
    runs = tmp_path / "logs"
    kept, gone = runs / "20260101-000000-aaa1", runs / "20260101-000000-aaa2"
    for run_dir in (kept, gone):
        run_dir.mkdir(parents=True)
        exchange.create_dirs(run_dir)
        (box(run_dir) / "cache").mkdir()
        (box(run_dir) / "cache" / "data").write_text("x")
    (runs / ".exchange" / "not-a-run").mkdir()

    def refused(path: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(exchange, "remove_tree", refused)
    assert exchange.remove_box(gone) is False
    (gone / "input").rmdir()
    gone.rmdir()
    assert exchange.orphan_boxes(runs) == [box(gone)]
    monkeypatch.undo()
    assert exchange.remove_box(gone) is True
    assert exchange.remove_box(gone) is True  # gone already
    assert exchange.orphan_boxes(runs) == []
    assert exchange.orphan_boxes(tmp_path / "none") == []


def test_running_test_is_the_started_one_without_a_result(run_dir: Path) -> None:
    """From the events' tail: a start with no result."""
    events = [{"kind": "start", "nodeid": "a"}, {"kind": "result", "nodeid": "a", "outcome": "passed"},
              {"kind": "start", "nodeid": "b"}]
    (box(run_dir) / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    assert exchange.running_test(run_dir) == "b"


def test_clear_removes_what_the_container_left_without_following_it(run_dir: Path, tmp_path: Path) -> None:
    """Links, FIFOs and folders in the exchange dir go; what a link pointed at stays."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("x")
    (box(run_dir) / "link").symlink_to(target)
    os.mkfifo(box(run_dir) / "fifo")
    (box(run_dir) / "sub").mkdir()
    (box(run_dir) / "sub" / "inner").symlink_to(target)
    exchange.clear(run_dir)
    assert list(box(run_dir).iterdir()) == []
    assert (target / "keep").read_text() == "x"


def test_a_record_replaced_while_it_is_opened_is_opened_again(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An atomic rewrite between the check and the open (a record being updated) is no damage."""
    path = tmp_path / "run.json"
    path.write_text("old")
    real_open = os.open
    swapped = [False]

    def swap_then_open(*args: Any, **kwargs: Any) -> int:
        if not swapped[0]:
            swapped[0] = True
            (tmp_path / "new").write_text("new")
            (tmp_path / "new").replace(path)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(os, "open", swap_then_open)
    assert read_regular(path, 100) == b"new"


def test_the_session_root_is_the_first_events_absolute_path(run_dir: Path) -> None:
    """pytest's rootdir from the session event; a relative or missing one is no answer."""
    events = exchange.box(run_dir) / "events.jsonl"
    events.write_text(json.dumps({"kind": "session", "path": "/suite"}) + "\n")
    assert exchange.session_root(run_dir) == "/suite"
    events.write_text(json.dumps({"kind": "session", "path": "suite"}) + "\n")
    assert exchange.session_root(run_dir) is None
    events.write_text(json.dumps({"kind": "collected", "total": 1}) + "\n")
    assert exchange.session_root(run_dir) is None


def test_a_file_renamed_over_while_it_is_looked_at_is_looked_at_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stat that lands on the old inode of a record being replaced (no links left) is a race
    with the writer, not a damaged file: the name is looked up again."""
    import os  # noqa: PLC0415

    path = tmp_path / "run.json"
    path.write_text("{}")
    real_stat = os.stat
    calls = []

    def stat_once_unlinked(target: object, **kwargs: object) -> os.stat_result:
        result = real_stat(target, **kwargs)  # type: ignore[arg-type]
        calls.append(target)
        if len(calls) == 1:
            fields = list(result)
            fields[3] = 0  # st_nlink
            return os.stat_result(fields)
        return result

    monkeypatch.setattr(os, "stat", stat_once_unlinked)
    with open_regular(path) as handle:
        assert handle.read() == b"{}"
    assert len(calls) == 2


def test_durations_are_seeded_from_a_regular_file_only(tmp_path: Path) -> None:
    """A durations file that is a link (to a private host file) is never copied for the container."""
    from envctl.runs.exchange import DURATIONS_FILE, INPUT_DIR, seed_durations  # noqa: PLC0415

    secret = tmp_path / "secret"
    secret.write_text('{"password": 1}')
    secret.chmod(0o600)
    link = tmp_path / "durations.json"
    link.symlink_to(secret)
    run_dir = tmp_path / "run"
    (run_dir / INPUT_DIR).mkdir(parents=True)
    assert seed_durations(run_dir, link) is False
    assert not (run_dir / INPUT_DIR / DURATIONS_FILE).exists()
    link.unlink()
    link.write_text('{"tests/test_a.py::test_x": 1.5}')
    assert seed_durations(run_dir, link) is True
    seeded = run_dir / INPUT_DIR / DURATIONS_FILE
    assert (seeded.read_text(), seeded.stat().st_mode & 0o777) == ('{"tests/test_a.py::test_x": 1.5}', 0o644)


def test_a_box_replaced_by_a_link_is_unlinked_and_its_target_untouched(run_dir: Path, tmp_path: Path) -> None:
    """The container swapped its box for a link to a host folder: the link goes, not the folder."""
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep").write_text("mine")
    shutil.rmtree(exchange.box(run_dir))
    exchange.box(run_dir).symlink_to(victim)
    assert exchange.remove_box(run_dir) is True
    assert os.path.lexists(exchange.box(run_dir)) is False
    assert sorted(p.name for p in victim.iterdir()) == ["keep", "sub"]
    assert (victim / "keep").read_text() == "mine"


def test_a_box_reached_through_a_linked_exchange_root_is_neither_emptied_nor_removed(tmp_path: Path) -> None:
    """The exchange root a link: clear and remove_box touch nothing behind it."""
    victim = tmp_path / "victim"
    (victim / "20260101-000000-aaa1").mkdir(parents=True)
    (victim / "20260101-000000-aaa1" / "keep").write_text("mine")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / ".exchange").symlink_to(victim)
    run_dir = tmp_path / "runs" / "20260101-000000-aaa1"
    exchange.clear(run_dir)
    assert exchange.remove_box(run_dir) is False
    assert (victim / "20260101-000000-aaa1" / "keep").read_text() == "mine"


def test_the_junit_copy_cap_is_the_readers_cap() -> None:
    """Spelled again so readers never load the XML parser: the same number as the reader's."""
    from envctl.report.junit import JUNIT_CAP  # noqa: PLC0415

    assert exchange.JUNIT_COPY_CAP == JUNIT_CAP


@pytest.mark.parametrize(("content", "expected"), [
    ('{"started": 1765100000.25}', 1765100000.25),
    ('{"started": 1765100000}', 1765100000.0),
    ('{"started": true}', None),
    ('{"started": "soon"}', None),
    ('{"started": Infinity}', None),
    ("[1765100000]", None),
    ("not json", None),
])
def test_the_runners_clock_start_is_a_time_or_nothing(run_dir: Path, content: str,
                                                      expected: float | None) -> None:
    """clock.json's start as a float; anything else the container wrote is no time at all."""
    (box(run_dir) / "clock.json").write_text(content)
    assert exchange.runner_clock(run_dir) == expected


def test_the_runners_clock_file_is_not_followed(run_dir: Path, tmp_path: Path) -> None:
    """Missing: none; a link to a host file: none (never opened)."""
    assert exchange.runner_clock(run_dir) is None
    elsewhere = tmp_path / "clock"
    elsewhere.write_text('{"started": 1.0}')
    (box(run_dir) / "clock.json").symlink_to(elsewhere)
    assert exchange.runner_clock(run_dir) is None
