"""Log rotation: keep the last N runs, drop runs past the max age, never a running or the latest.

A run's exchange folder goes with it. One that the host user cannot remove (what a non-root test
container left) stays, an orphan, never forgotten: `envctl gc` purges it through the engine
(``leftovers``, given as ``purge``), and tries again each time until it works. The rotation at
a run's start gives no ``purge``: a run never waits on a helper container to start.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from envctl.errors import EnvctlError
from envctl.log import get_logger
from envctl.runs.exchange import orphan_boxes, remove_box
from envctl.runs.state import RunRecord
from envctl.runs.store import RunStore

Purge = Callable[[Path, list[Path]], list[Path]]  # (log dir, exchange folders) -> the ones left


def rotate(store: RunStore, *, keep: int, max_age: float, now: float | None = None,
           purge: Purge | None = None) -> list[str]:
    """Remove old finished runs; return the ids removed. ``purge``: removes the exchange folders
    the host could not (``leftovers.purge_boxes``, through the engine); None leaves them."""
    now = time.time() if now is None else now
    every = store.records()
    # Shard runs follow their --shards parent: kept with it, removed with it. A parent's shards
    # are those naming it and those it lists: a --shards resume's parent lists the first
    # parent's shards that ended by themselves, which still name the first parent; while one
    # parent that lists a shard is kept, so is the shard.
    records = [(p, r) for p, r in every if r.parent is None]
    children = {r.id: [(p, c) for p, c in every if c.parent == r.id or c.id in r.children]
                for _p, r in records}
    gone: list[tuple[Path, RunRecord]] = []
    kept = 0
    latest = records[-1][1].id if records else None
    for path, record in reversed(records):  # newest first
        active = not record.state.terminal or any(not c.state.terminal for _p, c in children[record.id])
        too_old = now - record.created_at > max_age
        if record.id == latest or active or (kept < keep and not too_old):
            kept += 1
            continue
        gone.append((path, record))
    leaving = {record.id for _p, record in gone}
    listed = {child for _p, r in records if r.id not in leaving for child in r.children}
    removed: list[str] = []
    for path, record in gone:
        for child_path, child in children[record.id]:
            if child.id not in listed and child.id not in removed:
                _remove(child_path)
                removed.append(child.id)
        _remove(path)
        removed.append(record.id)
    _purge_orphans(store.root, purge)
    return sorted(removed)


def _remove(path: Path) -> None:
    remove_box(path)  # one that stays is an orphan once its run is gone: purged below
    shutil.rmtree(path, ignore_errors=True)


def _purge_orphans(root: Path, purge: Purge | None) -> None:
    """The exchange folders whose run is gone (this rotation's, and any earlier one could not
    remove), through ``purge`` if given; what stays is tried again by the next `envctl gc`."""
    orphans = orphan_boxes(root)
    if not orphans:
        return
    left = orphans
    try:
        left = orphans if purge is None else purge(root, orphans)
    except (EnvctlError, OSError) as exc:  # rotation runs before every test run: it never fails one
        get_logger("envctl.rotation").warning("exchange folders not purged", error=str(exc))
    if left:
        get_logger("envctl.rotation").warning(
            "exchange folders the host user cannot remove are left for `envctl gc` to purge",
            folders=[str(path) for path in left])
