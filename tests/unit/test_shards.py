"""Sharding: the plugin's split (every test exactly once, deterministic, balanced by durations
or by file), and the host's --shards runs (runs/shards.py) on a fake environment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from envctl.docker.models import ServiceSpec
from envctl.env import environment as environment_module
from envctl.pytest_plugin.envctl_shards import parse_shard, split
from envctl.runs import exchange, launch, lifecycle, shards
from envctl.runs.launch import RunRequest
from envctl.runs.outcome import EndFacts
from envctl.runs.placement import EnginePlace
from envctl.runs.state import Counts, Limits, RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, START_FILE
from envctl.settings import Settings
from tests.unit.fake_engine import FakeEnvironment

if TYPE_CHECKING:
    from envctl.env.environment import Environment

NODEIDS = [f"tests/test_{f}.py::test_{i}" for f in "abcdefg" for i in range(1 + ord(f) % 5)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 40])
def test_every_test_exactly_once(n: int) -> None:
    """The shards partition the collected tests."""
    shards = split(NODEIDS, n)
    flat = [t for shard in shards for t in shard]
    assert sorted(flat) == sorted(NODEIDS)
    assert len(shards) == n


def test_deterministic() -> None:
    """The same input gives the same split, whatever the order of the durations mapping."""
    durations = {n: (i % 7) / 10 for i, n in enumerate(NODEIDS)}
    reversed_durations = dict(reversed(list(durations.items())))
    assert split(NODEIDS, 3, durations) == split(NODEIDS, 3, reversed_durations)


def test_without_durations_files_stay_together() -> None:
    """No durations: each file is on one shard."""
    for shard in split(NODEIDS, 3):
        for nodeid in shard:
            file = nodeid.split("::")[0]
            assert all(other in shard for other in NODEIDS if other.startswith(file + "::"))


def test_durations_balance_time() -> None:
    """With durations the slowest shard is within 10% of the mean on a realistic spread."""
    nodeids = [f"t.py::test_{i}" for i in range(200)]
    durations = {n: 0.1 + (i % 13) * 0.05 for i, n in enumerate(nodeids)}
    shards = split(nodeids, 4, durations)
    loads = [sum(durations[n] for n in shard) for shard in shards]
    assert max(loads) / (sum(loads) / 4) <= 1.1


def test_unknown_tests_get_the_median_duration() -> None:
    """New tests without a recorded duration still land somewhere."""
    shards = split(["a::1", "a::2", "b::new"], 2, {"a::1": 5.0, "a::2": 1.0})
    assert sorted(t for s in shards for t in s) == ["a::1", "a::2", "b::new"]


def test_empty_shards_are_allowed() -> None:
    """More shards than tests: some shards are empty."""
    assert [len(s) for s in split(["a::1"], 3)] == [1, 0, 0]


@pytest.mark.parametrize(("text", "expected"), [("1/1", (1, 1)), ("2/4", (2, 4))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    """K/N with 1 <= K <= N."""
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "x/2", "2", "1/2/3"])
def test_parse_shard_rejects(text: str) -> None:
    """Anything else is a ValueError."""
    with pytest.raises(ValueError, match=r"shard|K must"):
        parse_shard(text)


def test_fewer_files_than_shards_splits_by_test() -> None:
    """One file, four shards, no durations: the tests are spread, not all on one shard."""
    nodeids = [f"tests/test_io.py::test_{i}" for i in range(200)]
    assert [len(s) for s in split(nodeids, 4)] == [50, 50, 50, 50]


# ---- `envctl test --shards N`: the parent run and its shards (fake environment, no collector) ----

S1, S2, PARENT = "20260101-000000-aaa1", "20260101-000000-aaa2", "20260101-000000-aaa0"
@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A project in tmp_path on a local engine, its environment faked, its test service plain."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(environment_module, "Environment", FakeEnvironment)
    monkeypatch.setattr(FakeEnvironment, "spec", ServiceSpec(
        name="test", image="img", build_context=None, dockerfile=None, has_healthcheck=False,
        restart="no", depends_on={}, ports=()))
    return Settings(project_dir=tmp_path, log_dir=tmp_path / "runs")


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[tuple[Path, ...], Path | None]]]:
    """What would have started the one collector: the shards' dirs and the parent's (its lock closed)."""
    calls: list[tuple[tuple[Path, ...], Path | None]] = []

    def spawn(*run_dirs: Path, parent: Path | None = None, parent_fd: int | None = None) -> bool:
        calls.append((run_dirs, parent))
        if parent_fd is not None:
            os.close(parent_fd)
        return True

    monkeypatch.setattr(shards, "spawn_collector", spawn)
    yield calls


def test_start_shards_makes_a_parent_and_one_isolated_run_per_shard(
        settings: Settings, spawned: list[tuple[tuple[Path, ...], Path | None]]) -> None:
    """N shard runs, each `--shard k/N` in a throwaway project of its own, and one collector for all."""
    parent_dir, parent = shards.start_shards(settings, RunRequest(pytest_args=("-x",)), 2)
    assert (parent.state, parent.message, parent.project) == (RunState.RUNNING, "2 shards", "p")
    children = shards.children_of(parent, parent_dir.parent)
    assert [(c.shard, c.parent, c.isolated, c.state) for _d, c in children] == \
        [("1/2", parent.id, True, RunState.STARTING), ("2/2", parent.id, True, RunState.STARTING)]
    assert [c.project.rsplit("-", 1)[0] for _d, c in children] == ["p-s1", "p-s2"]
    assert spawned == [(tuple(d for d, _c in children), parent_dir)]
    assert shards.durations_file_of(parent_dir) == settings.resolved_durations_file


def test_shards_on_engines_record_where_each_runs(
        settings: Settings, spawned: list[tuple[tuple[Path, ...], Path | None]]) -> None:
    """With engines, each shard's record (and the start file its collector reads) names its
    engine, the shares go by CPUs, and the parent says how many each engine took."""
    engines = [EnginePlace("default", "unix:///var/run/docker.sock", 4),
               EnginePlace("e2", "unix:///run/e2/docker.sock", 2)]
    parent_dir, parent = shards.start_shards(settings, RunRequest(), 3, engines=engines)
    assert parent.message == "3 shards on default (2), e2 (1)"
    children = shards.children_of(parent, parent_dir.parent)
    assert [(c.shard, c.engine, c.engine_name) for _d, c in children] == [
        ("1/3", "unix:///var/run/docker.sock", "default"), ("2/3", "unix:///var/run/docker.sock", "default"),
        ("3/3", "unix:///run/e2/docker.sock", "e2")]
    env, _request = launch.environment_from_file(children[2][0])
    assert (env.engine, env.engine_name) == ("unix:///run/e2/docker.sock", "e2")


def test_a_start_interrupted_cancels_the_shards_made_so_far(
        settings: Settings, spawned: list[tuple[tuple[Path, ...], Path | None]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while making shard 2: shard 1 is cancelled and still handed to a collector."""
    made: list[Path] = []
    real = launch.prepare_run

    def prepare(env: Environment, request: RunRequest) -> tuple[Path, RunRecord]:
        if made:
            raise KeyboardInterrupt
        run_dir, record = real(env, request)
        made.append(run_dir)
        return run_dir, record

    monkeypatch.setattr(shards, "prepare_run", prepare)
    with pytest.raises(KeyboardInterrupt):
        shards.start_shards(settings, RunRequest(), 2)
    assert (made[0] / CANCEL_FILE).exists()
    assert [dirs for dirs, _parent in spawned] == [(made[0],)]


