"""What a run collected, and what a resumed run selects (stdlib only: loaded by envctl_progress
in the test container).

``collected_lines``: the node ids pytest collected (after every plugin selected), handed to the
host as ``tests`` events of at most ``IDS_PER_EVENT`` ids, so ``envctl test --resume`` knows the
tests that never started. At most ``IDS_CAP`` ids are written: the host sees the list is shorter
than the ``collected`` event's total and refuses to resume from it.

``select``: with ``ENVCTL_SELECT`` (a file in the run's read-only input folder the host wrote:
a JSON list of node ids), exactly those tests are kept, the rest deselected, before any shard
split. A node id is only ever compared, never handed to pytest as an argument. A selection that
cannot be read selects nothing: a resume must never run again what already ran.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

IDS_PER_EVENT = 500
EVENT_CHARS = 256 * 1024  # characters of ids in one event line (the host reads lines up to 1 MiB)
IDS_CAP = 1_000_000
SELECTION_CAP = 512 << 20  # bytes of a selection file (the host writes it; a cap all the same)

SELECT_VARIABLE = "ENVCTL_SELECT"


def collected_lines(nodeids: list[str]) -> Iterator[list[str]]:
    """``nodeids`` (up to IDS_CAP) in chunks, each small enough for one event line."""
    chunk: list[str] = []
    size = 0
    for nodeid in nodeids[:IDS_CAP]:
        if chunk and (len(chunk) >= IDS_PER_EVENT or size + len(nodeid) > EVENT_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(nodeid)
        size += len(nodeid)
    if chunk:
        yield chunk


def read_selection(path: str) -> set[str]:
    """The node ids of a selection file; none when it cannot be read as a list of strings."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(SELECTION_CAP + 1)
        data = json.loads(raw) if len(raw) <= SELECTION_CAP else None
    except (OSError, ValueError, RecursionError):
        return set()
    if not isinstance(data, list):
        return set()
    return {item for item in data if isinstance(item, str)}


def select(config: Any, items: list[Any], path: str) -> list[Any]:
    """The items a resume runs (those named in ``path``); the others reported deselected."""
    wanted = read_selection(path)
    selected = [item for item in items if item.nodeid in wanted]
    deselected = [item for item in items if item.nodeid not in wanted]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    return selected


def selection_path() -> str:
    return os.environ.get(SELECT_VARIABLE, "")
