"""Log rotation: keep the last N runs, drop runs past the max age, never a running or the latest."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from envctl.runs.store import RunStore


def rotate(store: RunStore, *, keep: int, max_age: float, now: float | None = None) -> list[str]:
    """Remove old finished runs; return the ids removed."""
    now = time.time() if now is None else now
    records = store.records()
    if not records:
        return []
    latest = records[-1][1].id
    removed: list[str] = []
    kept = 0
    for path, record in reversed(records):  # newest first
        protected = record.id == latest or not record.state.terminal
        too_old = now - record.created_at > max_age
        if protected or (kept < keep and not too_old):
            kept += 1
            continue
        _remove(path)
        removed.append(record.id)
    return sorted(removed)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