def _ended_shard(root: Path, run_id: str, shard: str, exit_code: int) -> RunRecord:
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    lifecycle.create(run_dir, RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                                        limits=Limits(1, 1.0, 1), shard=shard,
                                        counts=Counts(total=1, done=1, passed=1 - exit_code,
                                                      failed=exit_code)))
    return lifecycle.finish(run_dir, EndFacts(exit_code=exit_code))


def _parent(root: Path, children: list[str]) -> Path:
    parent_dir = root / PARENT
    parent_dir.mkdir(parents=True)
    lifecycle.create(parent_dir, RunRecord(id=PARENT, project="p", service="test", command=["pytest"],
                                           limits=Limits(1, 1.0, 1), state=RunState.RUNNING,
                                           children=children))
    return parent_dir


def test_combined_progress_adds_the_shards_and_lists_each(tmp_path: Path) -> None:
    """One progress of all shards, with a line per shard naming its state and counts."""
    root = tmp_path / "runs"
    _ended_shard(root, S1, "1/2", 0)
    running_dir = root / S2
    running_dir.mkdir()
    exchange.create_dirs(running_dir)
    lifecycle.create(running_dir, RunRecord(id=S2, project="p", service="test", command=[],
                                            limits=Limits(1, 1.0, 1), shard="2/2", state=RunState.RUNNING))
    (exchange.box(running_dir) / "progress.json").write_text(json.dumps(
        {"total": 4, "done": 1, "passed": 1, "current": "t.py::slow", "updated": 50.0}))
    parent = RunRecord.load(_parent(root, [S1, S2]))
    progress, lines = shards.combined_progress(parent, root)
    assert (progress.counts.total, progress.counts.done, progress.current, progress.updated) == \
        (4, 1, "t.py::slow", 50.0)
    assert lines == [f"shard 1/2 {S1}: passed, 0/? done, 0 failed",  # no snapshot, no output: unknown
                     f"shard 2/2 {S2}: running, 1/4 done, 0 failed  t.py::slow"]


