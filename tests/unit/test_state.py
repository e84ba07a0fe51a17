"""A run's record: counts as pytest names them, and records an older envctl wrote still load."""

from __future__ import annotations

import json
from pathlib import Path

from envctl.runs.state import Counts, RunRecord

RECORD = {"id": "20260101-000000-abcd", "project": "p", "service": "test", "command": ["pytest"],
          "limits": {"memory": 1, "cpus": 1.0, "pids": 1}, "state": "passed"}


def test_a_record_written_before_deselected_was_counted_loads_with_none(tmp_path: Path) -> None:
    """Counts without "deselected" (an older envctl's run.json): 0 deselected, the rest as written."""
    counts = {"total": 3, "done": 3, "passed": 3, "failed": 0, "skipped": 0, "errors": 0, "xfailed": 0,
              "xpassed": 0, "flaky": 0}
    (tmp_path / "run.json").write_text(json.dumps(RECORD | {"counts": counts}))
    assert RunRecord.load(tmp_path).counts == Counts(total=3, done=3, passed=3, deselected=0)


def test_deselected_is_kept_in_the_record(tmp_path: Path) -> None:
    """A record with deselected tests reads back with them."""
    (tmp_path / "run.json").write_text(json.dumps(RECORD | {"counts": {"total": 2, "done": 2, "passed": 2,
                                                                        "deselected": 5}}))
    assert RunRecord.load(tmp_path).counts.deselected == 5
