"""Log rotation: keep the last N runs, drop runs past the max age, never a running or the latest."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from envctl.runs.exchange import remove_box
from envctl.runs.store import RunStore


def rotate(store: RunStore, *, keep: int, max_age: float, now: float | None = None) -> list[str]:
    """Remove old finished runs; return the ids removed."""
    now = time.time() if now is None else now
    every = store.records()
    # Shard runs follow their --shards parent: kept with it, removed with it.
    records = [(p, r) for p, r in every if r.parent is None]
    children = {r.id: [(p, c) for p, c in every if c.parent == r.id] for _p, r in records}
    if not records:
        return []
    latest = records[-1][1].id
    removed: list[str] = []
    kept = 0
    for path, record in reversed(records):  # newest first
        active = not record.state.terminal or any(not c.state.terminal for _p, c in children[record.id])
        too_old = now - record.created_at > max_age
        if record.id == latest or active or (kept < keep and not too_old):
            kept += 1
            continue
        for child_path, child in children[record.id]:
            _remove(child_path)
            removed.append(child.id)
        _remove(path)
        removed.append(record.id)
    return sorted(removed)


def _remove(path: Path) -> None:
    remove_box(path)
    shutil.rmtree(path, ignore_errors=True)
