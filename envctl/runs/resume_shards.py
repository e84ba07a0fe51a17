"""The resume of a --shards run: a new parent whose shards are, in order, each first shard's
resume (its own remainder, in an isolated project of its own, as a shard of the new parent) or,
for a shard that ended by itself, that shard as it ended. Its one collector collects the new
shards and finishes the parent as any --shards parent's (runs/parent.py): the shards' reports
merged (a resumed shard's is its whole share of the suite), its state from decide_parent."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from envctl.files import read_regular, write_private
from envctl.runs import lifecycle
from envctl.runs.ids import new_run_id
from envctl.runs.launch import prepare_run
from envctl.runs.resume import Plan, ShardsPlan
from envctl.runs.spawn import spawn_collector
from envctl.runs.state import RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, START_FILE, RunStore, take_collector_lock
from envctl.settings import Settings

START_CAP = 1 << 20


def start(settings: Settings, resume: ShardsPlan) -> tuple[Path, RunRecord]:
    """Create the new parent, prepare each resumed shard under it, and hand them all to one
    collector (as `start_shards` does)."""
    first = resume.first
    plans = [shard for shard in resume.shards if isinstance(shard, Plan)]
    store = RunStore(settings.resolved_log_dir)
    parent_id = new_run_id()
    parent_dir = store.create(parent_id)
    parent_fd = take_collector_lock(parent_dir)  # held until the collector takes it
    now = time.time()
    parent = lifecycle.create(parent_dir, RunRecord(
        id=parent_id, project=first.project, service=first.service, command=list(first.command),
        limits=first.limits, state=RunState.RUNNING, created_at=now, started_at=now,
        timeout=plans[0].request.timeout, resumes=first.id,
        message=f"{len(resume.shards)} shards; resumes run {first.id} ({len(plans)} of them cut short)"))
    # The first parent's durations and history files, as its starter's settings had them.
    write_private(parent_dir / START_FILE, read_regular(resume.first_dir / START_FILE, START_CAP).decode())
    child_dirs: list[Path] = []
    try:
        for shard in resume.shards:
            if isinstance(shard, Plan):
                request = dataclasses.replace(shard.request, parent=parent_id)
                child_dir, child = prepare_run(shard.env, request, setup=shard.setup)
                child_dirs.append(child_dir)
                parent = lifecycle.add_child(parent_dir, child.id)
            else:
                parent = lifecycle.add_child(parent_dir, shard.id)  # ended by itself: kept as it is
    except BaseException:
        for child_dir in child_dirs:  # the parent then ends cancelled, never short of a shard
            (child_dir / CANCEL_FILE).touch(mode=0o600)
        spawn_collector(*child_dirs, parent=parent_dir, parent_fd=parent_fd)
        raise
    spawn_collector(*child_dirs, parent=parent_dir, parent_fd=parent_fd)
    return parent_dir, parent
