"""Following a foreground `envctl test --shards N`: one line of combined progress as it changes."""

from __future__ import annotations

import sys
from pathlib import Path

from envctl import signals
from envctl.runs import control
from envctl.runs.progress import read_progress
from envctl.runs.shards import children_of, combined_counts
from envctl.runs.state import RunRecord


def follow_shards(parent_dir: Path) -> RunRecord:
    """Show combined progress until every shard has ended and is torn down and the parent is
    recorded. Ctrl-C stops every shard at once."""
    last = [""]

    def show(record: RunRecord) -> None:
        children = children_of(record, parent_dir.parent)
        counts = combined_counts(read_progress(child_dir).counts for child_dir, _c in children)
        states = ", ".join(f"{c.shard} {c.state.value}" for _d, c in children)
        line = (f"envctl: shards [{states}]: {counts.done}/{counts.total or '?'} done, "
                f"{counts.failed + counts.errors} failed")
        if line != last[0]:
            print(line, file=sys.stderr)
            last[0] = line

    try:
        return control.wait_for(parent_dir, cleaned=True, on_tick=show)
    except signals.INTERRUPTS:
        with signals.shielded():  # the request itself is never cut short
            control.request_stop(parent_dir)  # every shard's collector stops its container
        try:
            control.stop(parent_dir)  # every shard at once: interrupt, terminate, kill
        except signals.INTERRUPTS:
            print("envctl: not waiting for the stop; it goes on", file=sys.stderr)
        raise