def test_a_shards_line_names_its_engine(tmp_path: Path) -> None:
    """A shard placed on an engine says which, as the user named it."""
    root = tmp_path / "runs"
    run_dir = root / S1
    run_dir.mkdir(parents=True)
    lifecycle.create(run_dir, RunRecord(id=S1, project="p", service="test", command=[],
                                        limits=Limits(1, 1.0, 1), shard="1/1", state=RunState.RUNNING,
                                        engine="unix:///run/e2/docker.sock", engine_name="e2"))
    _progress, lines = shards.combined_progress(RunRecord.load(_parent(root, [S1])), root)
    assert lines == [f"shard 1/1 {S1} on e2: running, 0/? done, 0 failed"]


def test_combined_counts_leave_unknown_totals_unknown() -> None:
    """Counts add field by field; a total nobody knows stays counted from the known ones."""
    total = shards.combined_counts([Counts(total=2, done=2, passed=2), Counts(total=None, failed=1)])
    assert (total.total, total.done, total.passed, total.failed) == (2, 2, 2, 1)


@pytest.mark.parametrize("content", [None, "not json", "[1]", '{"durations_file": 3}'])
def test_no_durations_file_when_start_json_does_not_name_one(tmp_path: Path, content: str | None) -> None:
    """start.json missing, damaged or without a path: no durations are written."""
    if content is not None:
        (tmp_path / START_FILE).write_text(content)
    assert shards.durations_file_of(tmp_path) is None


SKIPPED_AT_COLLECTION: dict[str, object] = {
    "kind": "result", "nodeid": "t/test_gone.py", "outcome": "skipped", "when": "collect"}


def _with_events(root: Path, run_id: str, *events: dict[str, object]) -> None:
    """The shard's events as the plugin wrote them (a collector's result comes before "collected")."""
    exchange.create_dirs(root / run_id)
    (root / run_id / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_live_shards_count_a_module_they_all_skipped_once(tmp_path: Path) -> None:
    """While the shards run, each counts the module it skipped at collection (as pytest counts
    that shard), and the other shard's tests among its deselected; the parent's progress counts
    the module once, and the test -k left out of the 5 collected once."""
    root = tmp_path / "runs"
    for run_id, shard in ((S1, "1/2"), (S2, "2/2")):
        lifecycle.create(root / run_id, RunRecord(id=run_id, project="p", service="test", command=[],
                                                  limits=Limits(1, 1.0, 1), shard=shard,
                                                  state=RunState.RUNNING))
        _with_events(root, run_id, {"kind": "session", "path": "/src"}, SKIPPED_AT_COLLECTION,
                     {"kind": "collected", "total": 2},
                     {"kind": "result", "nodeid": "t/test_a.py::test_x", "outcome": "skipped"})
        (exchange.box(root / run_id) / "progress.json").write_text(json.dumps(
            {"total": 3, "done": 2, "passed": 0, "skipped": 2, "deselected": 3, "updated": 50.0}))
    parent = RunRecord.load(_parent(root, [S1, S2]))
    counts = shards.combined_progress(parent, root)[0].counts
    assert (counts.total, counts.done, counts.skipped, counts.deselected) == (5, 3, 3, 1)


def test_the_shards_count_what_the_whole_run_deselected() -> None:
    """-k left 8 of 10 tests and a module was skipped at collection (in each shard's total),
    split 5 and 3: each shard counts the other's tests among its deselected; the whole run's
    deselected are the 2 -k left out, as pytest would count them unsharded."""
    counts = [Counts(total=6, done=6, passed=5, skipped=1, deselected=5),
              Counts(total=4, done=4, passed=3, skipped=1, deselected=7)]
    whole = Counts(total=9, done=9, passed=8, skipped=1)
    assert shards.deselected_once(whole, counts) == 2


def test_deselected_is_unknown_until_every_shard_has_collected() -> None:
    """A shard that has not collected yet (no total): 0 deselected so far, never a guess."""
    counts = [Counts(total=5, deselected=5), Counts(total=None)]
    assert shards.deselected_once(Counts(total=5), counts) == 0
