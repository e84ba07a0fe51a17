"""The resume of a --shards run: its new parent, the resumed shards under it and the kept ones
(a fake environment; no collector is spawned)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.runs import lifecycle, resume, resume_shards
from envctl.runs.exchange import INPUT_DIR
from envctl.runs.remainder import SELECT_FILE
from envctl.runs.state import RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, START_FILE
from envctl.settings import Settings
from tests.unit.test_remainder import IDS
from tests.unit.test_resume import settings, shards_run

__all__ = ["settings"]  # the fake project's fixture, shared with the plan's own tests


def test_the_new_parent_holds_the_resumed_shard_and_the_kept_one(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new parent (running, naming the run it resumes, its start.json); shard 1/2 resumed under
    it with its selection, shard 2/2 kept as it ended; one collector for the new shard and the
    parent."""
    spawned: list[tuple[tuple[Path, ...], Path | None]] = []
    monkeypatch.setattr(resume_shards, "spawn_collector",
                        lambda *dirs, parent=None, parent_fd=None: spawned.append((dirs, parent)))
    first = shards_run(settings)
    plan = resume.plan(settings, first.id)
    assert isinstance(plan, resume.ShardsPlan)
    parent_dir, parent = resume_shards.start(settings, plan)
    assert (parent.state, parent.resumes, parent.children[1]) == \
        (RunState.RUNNING, first.id, first.children[1])
    child_dir = parent_dir.parent / parent.children[0]
    child = RunRecord.load(child_dir)
    assert (child.parent, child.resumes, child.shard) == (parent.id, first.children[0], "1/2")
    assert json.loads((child_dir / INPUT_DIR / SELECT_FILE).read_text()) == IDS[2:]
    first_start = settings.resolved_log_dir / first.id / START_FILE
    assert (parent_dir / START_FILE).read_text() == first_start.read_text()
    assert spawned == [((child_dir,), parent_dir)]


def test_a_start_cut_short_cancels_the_shards_made(settings: Settings,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted while preparing: the shards made so far are cancelled and collected, so the
    new parent ends cancelled rather than short of a shard."""
    spawned: list[tuple[Path, ...]] = []
    monkeypatch.setattr(resume_shards, "spawn_collector",
                        lambda *dirs, parent=None, parent_fd=None: spawned.append(dirs))
    first = shards_run(settings)
    plan = resume.plan(settings, first.id)
    assert isinstance(plan, resume.ShardsPlan)
    made: list[Path] = []

    def broken_add(parent_dir: Path, child_id: str) -> RunRecord:
        made.append(parent_dir.parent / child_id)
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle, "add_child", broken_add)
    with pytest.raises(KeyboardInterrupt):
        resume_shards.start(settings, plan)
    assert spawned == [tuple(made)]
    assert (made[0] / CANCEL_FILE).exists()
