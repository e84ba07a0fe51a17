"""Rotation keeps the last N runs, drops old ones, and never a running run or the latest; an
exchange folder the host cannot remove is purged, or tried again next time."""

import shutil
import time
from pathlib import Path

import pytest

from envctl.errors import EngineUnavailableError
from envctl.runs import exchange, lifecycle
from envctl.runs.rotation import rotate
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import RunStore


def make(store: RunStore, stamp: str, state: RunState, created: float) -> str:
    run_id = f"20260101-{stamp}-abcd"
    path = store.create(run_id)
    lifecycle.save(path, RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                                   limits=Limits(1, 1.0, 1), state=state, created_at=created))
    return run_id


def test_keep_n_newest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Five finished runs, keep 3: the two oldest go."""
    store = RunStore(tmp_path)
    now = time.time()
    ids = [make(store, f"00000{i}", RunState.PASSED, now) for i in range(5)]
    assert rotate(store, keep=3, max_age=86400, now=now) == ids[:2]
    assert store.ids() == ids[2:]


def test_running_and_latest_are_never_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A running run survives keep=1 and max age; so does the latest."""
    store = RunStore(tmp_path)
    old = time.time() - 10 * 86400
    running = make(store, "000001", RunState.RUNNING, old)
    make(store, "000002", RunState.FAILED, old)
    latest = make(store, "000003", RunState.PASSED, old)
    rotate(store, keep=1, max_age=86400)
    assert store.ids() == [running, latest]


def test_max_age(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Runs past the max age go even when under the count."""
    store = RunStore(tmp_path)
    now = time.time()
    old = make(store, "000001", RunState.PASSED, now - 3 * 86400)
    make(store, "000002", RunState.PASSED, now)
    make(store, "000003", RunState.PASSED, now)
    assert rotate(store, keep=10, max_age=86400, now=now) == [old]


def make_shards(store: RunStore, stamp: str, state: RunState, created: float, *, shards: list[str],
                listed: tuple[str, ...] = ()) -> str:
    """A --shards parent with its own ``shards`` (stamps; each naming it) and ``listed`` runs of
    another parent (as a --shards resume lists the shards that ended by themselves)."""
    parent = make(store, stamp, state, created)
    own = []
    for shard_stamp in shards:
        child = make(store, shard_stamp, state, created)
        record = RunRecord.load(store.path(child))
        record.parent = parent
        lifecycle.save(store.path(child), record)
        own.append(child)
    for child in [*own, *listed]:
        lifecycle.add_child(store.path(parent), child)
    return parent


def test_a_shard_a_kept_resume_lists_stays_with_it(tmp_path: Path) -> None:
    """A --shards run and its resume, keep 1: the first parent and the shard it resumed go; the
    shard that ended by itself, which the resume's parent lists, stays."""
    store = RunStore(tmp_path)
    now = time.time()
    first = make_shards(store, "000001", RunState.CANCELLED, now, shards=["000002", "000003"])
    cut, ended_itself = RunRecord.load(store.path(first)).children
    resume = make_shards(store, "000004", RunState.PASSED, now, shards=["000005"], listed=(ended_itself,))
    assert rotate(store, keep=1, max_age=86400, now=now) == [first, cut]
    assert store.ids() == [ended_itself, resume, "20260101-000005-abcd"]
    assert [RunRecord.load(store.path(c)).id for c in RunRecord.load(store.path(resume)).children] == [
        "20260101-000005-abcd", ended_itself]


def test_a_listed_shard_goes_once_every_parent_listing_it_goes(tmp_path: Path) -> None:
    """Both parents past keep: the listed shard goes with them, once."""
    store = RunStore(tmp_path)
    now = time.time()
    first = make_shards(store, "000001", RunState.CANCELLED, now, shards=["000002"])
    (shard,) = RunRecord.load(store.path(first)).children
    resume = make_shards(store, "000004", RunState.PASSED, now, shards=[], listed=(shard,))
    latest = make(store, "000009", RunState.PASSED, now)
    assert rotate(store, keep=1, max_age=86400, now=now) == [first, shard, resume]
    assert store.ids() == [latest]


def _with_stuck_box(store: RunStore, run_id: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The run's exchange folder holds a tree a non-root container left, which the host user
    cannot remove (faked: unit tests run as root)."""
    box = exchange.box(store.root / run_id)
    exchange.create_dirs(store.root / run_id)
    (box / "tmp" / "pytest-of-app").mkdir(parents=True)
    real = exchange.remove_tree

    def refused(path: str) -> None:
        if Path(path).is_relative_to(box):
            raise PermissionError(13, "Permission denied", path)
        real(path)

    monkeypatch.setattr(exchange, "remove_tree", refused)
    return box


def test_a_box_the_host_cannot_remove_goes_through_the_purge(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The run goes; its exchange folder, which the host could not remove, is handed to the
    purge (root through the engine), which removes it."""
    store = RunStore(tmp_path)
    now = time.time()
    old = make(store, "000001", RunState.PASSED, now)
    make(store, "000002", RunState.PASSED, now)
    box = _with_stuck_box(store, old, monkeypatch)
    handed: list[list[Path]] = []

    def purge(root: Path, boxes: list[Path]) -> list[Path]:
        handed.append(boxes)
        shutil.rmtree(boxes[0])  # root in the helper removes anything
        return []

    assert rotate(store, keep=1, max_age=86400, now=now, purge=purge) == [old]
    assert (handed, box.exists()) == ([[box]], False)


def test_a_purge_that_fails_never_fails_rotation_and_is_tried_again(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No engine now: the run is removed all the same and its folder stays, an orphan; the next
    rotation (nothing else to remove) hands it to the purge again."""
    store = RunStore(tmp_path)
    now = time.time()
    old = make(store, "000001", RunState.PASSED, now)
    latest = make(store, "000002", RunState.PASSED, now)
    box = _with_stuck_box(store, old, monkeypatch)
    handed: list[list[Path]] = []

    def no_engine(_root: Path, boxes: list[Path]) -> list[Path]:
        handed.append(boxes)
        raise EngineUnavailableError("the Docker engine does not answer")

    assert rotate(store, keep=1, max_age=86400, now=now, purge=no_engine) == [old]
    assert rotate(store, keep=1, max_age=86400, now=now, purge=no_engine) == []
    assert (store.ids(), handed, box.is_dir()) == ([latest], [[box], [box]], True)


def test_a_runs_start_never_starts_a_helper_and_leaves_the_orphan(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``purge`` (the rotation at `envctl test`'s start): the run goes, its folder stays an
    orphan, and no helper container is asked for (`envctl gc` purges it)."""
    from envctl.runs import leftovers  # noqa: PLC0415

    store = RunStore(tmp_path)
    now = time.time()
    old = make(store, "000001", RunState.PASSED, now)
    make(store, "000002", RunState.PASSED, now)
    box = _with_stuck_box(store, old, monkeypatch)
    asked: list[tuple[str, Path]] = []
    monkeypatch.setattr(leftovers, "purge_with_engine", lambda image, folder: asked.append((image, folder)))
    monkeypatch.setattr(leftovers, "run_images", lambda _log_dir: ["img"])
    assert rotate(store, keep=1, max_age=86400, now=now) == [old]
    assert (asked, box.is_dir()) == ([], True)
