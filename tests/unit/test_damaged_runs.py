"""A damaged run.json is an error naming the run, and is skipped everywhere else (item 7)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from envctl.errors import DamagedRunError, ExitCode
from envctl.runs import lifecycle
from envctl.runs.rotation import rotate
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import RunStore

GOOD = "20260101-000001-aaaa"
BAD = "20260101-000002-bbbb"


def good_record(run_id: str = GOOD) -> RunRecord:
    return RunRecord(id=run_id, project="p", service="test", command=["pytest"], limits=Limits(1, 1.0, 1),
                     state=RunState.PASSED, created_at=time.time(), pytest_exit=0)


@pytest.mark.parametrize("content", [b"[]", b'{"id": "2026', b"\xff\xfe\x00", b"{}", b'{"id": "../x"}',
                                     b'{"id": "20260101-000002-bbbb", "project": "p", "service": "t", '
                                     b'"command": [], "limits": {"memory": 1, "cpus": "nan", "pids": 1}}',
                                     b'{"id": "20260101-000002-bbbb", "project": "p", "service": "t", '
                                     b'"command": [], "limits": {"memory": 1, "cpus": 1, "pids": 1}, '
                                     b'"children": ["../../etc"]}',
                                     b'{"id": "20260101-000002-bbbb", "project": "p", "service": "t", '
                                     b'"command": [], "limits": {"memory": 1, "cpus": 1, "pids": 1}, '
                                     b'"created_at": null}',
                                     b'{"id": "20260101-000002-bbbb", "project": "p", "service": "t", '
                                     b'"command": [], "limits": {"memory": 1, '
                                     b'"cpus": 1' + b"0" * 400 + b', "pids": 1}}',
                                     b'{"id": "20260101-000002-bbbb", "project": "p", "service": "t", '
                                     b'"command": [], "limits": {"memory": 1, "cpus": 1, "pids": 1}, '
                                     b'"message": null}'])
def test_damaged_content(tmp_path: Path, content: bytes) -> None:
    """Not a record: DamagedRunError naming the run, exit 19."""
    (tmp_path / BAD).mkdir()
    (tmp_path / BAD / "run.json").write_bytes(content)
    with pytest.raises(DamagedRunError, match=BAD) as caught:
        RunRecord.load(tmp_path / BAD)
    assert caught.value.exit_code == ExitCode.RUN_DAMAGED


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    """A FIFO or a link to /dev/zero as run.json is damaged, read at once."""
    (tmp_path / BAD).mkdir()
    if kind == "fifo":
        os.mkfifo(tmp_path / BAD / "run.json")
    else:
        (tmp_path / BAD / "run.json").symlink_to("/dev/zero")
    with pytest.raises(DamagedRunError, match=BAD):
        RunRecord.load(tmp_path / BAD)


def test_store_names_damaged_runs_and_skips_them(tmp_path: Path) -> None:
    """scan() lists the damaged run by id; records(), latest() and rotation skip it."""
    store = RunStore(tmp_path)
    lifecycle.save(store.create(GOOD), good_record())
    store.create(BAD)
    (tmp_path / BAD / "run.json").write_text("[]")
    records, damaged = store.scan()
    assert [r.id for _p, r in records] == [GOOD]
    assert len(damaged) == 1
    assert BAD in damaged[0].message
    assert store.latest() == GOOD
    assert rotate(store, keep=0, max_age=0) == []  # the latest is kept; the damaged one is skipped
    assert (tmp_path / BAD).exists()
